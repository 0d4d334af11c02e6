"""The real-data study's methods (studies/_study_methods.py): a method's own low-pass reaches
``respira train``."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from respira.training.recipe.recipe import parse_recipe

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import _study_methods as methods


@pytest.mark.parametrize("name", ["transfer_flagship", "transfer_common_band", "cnn_contrastive"])
def test_the_train_command_uses_the_methods_own_low_pass(name: str, tmp_path: Path) -> None:
    method = methods.METHODS[name]
    options = methods.train_options(method, tmp_path, "leave_one_device_out", 5, tmp_path / "encoder")
    _, data, _, _ = parse_recipe(methods.recipe_for(name, method, tmp_path), list(options))
    assert data.lowpass_cutoff == method.lowpass
    assert methods.METHODS["transfer_common_band"].lowpass == 2000  # the pre-specified band, not tuned
    other = replace(method, lowpass=1234.0)
    options = methods.train_options(other, tmp_path, "icbhi_to_kauh", 5, tmp_path / "encoder")
    assert parse_recipe(methods.recipe_for(name, other, tmp_path), list(options))[1].lowpass_cutoff == 1234


def test_a_low_pass_in_the_overrides_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Method\.lowpass"):
        methods.Method("x", "cnn_ce.yaml", ("--lowpass_cutoff", "2000"))


def test_a_method_with_another_corpus_trains_on_its_folder_and_is_kept_off_its_test(tmp_path: Path) -> None:
    method = methods.METHODS["transfer_with_kauh"]
    options = methods.train_options(method, tmp_path, "leave_one_device_out", 5, tmp_path / "encoder")
    recipe = methods.recipe_for("transfer_with_kauh", method, tmp_path)
    _, data, _, training = parse_recipe(recipe, list(options))
    assert data.corpora == "icbhi,kauh"
    assert json.loads(data.corpus_dirs) == {"kauh": str(tmp_path / "kauh")}
    assert training.mil_weight == 1.0
    assert not method.tests_on_its_training_data("leave_one_device_out")
    assert method.tests_on_its_training_data("icbhi_to_kauh")
    assert not methods.METHODS["transfer_flagship"].tests_on_its_training_data("icbhi_to_kauh")
    with pytest.raises(ValueError, match=r"Method\.corpora"):
        methods.Method("x", "cnn_ce.yaml", ("--corpora", "icbhi,kauh"))

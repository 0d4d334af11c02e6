"""benchmarks/real_data.py's training commands: a method's own low-pass reaches ``respira train``."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from respira.training.recipe import parse_recipe

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import real_data


@pytest.mark.parametrize("name", ["transfer_flagship", "transfer_common_band", "cnn_contrastive"])
def test_the_train_command_uses_the_methods_own_low_pass(name: str, tmp_path: Path) -> None:
    method = real_data.METHODS[name]
    options = real_data.train_options(method, tmp_path, "leave_one_device_out", 5, tmp_path / "encoder")
    _, data, _, _ = parse_recipe(real_data.recipe_for(name, method, tmp_path), list(options))
    assert data.lowpass_cutoff == method.lowpass
    assert real_data.METHODS["transfer_common_band"].lowpass == 2000  # the pre-specified band, not tuned
    other = replace(method, lowpass=1234.0)
    options = real_data.train_options(other, tmp_path, "icbhi_to_kauh", 5, tmp_path / "encoder")
    assert parse_recipe(real_data.recipe_for(name, other, tmp_path), list(options))[1].lowpass_cutoff == 1234


def test_a_low_pass_in_the_overrides_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Method\.lowpass"):
        real_data.Method("x", "cnn_ce.yaml", ("--lowpass_cutoff", "2000"))

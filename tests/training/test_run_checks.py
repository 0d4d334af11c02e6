"""A run's recipe checked as a whole before any work: the Hub push, the options of every shipped recipe
together."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from respira.cli import main
from respira.training.recipe import parse_recipe
from respira.training.run_checks import _check_combinations

from .conftest import TINY_RECIPE


def test_push_to_hub_offline_fails_before_any_work(
    synthetic_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(TINY_RECIPE))
    output = tmp_path / "run"
    code = main(["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
                 "--dataset_cache_dir", str(tmp_path / "cache"), "--push_to_hub", "true"])  # fmt: skip
    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith("respira train: error: --push_to_hub: cannot reach the Hugging Face Hub")
    assert "offline mode is enabled" in error and len(error.splitlines()) == 1
    assert not output.exists() and not (tmp_path / "cache").exists()


def test_push_to_hub_names_a_bad_repository_id(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(TINY_RECIPE))
    output = str(tmp_path / "r")
    code = main(["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", output,
                 "--push_to_hub", "true", "--hub_model_id", "not a//repo"])  # fmt: skip
    assert code == 2
    assert "--push_to_hub: 'not a//repo' is not a Hub repository id" in capsys.readouterr().err


@pytest.mark.parametrize(
    "recipe", sorted((Path(__file__).parents[2] / "recipes").glob("*.yaml")), ids=lambda path: path.name
)
def test_every_shipped_recipes_options_fit_together(recipe: Path) -> None:
    model, _, run, args = parse_recipe(recipe, ["--use_cpu", "true"])
    _check_combinations(model, run, args)  # metadata_contrastive.yaml's age_group: a key the batches carry

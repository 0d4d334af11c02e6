"""Recipes (YAML + CLI overrides) and `respira train` runs: seeds, schedules, output folder rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from respira.cli import main
from respira.models.respira.encoders import encoder_names
from respira.models.respira.labels import MULTI_LABEL
from respira.training.recipe import parse_recipe
from respira.training.seeds import summarize_seeds
from respira.training.training_args import parse_seeds

from .conftest import TINY_RECIPE


def _recipe(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({**TINY_RECIPE, **changes}))
    return path


def test_recipe_values_and_command_line_overrides(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, aux_loss="add", learning_rate=3e-4)
    model, data, run, args = parse_recipe(recipe, ["--learning_rate", "1e-4", "--aux_loss_weight=0.25"])
    assert args.learning_rate == 1e-4
    assert args.aux_loss_weight == 0.25
    assert args.aux_loss == "add"
    assert json.loads(model.encoder_config) == {"channels": [4, 8, 8, 16]}
    assert data.validation_size == 0.25 and run.schedule == "standard"


def test_unknown_recipe_keys_and_flags_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'learnin_rate' \(did you mean learning_rate\?\)"):
        parse_recipe(_recipe(tmp_path, learnin_rate=1e-3))
    with pytest.raises(ValueError, match=r"unrecognized arguments: --auxloss"):
        parse_recipe(_recipe(tmp_path), ["--auxloss", "add"])
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml"):
        parse_recipe(tmp_path / "nope.yaml")


def test_seeds_parse_and_summaries(tmp_path: Path) -> None:
    assert parse_seeds("0,1, 2", 7) == [0, 1, 2]
    assert parse_seeds(None, 7) == [7]
    with pytest.raises(ValueError, match="comma-separated integers"):
        parse_seeds("a,b", 0)
    with pytest.raises(ValueError, match=r"^seeds must lie in \[0, 2\*\*32 - 1\], got -1 in '0,-1'$"):
        parse_seeds("0,-1", 0)  # numpy refused it, naming no option
    with pytest.raises(ValueError, match=r"^seeds '0,2,0,2' repeat 0, 2: each seed trains once$"):
        parse_seeds("0,2,0,2", 0)
    assert parse_seeds([3, 2**32 - 1], 0) == [3, 2**32 - 1]
    summary = summarize_seeds({0: {"test_icbhi_score": 0.5}, 1: {"test_icbhi_score": 0.7}})
    assert summary["test_icbhi_score_mean"] == pytest.approx(0.6)
    assert summary["test_icbhi_score_std"] == pytest.approx(0.141421, rel=1e-4)
    assert summary["seeds"] == [0, 1]


def test_train_command_writes_a_complete_run(synthetic_corpus: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "run"
    code = main(
        ["train", str(_recipe(tmp_path, aux_loss="add")), "--data_dir", str(synthetic_corpus),
         "--output_dir", str(output), "--seeds", "0,1", "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "mean" in printed and "test score" in printed
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "metrics.json",
        "respira_run.json",
    ):
        assert (output / name).is_file(), name
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["seeds"] == [0, 1]
    assert {"test_icbhi_score_mean", "test_icbhi_score_std", "test_specificity_mean"} <= set(metrics)
    assert set(metrics["per_seed"]) == {"0", "1"}
    run = json.loads((output / "respira_run.json").read_text())
    assert run["selected_seed"] in (0, 1)
    assert set(run["data"]["split_sizes"]) == {"train", "validation", "test"}
    assert run["training"]["hyperparameters"]["aux_loss"] == "add"
    # an output folder that already holds a run is refused unless --overwrite
    code = main(
        ["train", str(_recipe(tmp_path)), "--data_dir", str(synthetic_corpus), "--output_dir", str(output)]
    )
    assert code == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (output / "model.safetensors").is_file()


def test_missing_data_dir_and_test_split_selection_are_refused(
    tmp_path: Path, synthetic_corpus, capsys
) -> None:
    assert main(["train", str(_recipe(tmp_path)), "--output_dir", str(tmp_path / "a")]) == 2
    assert "missing data_dir" in capsys.readouterr().err
    code = main(
        ["train", str(_recipe(tmp_path, validation_size=0.0)), "--data_dir", str(synthetic_corpus),
         "--output_dir", str(tmp_path / "b"), "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 2
    assert "needs a validation split" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_contrastive_two_stage_schedule(synthetic_corpus: Path, tmp_path: Path) -> None:
    output = tmp_path / "two_stage"
    code = main(
        ["train", str(_recipe(tmp_path, schedule="contrastive_two_stage", head_epochs=1, two_stage_rounds=2,
         head_learning_rate=0.01, per_device_train_batch_size=8, aux_loss_options={"num_negatives": 4})),
         "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0
    state = json.loads((output / "trainer_state.json").read_text())
    assert not any("aux_loss" in entry for entry in state["log_history"])  # the saved state is the head stage
    assert json.loads((output / "config.json").read_text())["freeze_encoder"] is True
    assert json.loads((output / "respira_run.json").read_text())["training"]["head_learning_rate"] == 0.01


@pytest.mark.parametrize(
    "recipe", sorted(Path(__file__).parents[2].glob("recipes/*.yaml")), ids=lambda p: p.name
)
def test_every_shipped_recipe_parses(recipe: Path) -> None:
    model, _, _, args = parse_recipe(recipe)
    assert model.encoder in encoder_names()
    assert args.output_dir


def test_multi_label_thresholds_are_tuned_on_validation_and_saved(
    synthetic_corpus: Path, tmp_path: Path
) -> None:
    output = tmp_path / "multilabel"
    code = main(
        ["train", str(_recipe(tmp_path, problem_type=MULTI_LABEL)),
         "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "crackle", "1": "wheeze"}
    thresholds = config["decision_thresholds"]
    assert len(thresholds) == 2 and all(0 < t < 1 for t in thresholds)
    run = json.loads((output / "respira_run.json").read_text())
    assert run["data"]["synthetic"] is True
    assert "synthetic" in (output / "README.md").read_text().lower()

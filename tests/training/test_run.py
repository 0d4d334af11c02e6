"""Recipes (YAML + CLI overrides) and `respira train` runs: seeds, schedules, output folder rules; runs that
fail safely (issue 10): validate first, write last, one writer per folder.

* a bad option is refused before any dataset is built or folder created, and never touches an old run;
* a run trains in a staging folder and replaces ``--output_dir`` only when it succeeded, so a failure
  leaves nothing behind and its corrected retry is never blocked;
* a second run into a folder being written is refused with one line naming the holder;
* ``report_to`` integrations are checked up front (tensorboard and wandb are extras).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from respira.cli import main
from respira.models.respira.encoders import encoder_names
from respira.models.respira.labels import MULTI_LABEL
from respira.training import run as run_module
from respira.training.cross_validation import summarize_seeds
from respira.training.recipe import parse_recipe
from respira.training.training_args import parse_seeds

from .conftest import TINY_RECIPE


def _recipe(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "recipe.yaml"
    options = {**TINY_RECIPE, **changes}
    path.write_text(yaml.safe_dump({key: value for key, value in options.items() if value is not None}))
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


def test_train_command_writes_a_complete_run(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "run"
    code = main(
        ["train", str(_recipe(tmp_path, aux_loss="add")), "--data_dir", str(synthetic_corpus),
         "--output_dir", str(output), "--seeds", "0,1", "--dataset_cache_dir", str(dataset_cache)]
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


def test_contrastive_two_stage_schedule(synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path) -> None:
    output = tmp_path / "two_stage"
    code = main(
        ["train", str(_recipe(tmp_path, schedule="contrastive_two_stage", head_epochs=1, two_stage_rounds=2,
         head_learning_rate=0.01, per_device_train_batch_size=8, aux_loss_options={"num_negatives": 4})),
         "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(dataset_cache)]
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
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path
) -> None:
    output = tmp_path / "multilabel"
    code = main(
        ["train", str(_recipe(tmp_path, problem_type=MULTI_LABEL)),
         "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(dataset_cache)]
    )  # fmt: skip
    assert code == 0
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "crackle", "1": "wheeze"}
    thresholds = config["decision_thresholds"]
    assert len(thresholds) == 2 and all(0 < t < 1 for t in thresholds)
    run = json.loads((output / "respira_run.json").read_text())
    assert run["data"]["synthetic"] is True
    assert "synthetic" in (output / "README.md").read_text().lower()


def _train(recipe: Path, corpus: Path, output: Path, cache: Path, *flags: str) -> int:
    return main(
        ["train", str(recipe), "--data_dir", str(corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(cache), *flags]
    )  # fmt: skip


def _line(recipe: Path, key: str) -> int:
    return next(n for n, text in enumerate(recipe.read_text().splitlines(), 1) if text.startswith(f"{key}:"))


@pytest.fixture(scope="module")
def finished_run(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A finished two-step run (read-only: copy it before changing it)."""
    root = tmp_path_factory.mktemp("finished")
    assert _train(_recipe(root), synthetic_corpus, root / "run", dataset_cache) == 0
    return root / "run"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------- cases 1 and 2
BAD_OPTIONS = {
    "aux_loss-typo": ({"aux_loss": "adx"}, "aux_loss", "unknown auxiliary loss 'adx'"),
    "aux_loss_options-unknown-key": (
        {"aux_loss": "supcon", "aux_loss_options": {"tempurature": 0.1}},
        "aux_loss",
        "unknown option(s) ['tempurature']",
    ),
    "negative-learning_rate": (
        {"learning_rate": -0.001},
        "learning_rate",
        "learning_rate must be a number >= 0, got -0.001",
    ),
    "list-learning_rate": (
        {"learning_rate": [0.1]},
        "learning_rate",
        "argument --learning_rate: invalid float value: '[0.1]'",
    ),
    "zero-batch": (
        {"per_device_train_batch_size": 0},
        "per_device_train_batch_size",
        "per_device_train_batch_size must be a whole number >= 1, got 0",
    ),
    "head_dropout": (
        {"head_dropout": 1.5},
        "head_dropout",
        "head_dropout must be a number in [0, 1), got 1.5",
    ),
    "schedule": ({"schedule": "x"}, "schedule", "schedule='x' is not one of standard, contrastive_two_stage"),
    "sampler-loss-mismatch": (
        {"aux_loss": "contrastive_tuple"},
        None,
        "aux_loss=contrastive_tuple needs batches of [anchors, positives]",
    ),
    "pooling": (
        {"pooling": "max"},
        None,
        "error: invalid model options: pooling='max' is not one of mean, cls_distill",
    ),
    "pooling-without-cls": (
        {"pooling": "cls_distill"},
        None,
        "error: invalid model options: pooling='cls_distill' needs the AST encoder's CLS tokens",
    ),
}


@pytest.mark.parametrize("name", list(BAD_OPTIONS))
def test_a_bad_option_fails_before_any_work_naming_its_line(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    changes, key, message = BAD_OPTIONS[name]
    recipe = _recipe(tmp_path, **changes)
    output, cache = tmp_path / "runs" / "x", tmp_path / "cache"
    assert _train(recipe, synthetic_corpus, output, cache) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert message in error
    if key is not None:
        assert f"{recipe}:{_line(recipe, key)}: " in error
    assert not (tmp_path / "runs").exists()  # no output folder, not even its parent
    assert not cache.exists()  # no dataset was built


def test_a_bad_option_with_overwrite_leaves_the_finished_run_untouched(
    finished_run: Path, synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 1: `--overwrite` with a typo in aux_loss used to delete the old run, then fail."""
    import shutil

    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    before = _snapshot(run)
    recipe = _recipe(tmp_path, aux_loss="adx")
    assert _train(recipe, synthetic_corpus, run, tmp_path / "cache", "--overwrite", "true") == 2
    assert "unknown auxiliary loss 'adx'" in capsys.readouterr().err
    assert _snapshot(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml", "run"]


def test_a_run_failing_during_training_leaves_nothing_and_its_retry_succeeds(
    finished_run: Path,
    synthetic_corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case 2 (late failures): staging is removed, an old run is kept, the corrected retry is not blocked."""
    import shutil

    original = run_module.run_seed

    def failing_run_seed(*args, **kwargs):
        original(*args, **kwargs)  # a seed trains (checkpoints written), then something fails
        raise RuntimeError("simulated failure after training")

    recipe = _recipe(tmp_path)
    cache = tmp_path / "cache"
    fresh = tmp_path / "new" / "deeper" / "x"
    monkeypatch.setattr(run_module, "run_seed", failing_run_seed)
    assert _train(recipe, synthetic_corpus, fresh, cache) == 2
    assert "simulated failure after training" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # the parents it created are gone too

    old = Path(shutil.copytree(finished_run, tmp_path / "old"))
    before = _snapshot(old)
    assert _train(recipe, synthetic_corpus, old, cache, "--overwrite", "true") == 2
    assert _snapshot(old) == before  # --overwrite replaces the old run only on success
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "old", "recipe.yaml"]

    monkeypatch.setattr(run_module, "run_seed", original)
    assert _train(recipe, synthetic_corpus, fresh, cache) == 0
    assert (fresh / "model.safetensors").is_file() and (fresh / "seed_42").is_dir()
    assert _train(recipe, synthetic_corpus, old, cache, "--overwrite", "true") == 0
    assert _snapshot(old) != before
    assert sorted(p.name for p in fresh.parent.iterdir()) == ["x"]  # no staging folder, no lock left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "new", "old", "recipe.yaml"]


def test_the_finished_run_holds_no_staging_paths(finished_run: Path) -> None:
    from respira.training.run_folder import staging_folder

    staging = staging_folder(finished_run).name
    for state in finished_run.rglob("trainer_state.json"):
        assert staging not in state.read_text(), state
    assert json.loads((finished_run / "trainer_state.json").read_text())["best_model_checkpoint"].startswith(
        str(finished_run)
    )


# -------------------------------------------------------------------------------------------- case 4
def _holder(folder: Path) -> subprocess.Popen:
    """A live process holding ``folder``'s lock (``.<name>.lock`` beside it) until its stdin closes."""
    code = (
        "import sys; sys.argv = ['respira', 'train', 'other.yaml']; "  # a respira process: registers no model
        "from respira.utils.locking import FolderLock; "
        f"lock = FolderLock({str(folder)!r}).acquire(); print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def _lock_file(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.lock")


def test_a_second_run_into_a_folder_being_written_is_refused_naming_the_holder(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "runs" / "x"
    holder = _holder(output)
    try:
        assert _train(_recipe(tmp_path), synthetic_corpus, output, dataset_cache) == 2
    finally:
        holder.kill()  # killed: its lock file stays behind, its lock goes with it
        holder.wait()
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"{output.absolute()} is being written by another respira run (pid {holder.pid} on " in error
    assert "respira train other.yaml" in error
    assert not output.exists() and _lock_file(output).exists()  # the holder's lock is left alone

    # the holder is gone now: its lock is stale and the next run takes it over
    assert _train(_recipe(tmp_path), synthetic_corpus, output, dataset_cache) == 0
    assert f"took over the lock of {output.absolute()} left by a run that is gone (pid {holder.pid} on " in (
        capsys.readouterr().out
    )
    assert not _lock_file(output).exists() and (output / "model.safetensors").is_file()


def test_folder_lock_refuses_a_second_writer_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    from respira.utils.locking import FolderLock, FolderLockedError, is_held, lock_file

    folder = tmp_path / "x"
    with FolderLock(folder) as lock:
        assert lock_file(folder).read_text().startswith(f"pid {os.getpid()} on ")
        assert is_held(folder)
        with pytest.raises(FolderLockedError, match=rf"pid {os.getpid()} on "):
            FolderLock(folder).acquire()  # a nested writer in the same process is refused too
        assert lock.took_over is None
    assert not lock_file(folder).exists() and not is_held(folder)

    lock_file(folder).write_text("pid 1 on a-dead-run, since then: respira train killed.yaml\n")
    assert not is_held(folder)  # a file no process has locked
    with FolderLock(folder) as lock:
        assert lock.took_over == "pid 1 on a-dead-run, since then: respira train killed.yaml"
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------------- case 9
def test_report_to_an_integration_that_is_not_installed_fails_first(
    synthetic_corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from transformers.integrations import integration_utils

    monkeypatch.setattr(integration_utils, "get_available_reporting_integrations", lambda: [])
    recipe = _recipe(tmp_path, report_to="tensorboard")
    assert _train(recipe, synthetic_corpus, tmp_path / "runs" / "x", tmp_path / "cache") == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "respira train: error: report_to tensorboard needs tensorboard, which is not installed: "
        "pip install 'respira[tensorboard]'"
    )
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()
    assert (
        _train(_recipe(tmp_path), synthetic_corpus, tmp_path / "r", tmp_path / "c", "--report_to", "wandb")
        == 2
    )
    assert "pip install 'respira[wandb]'" in capsys.readouterr().err
    assert (
        _train(
            _recipe(tmp_path), synthetic_corpus, tmp_path / "r", tmp_path / "c", "--report_to", "tensorbord"
        )
        == 2
    )
    assert "report_to 'tensorbord' is not one of" in capsys.readouterr().err


def test_tensorboard_and_wandb_are_extras() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert any(requirement.startswith("tensorboard") for requirement in extras["tensorboard"])
    assert any(requirement.startswith("wandb") for requirement in extras["wandb"])

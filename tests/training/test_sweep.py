"""`respira sweep`: options checked first, the Optuna study on disk and resumable, grids that resume,
and the summary (CSV, Markdown, plot) of every trial, best validation score first."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from respira.cli import main
from respira.commands.sweep import SEARCH_SPACE
from respira.training.run.sweep_folder import JOURNAL_FILE, STUDY_NAME, SWEEP_FILE

from .conftest import TINY_RECIPE


def _recipe(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({**TINY_RECIPE, **changes}))
    return path


def _sweep(recipe: Path, corpus: Path, output: Path, cache: Path, *flags: str) -> int:
    return main(
        ["sweep", str(recipe), *flags, "--data_dir", str(corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(cache)]
    )  # fmt: skip


def _summary(folder: Path) -> list[dict[str, str]]:
    with (folder / "sweep_summary.csv").open() as handle:
        return list(csv.DictReader(handle))


def _study(folder: Path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(folder / JOURNAL_FILE)))
    return optuna.load_study(study_name=STUDY_NAME, storage=storage)


def _check_summary(folder: Path, count: int, params: list[str]) -> list[dict[str, str]]:
    rows = _summary(folder)
    assert len(rows) == count
    assert [name for name in rows[0] if name in params] == params
    scores = [float(row["validation_icbhi_score"]) for row in rows if row["validation_icbhi_score"]]
    assert scores == sorted(scores, reverse=True)  # best first
    markdown = (folder / "sweep_summary.md").read_text()
    assert all(row["trial"] in markdown for row in rows)
    assert (folder / "sweep_summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return rows


def test_an_optuna_sweep_keeps_its_study_on_disk_and_resumes(
    synthetic_corpus: Path, tmp_path: Path, capsys
) -> None:
    optuna = pytest.importorskip("optuna")
    recipe = _recipe(tmp_path, aux_loss="add", save_strategy="no", load_best_model_at_end=False)
    output, cache = tmp_path / "optuna", tmp_path / "cache"
    assert _sweep(recipe, synthetic_corpus, output, cache, "--optuna_trials", "2") == 0, capsys.readouterr()
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("best validation ICBHI score")
    first = {trial.number: trial.params for trial in _study(output).trials}
    assert len(first) == 2 and all(
        set(p) == {"learning_rate", "weight_decay", "aux_loss_weight"} for p in first.values()
    )
    rows = _check_summary(output, 2, ["learning_rate", "weight_decay", "aux_loss_weight"])
    assert {row["state"] for row in rows} == {"complete"}

    # the same command again: nothing left to train
    assert _sweep(recipe, synthetic_corpus, output, cache, "--optuna_trials", "2") == 0
    assert "2 of 2 trials finished" in capsys.readouterr().out
    assert len(_study(output).trials) == 2

    # a trial killed mid-way (left RUNNING in the storage) runs again with its parameters; one more trial
    study = _study(output)
    study.enqueue_trial({"learning_rate": 0.003, "weight_decay": 0.0001, "aux_loss_weight": 0.5})
    killed = study.ask()
    for name, (low, high, log) in SEARCH_SPACE.items():  # what the trial's Trainer does first
        killed.suggest_float(name, low, high, log=log)
    assert _sweep(recipe, synthetic_corpus, output, cache, "--optuna_trials", "3") == 0, capsys.readouterr()
    assert f"trial {killed.number} was interrupted: it runs again" in capsys.readouterr().out
    trials = _study(output).trials
    assert {t.number: t.params for t in trials[:2]} == first  # the finished trials were not rerun
    assert trials[killed.number].state == optuna.trial.TrialState.FAIL
    rerun = [t for t in trials if t.user_attrs.get("rerun_of") == killed.number]
    assert len(rerun) == 1 and rerun[0].state == optuna.trial.TrialState.COMPLETE
    assert rerun[0].params == killed.params
    assert len([t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]) == 3
    rows = _check_summary(output, 4, ["learning_rate", "weight_decay", "aux_loss_weight"])
    assert rows[-1]["state"] == "interrupted, rerun" and rows[-1]["validation_icbhi_score"] == ""


def test_a_sweep_refuses_another_configurations_folder_before_training(
    synthetic_corpus: Path, tmp_path: Path, capsys
) -> None:
    pytest.importorskip("optuna")
    recipe = _recipe(tmp_path, save_strategy="no", load_best_model_at_end=False)
    output, cache = tmp_path / "optuna", tmp_path / "cache"
    assert _sweep(recipe, synthetic_corpus, output, cache, "--optuna_trials", "1") == 0, capsys.readouterr()
    capsys.readouterr()
    journal = (output / JOURNAL_FILE).read_bytes()
    code = _sweep(
        recipe, synthetic_corpus, output, cache, "--optuna_trials", "2", "--per_device_train_batch_size", "4"
    )
    assert code == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1
    assert f"output_dir {output} holds a sweep of another configuration" in error
    assert "per_device_train_batch_size=8 there, 4 here" in error
    assert (output / JOURNAL_FILE).read_bytes() == journal  # nothing trained, nothing recorded
    assert _sweep(recipe, synthetic_corpus, output, cache, "--grid", "learning_rate=0.1,0.2") == 2
    assert "it is a optuna sweep, this is a grid sweep" in capsys.readouterr().err


BAD_SWEEPS = {
    "unknown key": (["--grid", "learnin_rate=1,2"], "learnin_rate=1: unknown option(s) in the command line"),
    "bad value": (["--grid", "learning_rate=0.1,abc"], "learning_rate=abc:"),
    "repeated key": (["--grid", "seed=1", "--grid", "seed=2"], "seed is already given by another --grid"),
    "empty value": (["--grid", "seed=1,,2"], "every value must be given once and be non-empty"),
    "the sweep's own field": (["--grid", "output_dir=a,b"], "the sweep sets output_dir itself"),
    "both modes": (["--grid", "seed=1,2", "--optuna_trials", "2"], "not both"),
    "negative trials": (["--optuna_trials", "-2"], "--optuna_trials must be a positive number"),
    "optuna bad recipe value": (
        ["--optuna_trials", "2", "--learning_rate", "-1"],
        "learning_rate must be at least",
    ),
    "optuna overwrite": (["--optuna_trials", "2", "--overwrite", "true"], "--overwrite does not apply"),
}


@pytest.mark.parametrize("case", list(BAD_SWEEPS))
def test_bad_sweep_options_fail_in_one_line_before_anything_is_written(
    case: str, synthetic_corpus: Path, tmp_path: Path, capsys
) -> None:
    flags, message = BAD_SWEEPS[case]
    output, cache = tmp_path / "sweep", tmp_path / "cache"
    assert _sweep(_recipe(tmp_path), synthetic_corpus, output, cache, *flags) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and error.startswith("respira sweep: error: ") and message in error, (
        error
    )
    assert not output.exists() and not cache.exists()


def test_a_folder_that_is_not_a_sweep_is_refused(synthetic_corpus: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "mine"
    output.mkdir()
    (output / "notes.txt").write_text("the user's own file")
    code = _sweep(_recipe(tmp_path), synthetic_corpus, output, tmp_path / "cache", "--grid", "seed=1,2")
    assert code == 2
    assert f"output_dir {output} is not empty and holds no {SWEEP_FILE}" in capsys.readouterr().err
    assert [path.name for path in output.iterdir()] == ["notes.txt"]


def test_a_grid_sweep_skips_complete_runs_when_rerun(synthetic_corpus: Path, tmp_path: Path, capsys) -> None:
    recipe = _recipe(tmp_path)
    output, cache = tmp_path / "grid", tmp_path / "cache"
    grid = ["--grid", "learning_rate=0.001,0.01"]
    assert _sweep(recipe, synthetic_corpus, output, cache, *grid) == 0, capsys.readouterr()
    first = capsys.readouterr().out
    assert first.count("### learning_rate=") == 2
    table = first.strip().splitlines()[-4:-1]
    assert table[0].split()[:3] == ["run", "test", "Sp"]
    rows = _check_summary(output, 2, ["learning_rate"])
    assert {row["trial"] for row in rows} == {"learning_rate=0.001", "learning_rate=0.01"}
    assert all(row["state"] == "complete" and row["test_icbhi_score"] for row in rows)
    assert json.loads((output / SWEEP_FILE).read_text())["mode"] == "grid"

    kept = (output / "learning_rate=0.001" / "model.safetensors").stat().st_mtime_ns
    assert _sweep(recipe, synthetic_corpus, output, cache, *grid) == 0  # the same command: nothing to train
    again = capsys.readouterr().out
    assert "2 of 2 runs already complete" in again and "###" not in again

    # a run that did not finish (its folder is moved into place only on success) trains again; a new
    # value of the grid is added to the same sweep
    import shutil

    shutil.rmtree(output / "learning_rate=0.01")
    grid = ["--grid", "learning_rate=0.001,0.01,0.003"]
    assert _sweep(recipe, synthetic_corpus, output, cache, *grid) == 0
    out = capsys.readouterr().out
    assert "1 of 3 runs already complete" in out
    assert "### learning_rate=0.01\n" in out and "### learning_rate=0.003\n" in out
    assert "### learning_rate=0.001\n" not in out
    assert (output / "learning_rate=0.001" / "model.safetensors").stat().st_mtime_ns == kept
    _check_summary(output, 3, ["learning_rate"])

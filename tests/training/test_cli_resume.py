"""`respira train` killed with SIGKILL mid-epoch and resumed from the command line ends exactly like an
uninterrupted run (issue 10, case 3); tests/training/test_resume.py checks the same through the API."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from functools import partial
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import TrainerCallback

from respira.cli import main
from respira.training import RespiraTrainer
from respira.training.run_folder import THREADS_FILE
from respira.utils import threads

from ..forked import exit_status, fork_command
from .conftest import TINY_RECIPE

RUN_THREADS = 1
"""The reference and the killed run train on one thread; the resumed one is left to choose (see below)."""
KILL_AT_STEP = 4
"""The process kills itself (SIGKILL) as step 5 begins: checkpoint-3 is saved, epoch 1 is not over."""

RECIPE = {
    **{key: value for key, value in TINY_RECIPE.items() if key != "max_steps"},
    "num_train_epochs": 2,
    "learning_rate": 1e-3,
    "eval_strategy": "epoch",
    "save_strategy": "steps",
    "save_steps": 3,
    "load_best_model_at_end": False,
    "logging_steps": 1,
    "seed": 0,
    "aux_loss": "add",
    "batch_sampler": "contrastive_tuple",
    "augmentation": {"gain": {"db": [-6, 6], "probability": 0.8}, "white_noise": {"snr_db": [20, 30]}},
}


class _Kill(TrainerCallback):
    def __init__(self, kill: signal.Signals) -> None:
        self.kill = kill

    def on_step_begin(self, args, state, control, **kwargs) -> None:
        if state.global_step == KILL_AT_STEP:
            os.kill(os.getpid(), self.kill)


def _add_killer(kill: signal.Signals) -> None:
    """Every RespiraTrainer made from now on (in this process) sends it ``kill`` as step KILL_AT_STEP + 1
    begins."""
    original = RespiraTrainer.__init__

    def with_killer(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        self.add_callback(_Kill(kill))

    RespiraTrainer.__init__ = with_killer


def _killed(flags: list[str]) -> subprocess.CompletedProcess:
    """`respira train` ``flags`` in a fork of this process (respira already imported, unlike a fresh process:
    7 s less; a SIGKILL leaves no shutdown to test) that SIGKILLs itself as step KILL_AT_STEP + 1 begins;
    its exit status and streams."""
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder) / "out", Path(folder) / "err"
        pid = fork_command(flags, out, errors=err, before=partial(_add_killer, signal.SIGKILL))
        deadline = time.monotonic() + 600
        while (code := exit_status(pid, block=False)) is None:
            if time.monotonic() > deadline:  # a fork can deadlock on a lock another thread held
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked run did not end within 600 s")
            time.sleep(0.1)
        return subprocess.CompletedProcess(flags, code, out.read_text(), err.read_text())


def _termed(flags: list[str]) -> subprocess.CompletedProcess:
    """`respira train` ``flags`` in a fresh interpreter (its shutdown, exit handlers and threads, is part of
    a SIGTERM's) that SIGTERMs itself as step KILL_AT_STEP + 1 begins; its exit status and streams."""
    script = (
        "import signal, sys\n"
        "from tests.training.test_cli_resume import _add_killer, main\n"
        "_add_killer(signal.SIGTERM)\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(  # noqa: PLW1510
        [sys.executable, "-c", script, *flags],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _flags(root: Path, output: Path, *extra: str) -> list[str]:
    recipe, corpus, cache = root / "recipe.yaml", root / "corpus", root / "cache"
    return ["train", str(recipe), "--data_dir", str(corpus), "--output_dir", str(output),
            "--dataset_cache_dir", str(cache), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def experiment(synthetic_corpus: Path, dataset_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recipe, the corpus and the session's dataset cache, a reference run trained without interruption,
    and a run killed mid-epoch."""
    root = tmp_path_factory.mktemp("resume")
    (root / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))
    (root / "corpus").symlink_to(synthetic_corpus, target_is_directory=True)
    (root / "cache").symlink_to(dataset_cache, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:  # both runs on one thread, whatever the machine's load
        patch.setenv(threads.ENV_VAR, str(RUN_THREADS))
        assert main(_flags(root, root / "reference")) == 0
        killed = _killed(_flags(root, root / "killed" / "x"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    return root


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def _assert_identical_runs(run: Path, reference: Path) -> None:
    reference_weights = _weights(reference)
    weights = _weights(run)
    assert weights.keys() == reference_weights.keys()
    for name, value in reference_weights.items():
        assert torch.equal(weights[name], value), name
    timing = ("runtime", "per_second")
    test = json.loads((run / "seed_0" / "test_results.json").read_text())
    expected_test = json.loads((reference / "seed_0" / "test_results.json").read_text())
    assert {k: v for k, v in test.items() if not k.endswith(timing)} == {
        k: v for k, v in expected_test.items() if not k.endswith(timing)
    }
    final = json.loads((run / "trainer_state.json").read_text())
    expected = json.loads((reference / "trainer_state.json").read_text())
    assert final["global_step"] == expected["global_step"]
    losses = [entry["loss"] for entry in final["log_history"] if "loss" in entry]
    assert losses == [entry["loss"] for entry in expected["log_history"] if "loss" in entry]


def test_the_killed_run_left_a_resumable_staging_folder_and_no_run(experiment: Path) -> None:
    killed = experiment / "killed"
    staging = killed / ".x.incomplete"
    assert not (killed / "x").exists()  # a half-written run never sits at --output_dir
    assert sorted(p.name for p in (staging / "seed_0").glob("checkpoint-*")) == ["checkpoint-3"]
    steps_per_epoch = (
        json.loads((experiment / "reference" / "trainer_state.json").read_text())["max_steps"] // 2
    )
    assert steps_per_epoch > KILL_AT_STEP  # killed in the middle of the first epoch
    assert (killed / ".x.lock").read_text().startswith("pid ")  # the dead process's lock file is still there


@pytest.mark.parametrize("how", ["last", "checkpoint-path"])
def test_resume_from_the_command_line_ends_with_the_uninterrupted_weights(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, monkeypatch
) -> None:
    # The automatic choice would now take 2 threads, and torch's sums differ in their last bits with 2:
    # the resumed run must take up the killed run's recorded count to end exactly like the reference.
    for name in (threads.ENV_VAR, "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_machine", lambda: (RUN_THREADS + 1, 0.0))
    assert threads.choose_num_threads().num_threads == RUN_THREADS + 1
    shutil.copytree(experiment / "killed", tmp_path / "runs", symlinks=True)
    target = tmp_path / "runs" / "x"
    if how == "last":  # the same command again, with --resume_from_checkpoint last; no --overwrite needed
        flags = _flags(experiment, target, "--resume_from_checkpoint", "last")
    else:  # the checkpoint's own run is resumed, whatever --output_dir says
        checkpoint = tmp_path / "runs" / ".x.incomplete" / "seed_0" / "checkpoint-3"
        flags = _flags(experiment, tmp_path / "elsewhere", "--resume_from_checkpoint", str(checkpoint))
    assert main(flags) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "took over the lock" in printed and "resuming checkpoint-3" in printed
    _assert_identical_runs(target, experiment / "reference")
    assert json.loads((target / THREADS_FILE).read_text()) == {
        "num_threads": RUN_THREADS,
        "source": threads.ENV_VAR,
    }
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["x"]  # no staging folder, no lock
    assert not (tmp_path / "elsewhere").exists()


def test_a_fresh_run_discards_the_interrupted_one_instead_of_being_blocked(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(experiment / "killed", tmp_path / "runs", symlinks=True)
    assert main(_flags(experiment, tmp_path / "runs" / "x", "--max_steps", "1")) == 0
    assert "discarding the interrupted run" in capsys.readouterr().out
    assert json.loads((tmp_path / "runs" / "x" / "trainer_state.json").read_text())["global_step"] == 1
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["x"]


def test_resume_errors_are_one_line(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_flags(experiment, tmp_path / "nothing", "--resume_from_checkpoint", "last")) == 2
    assert "no checkpoint to resume for" in capsys.readouterr().err
    assert main(_flags(experiment, tmp_path / "x", "--resume_from_checkpoint", str(experiment))) == 2
    assert "not a checkpoint (it has no trainer_state.json)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "nothing").exists()


def test_a_finished_run_trains_on_from_its_last_checkpoint(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Path(shutil.copytree(experiment / "reference", tmp_path / "run"))
    steps = json.loads((run / "trainer_state.json").read_text())["global_step"]
    flags = _flags(experiment, run, "--resume_from_checkpoint", "last", "--max_steps", str(steps + 1))
    assert main(flags) == 0, capsys.readouterr().err
    assert json.loads((run / "trainer_state.json").read_text())["global_step"] == steps + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize(
    ("content", "expected", "warning"),
    [
        ('{"num_threads": 3, "source": "automatic"}', 3, None),
        ('{"num_threads": 0}', None, "num_threads should be a whole number of at least 1, got 0"),
        (
            '{"source": "automatic"}',
            None,
            "num_threads should be a whole number of at least 1, got no such key",
        ),
        ("{", None, "not valid JSON"),
        ('{"num_threads": 999}', 4, "num_threads 999 is more than the 4 usable cores"),
        (None, None, None),
    ],
)
def test_the_recorded_thread_count_is_read_back_checked_and_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content, expected, warning
) -> None:
    monkeypatch.setattr(threads, "available_cpus", lambda quota=None: 4)
    if content is not None:
        (tmp_path / THREADS_FILE).write_text(content)
    if warning is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert threads.read_recorded_threads(tmp_path / THREADS_FILE) == expected
    else:
        with pytest.warns(UserWarning, match=re.escape(warning)) as caught:
            assert threads.read_recorded_threads(tmp_path / THREADS_FILE) == expected
        assert str(caught[0].message).startswith(f"{tmp_path / THREADS_FILE}: ")


def test_sigterm_keeps_the_run_and_prints_the_command_that_resumes_it(
    experiment: Path, tmp_path: Path
) -> None:
    """A scheduler's SIGTERM after a checkpoint: exit status 143, the last checkpoint named, and the
    printed command continues the run to the end."""
    output = tmp_path / "termed"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(threads.ENV_VAR, str(RUN_THREADS))
        termed = _termed(_flags(experiment, output, "--overwrite"))
    assert termed.returncode == 128 + signal.SIGTERM, termed.stderr[-3000:]
    staging = tmp_path / ".termed.incomplete"
    assert f"last checkpoint {staging / 'seed_0' / 'checkpoint-3'}" in termed.stdout
    (hint,) = [line for line in termed.stderr.splitlines() if line.startswith("resume with: ")]
    command = shlex.split(hint.removeprefix("resume with: "))
    assert command[:2] == ["respira", "train"] and command[-2:] == ["--resume_from_checkpoint", "last"]
    assert "--overwrite" not in command
    assert termed.stderr.splitlines()[-1] == "terminated (signal 15)"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(threads.ENV_VAR, str(RUN_THREADS))
        assert main(command[1:]) == 0
    assert not staging.exists()
    _assert_identical_runs(output, experiment / "reference")


@pytest.mark.parametrize("content", ["{nope", '{"num_threads": 999}'])
def test_a_resume_keeps_an_edited_thread_record_and_runs_once_it_is_moved_away(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch, content: str
) -> None:
    """The run folder's record lists threads.json's hash: an edited (damaged or absurd) one is not respira's
    to replace (issue 82, item 5), so the resume refuses in one line naming it and writes nothing; moved
    away, the resume runs and records the thread count it chose."""
    for name in (threads.ENV_VAR, "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "_machine", lambda: (1, 0.0))  # the automatic choice: 1 thread
    monkeypatch.setattr(threads, "available_cpus", lambda quota=None: 1)
    run = Path(shutil.copytree(experiment / "reference", tmp_path / "run"))
    (run / THREADS_FILE).write_text(content)
    steps = json.loads((run / "trainer_state.json").read_text())["global_step"]
    flags = _flags(experiment, run, "--resume_from_checkpoint", "last", "--max_steps", str(steps + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the damaged record's own warning
        assert main(flags) == 2
    error = capsys.readouterr().err
    assert f"{run / THREADS_FILE} was changed since respira wrote it" in error and "Traceback" not in error
    assert (run / THREADS_FILE).read_text() == content  # the user's file, as it was
    (run / THREADS_FILE).rename(tmp_path / "threads.moved.json")
    assert main(flags) == 0, capsys.readouterr().err
    assert json.loads((run / THREADS_FILE).read_text())["num_threads"] == 1
    assert torch.get_num_threads() == 1

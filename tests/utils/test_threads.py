"""The choice of torch's intra-op threads (respira.utils.threads); train, predict and evaluate apply it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from respira.utils import threads
from respira.utils.threads import (
    ENV_VAR,
    apply_num_threads,
    available_cpus,
    busy_cpus,
    cgroup_cpu_limit,
    choose_num_threads,
)


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without the overrides and leaves torch's thread count as it found it."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    with threadpool_limits(limits=None, user_api="blas"):  # restores the BLAS libraries' counts on exit
        yield
    torch.set_num_threads(before)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine of 4 usable cores, 1 of them busy with another process (no real measurement)."""
    monkeypatch.setattr(threads, "_machine", lambda: (4, 1.2))


# ----------------------------------------------------------------------------------------------
# the choice


def test_automatic_choice_subtracts_busy_cores_and_workers() -> None:
    assert choose_num_threads(cores=4, busy=0.0).num_threads == 4
    assert choose_num_threads(cores=4, busy=1.4).num_threads == 3  # a competitor holds about one core
    assert choose_num_threads(cores=4, busy=1.6, dataloader_workers=1).num_threads == 1
    assert choose_num_threads(cores=2, busy=1.0, dataloader_workers=2).num_threads == 1  # never 0
    assert choose_num_threads(cores=2, busy=7.0).num_threads == 1
    choice = choose_num_threads(cores=8, busy=2.0, dataloader_workers=2)
    assert (choice.num_threads, choice.source) == (4, "automatic")


def test_precedence_requested_then_env_then_omp_then_automatic() -> None:
    both = {ENV_VAR: "3", "OMP_NUM_THREADS": "5"}
    assert choose_num_threads(requested=2, environ=both, cores=8, busy=0).num_threads == 2
    assert choose_num_threads(environ=both, cores=8, busy=0).source == ENV_VAR
    assert choose_num_threads(environ=both, cores=8, busy=0).num_threads == 3
    omp = choose_num_threads(environ={"OMP_NUM_THREADS": "5"}, cores=8, busy=0)
    assert (omp.num_threads, omp.source) == (5, "OMP_NUM_THREADS")
    auto = choose_num_threads(environ={ENV_VAR: "auto"}, cores=8, busy=0, dataloader_workers=3)
    assert (auto.num_threads, auto.source) == (5, "automatic")


def test_a_resumed_run_keeps_its_count_unless_one_is_set_explicitly() -> None:
    resumed = choose_num_threads(resumed=1, environ={}, cores=8, busy=0)
    assert (resumed.num_threads, resumed.source) == (1, "resumed")  # not the automatic 8
    assert choose_num_threads(resumed=1, environ={ENV_VAR: "3"}, cores=8, busy=0).num_threads == 3
    assert choose_num_threads(resumed=1, requested=2, environ={}, cores=8, busy=0).num_threads == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_invalid_override_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=ENV_VAR):
        choose_num_threads(environ={ENV_VAR: value}, cores=2, busy=0)
    with pytest.raises(ValueError, match="at least 1"):
        choose_num_threads(requested=0)


def test_env_override_skips_the_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise AssertionError("measured although the number was given")

    monkeypatch.setattr(threads, "_machine", fail)
    assert choose_num_threads(environ={ENV_VAR: "1"}).num_threads == 1


def test_available_cpus_is_the_affinity_capped_by_the_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _pid: {0, 2, 5}, raising=False)
    assert available_cpus() == 3
    assert available_cpus(quota=1.5) == 1
    assert available_cpus(quota=0.3) == 1
    assert available_cpus(quota=16.0) == 3


# ----------------------------------------------------------------------------------------------
# what the machine reports


def _cgroup_files(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc_file = tmp_path / "proc_cgroup"
    proc_file.write_text(proc)
    return root, proc_file


def test_cgroup_v2_quota_of_the_process_group(tmp_path: Path) -> None:
    root, proc = _cgroup_files(
        tmp_path, "0::/jobs/one\n", {"jobs/one/cpu.max": "150000 100000\n", "cpu.max": "max 100000\n"}
    )
    assert cgroup_cpu_limit(root, proc) == 1.5
    root, proc = _cgroup_files(tmp_path / "b", "0::/\n", {"cpu.max": "max 100000\n"})
    assert cgroup_cpu_limit(root, proc) is None


def _stat(jiffies: dict[int, tuple[int, int, int]]) -> str:
    """/proc/stat text: per cpu (user, idle, steal) jiffies; the other fields 0."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for cpu, (user, idle, steal) in jiffies.items():
        lines.append(f"cpu{cpu} {user} 0 0 {idle} 0 0 0 {steal} 0 0")
    return "\n".join([*lines, "intr 12345", "ctxt 999"]) + "\n"


def test_busy_cpus_counts_the_non_idle_share_of_our_cpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stat = tmp_path / "stat"
    stat.write_text(_stat({0: (100, 100, 0), 1: (100, 100, 0), 2: (0, 0, 0)}))
    after = _stat({0: (200, 100, 0), 1: (125, 170, 5), 2: (10, 0, 0)})  # cpu0 all busy, cpu1 30 %

    monkeypatch.setattr(threads.time, "sleep", lambda _seconds: stat.write_text(after))
    assert busy_cpus({0, 1}, stat=stat) == pytest.approx(1.3)
    stat.write_text(_stat({0: (100, 100, 0), 1: (100, 100, 0), 2: (0, 0, 0)}))
    assert busy_cpus({1, 2}, stat=stat) == pytest.approx(1.3)  # cpu2 busy throughout
    assert busy_cpus({0}, stat=tmp_path / "missing") == 0.0


# ----------------------------------------------------------------------------------------------
# applying it


def test_apply_sets_torch_threads(machine: None) -> None:
    first = apply_num_threads(dataloader_workers=1)
    assert torch.get_num_threads() == first.num_threads == 2  # 4 cores - 1 busy - 1 worker
    apply_num_threads(requested=1)
    assert torch.get_num_threads() == 1


def test_apply_sets_the_blas_libraries_threads_with_torchs(machine: None) -> None:
    """numpy's and scipy's OpenBLAS, which fit-site's candidate heads run on, take the same count: left at
    a thread per core they collapse beside other work as torch's threads did."""
    import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS)

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    threadpool_limits(limits=4, user_api="blas")
    assert blas_threads() == {4}
    apply_num_threads(dataloader_workers=1)
    assert blas_threads() == {2} == {torch.get_num_threads()}
    apply_num_threads(requested=1)
    assert blas_threads() == {1}


class _StopError(Exception):
    """Raised by a patched step right after the thread choice should have been applied."""


def _stop(*_args, **_kwargs):
    raise _StopError


def _other_than_current() -> int:
    return 1 if torch.get_num_threads() != 1 else 2


def test_train_applies_the_choice_minus_its_dataloader_workers(
    machine: None, monkeypatch: pytest.MonkeyPatch, synthetic_corpus: Path, tmp_path: Path
) -> None:
    from respira.training import run as run_module
    from respira.training.recipe import parse_recipe

    monkeypatch.setattr(run_module, "load_folds", _stop)  # the first step after the choice
    torch.set_num_threads(3)
    parsed = parse_recipe(
        None,
        [
            "--data_dir",
            str(synthetic_corpus),
            "--output_dir",
            str(tmp_path / "run"),
            "--dataloader_num_workers",
            "2",
            "--report_to",
            "none",
            "--use_cpu",
            "true",
        ],
    )
    with pytest.raises(_StopError):
        run_module.run_training(*parsed, log=lambda *_: None)
    assert torch.get_num_threads() == 1  # 4 usable cores, 1 busy, 2 DataLoader workers


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_predict_and_evaluate_apply_the_override(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from respira import cli
    from respira.hub import loading, onnx

    for module in (loading, onnx):  # the model is loaded after the choice (predict's through onnx's import)
        monkeypatch.setattr(module, "load_model", _stop)
    wanted = _other_than_current()
    monkeypatch.setenv(ENV_VAR, str(wanted))
    (tmp_path / "model").mkdir()  # a folder: the name is read as one before anything loads
    argv = {
        "predict": ["predict", str(tmp_path / "model"), str(tmp_path / "a.wav")],
        "evaluate": ["evaluate", str(tmp_path / "model"), "--data_dir", str(tmp_path)],
    }[command]
    with pytest.raises(_StopError):
        cli.main(["--debug", *argv])  # --debug: the error propagates instead of becoming exit code 2
    assert torch.get_num_threads() == wanted


@pytest.mark.parametrize(("extra", "wanted"), [([], 1), (["--threads", "2"], 2)])
def test_fit_site_leaves_the_cores_other_processes_hold_unless_told(
    extra: list[str], wanted: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from respira import cli
    from respira.sites import choice

    # every core busy at start-up: every core (the default before) collapsed beside other work (issue 58,
    # item 10; docs/history/fit-site.md, "The wall time a user waits")
    monkeypatch.setattr(threads, "_machine", lambda: (3, 3.0))
    monkeypatch.setattr(choice, "check_selection", _stop)  # fit_site_folder checks after the choice
    torch.set_num_threads(1)
    argv = ["fit-site", "--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "out"), *extra]
    with pytest.raises(_StopError):
        cli.main(["--debug", *argv])
    assert torch.get_num_threads() == wanted

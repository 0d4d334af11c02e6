"""How many intra-op threads torch (and numpy's BLAS) runs with (docs/history/speed.md, "CPU threads
under contention"): ``requested``, else ``RESPIRA_NUM_THREADS`` (``auto``: automatic), else
``OMP_NUM_THREADS``, else the usable cores minus those other processes keep busy minus DataLoader workers.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "RESPIRA_NUM_THREADS"


@dataclass(frozen=True)
class ThreadChoice:
    """The number of intra-op threads and its ``source``."""

    num_threads: int
    source: str


def cgroup_cpu_limit(
    root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> float | None:
    """The CPU quota of this process's cgroup v2 in cores, or ``None`` when unlimited or unknown."""
    try:
        group = next(line[3:] for line in proc_cgroup.read_text().splitlines() if line.startswith("0::"))
    except (OSError, StopIteration):
        group = ""
    for candidate in (root / group.lstrip("/") / "cpu.max", root / "cpu.max"):
        try:
            quota, period = candidate.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        except (OSError, ValueError, ZeroDivisionError):
            continue
    return None


def available_cpus(quota: float | None = None) -> int:
    """Cores this process may run on: its CPU affinity, capped by a CPU ``quota`` (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def _cpu_times(stat: Path) -> dict[int, tuple[int, int]]:
    """``{cpu: (busy jiffies, all jiffies)}`` from ``/proc/stat``."""
    times = {}
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(value) for value in fields[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (sum(values) - values[3] - values[4], sum(values))
    return times


def busy_cpus(cpus: set[int] | None = None, seconds: float = 0.1, stat: Path = Path("/proc/stat")) -> float:
    """How many of ``cpus`` other processes kept busy over the next ``seconds`` (stolen time included)."""
    try:
        cpus = set(os.sched_getaffinity(0)) if cpus is None else cpus
        before = _cpu_times(stat)
        time.sleep(seconds)
        after = _cpu_times(stat)
    except (AttributeError, OSError, ValueError):
        return 0.0
    busy = 0.0
    for cpu in cpus & before.keys() & after.keys():
        elapsed = after[cpu][1] - before[cpu][1]
        if elapsed > 0:
            busy += (after[cpu][0] - before[cpu][0]) / elapsed
    return busy


@functools.cache
def _machine() -> tuple[int, float]:
    return available_cpus(cgroup_cpu_limit()), busy_cpus()


def choose_num_threads(
    *,
    dataloader_workers: int = 0,
    requested: int | None = None,
    resumed: int | None = None,
    environ: Mapping[str, str] | None = None,
    cores: int | None = None,
    busy: float | None = None,
) -> ThreadChoice:
    """The intra-op threads to run with (module docstring); ``resumed``, an interrupted run's count,
    replaces the automatic choice; ``cores`` and ``busy`` (both) decide without sampling."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"the number of threads must be at least 1, got {requested}")
        return ThreadChoice(requested, "requested")
    environ = os.environ if environ is None else environ
    for name in (ENV_VAR, "OMP_NUM_THREADS"):
        value = environ.get(name, "").strip()
        if value in ("", "auto"):
            continue
        if not value.isdigit() or int(value) < 1:
            also = " or 'auto'" if name == ENV_VAR else ""
            raise ValueError(f"{name} must be a positive integer{also}, got {value!r}")
        return ThreadChoice(int(value), name)
    if resumed is not None:
        return ThreadChoice(max(1, resumed), "resumed")
    if cores is None or busy is None:
        cores, busy = _machine()
    return ThreadChoice(max(1, cores - min(round(busy), cores) - dataloader_workers), "automatic")


def read_recorded_threads(path: str | Path) -> int | None:
    """The thread count a run recorded in ``path``, capped at the usable cores; ``None`` (a damaged file
    warns) without one."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        problem = f"not valid JSON ({error})"
    else:
        value = data.get("num_threads") if isinstance(data, dict) else None
        if not isinstance(value, bool) and isinstance(value, int) and value >= 1:
            cores = available_cpus(cgroup_cpu_limit())
            if value > cores:
                warnings.warn(
                    f"{path}: num_threads {value} is more than the {cores} usable cores; the run resumes "
                    f"with {cores} and records that",
                    stacklevel=2,
                )
            return min(value, cores)
        found = repr(value) if isinstance(data, dict) and "num_threads" in data else "no such key"
        problem = f"num_threads should be a whole number of at least 1, got {found}"
    warnings.warn(
        f"{path}: {problem}; ignored: the thread count is chosen again and the file rewritten", stacklevel=2
    )
    return None


def apply_num_threads(
    *, dataloader_workers: int = 0, requested: int | None = None, resumed: int | None = None
) -> ThreadChoice:
    """Choose and set torch's and the loaded BLAS libraries' threads; return the choice."""
    import torch
    from threadpoolctl import threadpool_limits

    choice = choose_num_threads(dataloader_workers=dataloader_workers, requested=requested, resumed=resumed)
    torch.set_num_threads(choice.num_threads)
    threadpool_limits(limits=choice.num_threads, user_api="blas")
    return choice

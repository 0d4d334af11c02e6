"""A pytest plugin: each test's CPU seconds (this process's and its waited-for children's, setup, call and
teardown together) and wall seconds, and the collection's, written as JSON to ``$RESPIRA_TEST_CPU_JSON`` at
the end of the session (and as each test ends, a line to that name + ``.lines``; a pytest-xdist worker to
that name + ``.gw0``, ``.gw1``...; the controlling process the session's wall time alone). Load it with
``-p _pytest_cpu`` and its folder on ``PYTHONPATH`` (benchmarks/cold_test.py does)."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import pytest

_TIMES: dict[str, dict[str, float]] = {}
_COLLECT: dict[str, float] = {}
_SESSION: dict[str, float] = {}


def cpu_seconds() -> tuple[float, float]:
    """(this process's CPU seconds, its waited-for children's)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def pytest_sessionstart(session: pytest.Session) -> None:
    _SESSION["start"] = time.perf_counter()
    _SESSION["startup_cpu"] = sum(cpu_seconds())


@pytest.hookimpl(hookwrapper=True)
def pytest_collection(session: pytest.Session):
    own, children = cpu_seconds()
    wall = time.perf_counter()
    yield
    after = cpu_seconds()
    _COLLECT.update(
        own=after[0] - own, children=after[1] - children, wall=time.perf_counter() - wall, startup=own
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    own, children = cpu_seconds()
    wall = time.perf_counter()
    yield
    after = cpu_seconds()
    _TIMES[item.nodeid] = {
        "own": after[0] - own,
        "children": after[1] - children,
        "wall": time.perf_counter() - wall,
    }
    target = os.environ.get("RESPIRA_TEST_CPU_JSON")
    if target:  # as it goes, one line a test, for a run stopped early
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        with Path(f"{target}.{worker}.lines" if worker else f"{target}.lines").open("a") as lines:
            lines.write(json.dumps({"test": item.nodeid, **_TIMES[item.nodeid]}) + "\n")


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("RESPIRA_TEST_CPU_JSON")
    if not target:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    own, children = cpu_seconds()
    outcome = {
        "worker": worker,
        "wall": time.perf_counter() - _SESSION["start"],
        "startup_cpu": _SESSION["startup_cpu"],
        "cpu": {"own": own, "children": children},
        "collection": _COLLECT,
        "tests": _TIMES,
    }
    Path(f"{target}.{worker}" if worker else target).write_text(
        json.dumps(outcome, indent=1), encoding="utf-8"
    )

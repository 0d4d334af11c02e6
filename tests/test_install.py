"""How the Makefile installs the environment ``make test`` runs in (``make install-dev``) and which tests
``make test`` and ``make test-slow`` run, read from the commands ``make -n`` prints for a venv that does not
exist yet (every step out of date); what ``.ci/run`` runs."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _planned(target: str, tmp_path: Path, **env: str) -> list[str]:
    """The commands ``make -n TARGET`` would run for a venv in ``tmp_path`` (recursive makes included)."""
    theirs = {"CXXFLAGS", "MAKEFLAGS", "MFLAGS", "RUN_SLOW"}
    environment = {k: v for k, v in os.environ.items() if k not in theirs}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", f"VENV={tmp_path / 'venv'}", target],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def _dev_install(lines: list[str]) -> str:
    [line] = [line for line in lines if '-e ".[dev]"' in line]
    return line


def test_the_dev_stack_s_source_build_has_no_debug_information_unless_you_say(tmp_path: Path) -> None:
    """sed-scores-eval-np2 (the events extra) is published as source only; its Cython build with Python's
    own flags (-O3 -g) was the dev stack's longest part. The install builds it at -O1 without debug
    information, keeping the defines Python's flags carry; a CXXFLAGS of the user's is used instead."""
    target = str(tmp_path / "venv" / ".installed-dev")
    ours = _dev_install(_planned(target, tmp_path))
    assert ours.startswith('export CXXFLAGS="-O1 -g0 -DNDEBUG -fwrapv";')
    assert "uv pip install" in ours and "pip install -q -e" in ours  # uv, and pip if uv fails: both see it
    yours = _dev_install(_planned(target, tmp_path, CXXFLAGS="-O2 -march=native"))
    assert yours.startswith('export CXXFLAGS="-O2 -march=native";')


def test_the_bytecode_is_written_beside_the_dev_stack_s_install(tmp_path: Path) -> None:
    """What respira imports is compiled by one python once respira is installed, not after the dev stack
    (whose longest part leaves a core idle), and writes its .pyc even where PYTHONDONTWRITEBYTECODE is set."""
    install_dev = _planned("install-dev", tmp_path)
    assert any(".bytecode" in line and "-j4" in line for line in install_dev)  # a job of its own
    bytecode = _planned(str(tmp_path / "venv" / ".bytecode"), tmp_path)
    assert any("torch==" in line for line in bytecode)  # after respira and its dependencies...
    assert not any(".[dev]" in line for line in bytecode)  # ...not after the dev stack
    [warm] = [line for line in bytecode if "build_parser()" in line]
    assert warm.startswith("PYTHONDONTWRITEBYTECODE= ") and "|| true" in warm


@pytest.mark.parametrize(
    ("target", "env", "selection"),
    [
        ("test", {}, ["-m", "not slow"]),
        ("test", {"RUN_SLOW": "1"}, []),
        ("test", {"RUN_SLOW": "yes"}, []),
        ("test", {"RUN_SLOW": "0"}, ["-m", "not slow"]),
        ("test-slow", {}, ["-m", "slow"]),
    ],
)
def test_make_test_leaves_the_slow_tests_to_make_test_slow_unless_run_slow(
    target: str, env: dict[str, str], selection: list[str], tmp_path: Path
) -> None:
    """transformers' convention: the slow tests run where RUN_SLOW says so; here make test-slow runs them."""
    [line] = [line for line in _planned(target, tmp_path, **env) if " -m pytest " in line]
    words = shlex.split(line)
    words = words[words.index("pytest") + 1 :]
    marks = words[words.index("-m") : words.index("-m") + 2] if "-m" in words else []
    assert marks == selection
    assert "-n" in words and "--dist" in words  # the same two workers either way


def test_ci_runs_the_slow_tests_too() -> None:
    steps = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert steps == ["make test", "make test-slow", "make docs"]


def test_make_test_runs_the_browser_attack_tests() -> None:
    """The labelling page against another site in chromium is a guard of patient data: never left to CI."""
    from tests.app import test_server_browser as module

    tests = [value for name, value in vars(module).items() if name.startswith("test_")]
    marks = [*getattr(module, "pytestmark", []), *(m for t in tests for m in getattr(t, "pytestmark", []))]
    assert tests and "slow" not in {mark.name for mark in marks}

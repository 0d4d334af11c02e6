"""How the Makefile installs the environment ``make test`` runs in (``make install-dev``), read from the
commands ``make -n`` prints for a venv that does not exist yet (every step out of date)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def _planned(target: str, tmp_path: Path, **env: str) -> list[str]:
    """The commands ``make -n TARGET`` would run for a venv in ``tmp_path`` (recursive makes included)."""
    environment = {k: v for k, v in os.environ.items() if k not in {"CXXFLAGS", "MAKEFLAGS", "MFLAGS"}}
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

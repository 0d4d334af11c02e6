"""How ``make test`` runs the suite on two pytest-xdist workers (Makefile, tests/conftest.py)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from transformers.utils import hub

ROOT = Path(__file__).resolve().parents[1]


def _make_test_command() -> list[str]:
    """The pytest command of ``make test``, its variables expanded (``make -n``)."""
    ours = {"MAKEFLAGS", "MFLAGS", "RUN_SLOW"}  # this run's make's, not the command's
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "test"],
        cwd=ROOT,
        env={key: value for key, value in os.environ.items() if key not in ours},
        capture_output=True,
        text=True,
        check=True,
    )
    [line] = [line for line in done.stdout.splitlines() if " -m pytest " in line]
    return shlex.split(line)


def test_make_test_keeps_a_test_file_on_one_worker_with_one_thread() -> None:
    """A docs page's blocks share a folder and a namespace, and the pages that launch
    ``recipes/accelerate/cpu_ddp.yaml`` its fixed port: every test file must run on one worker, in file
    order (``--dist loadfile``), and each worker's torch with one thread on the two-core machine."""
    command = _make_test_command()
    assert "pytest" in command and "-n" in command
    assert command[command.index("--dist") + 1] == "loadfile"
    assert "OMP_NUM_THREADS=1" in command
    from tests.docs.test_code_blocks import FIXED_PORT_CONFIGS, PAGES, docs_test_file

    launching = [
        page
        for page in PAGES
        if any(block.runs and config in block.code for block in page.blocks for config in FIXED_PORT_CONFIGS)
    ]
    assert len(launching) >= 2  # several-gpus.md and screen-an-archive.md: one file runs both
    assert {docs_test_file(page) for page in launching} == {"test_code_blocks.py"}
    assert len({docs_test_file(page) for page in PAGES}) == 3  # the other files share the docs' time


def test_each_session_loads_remote_code_into_its_own_modules_cache() -> None:
    """transformers copies a loaded folder's remote code into its modules cache without a lock: two workers
    (and a docs block's subprocess) must not share the user's ``~/.cache/huggingface/modules``."""
    cache = Path(os.environ["HF_MODULES_CACHE"])
    assert Path(hub.HF_MODULES_CACHE) == cache and cache.is_dir()
    assert cache.parent == Path(tempfile.gettempdir()) and cache.name.startswith("respira-tests-hf-modules-")


def test_make_test_writes_the_bytecode_of_what_it_imports() -> None:
    """Where PYTHONDONTWRITEBYTECODE is set (CI images, this project's machines) and nothing compiled the
    environment at install, every python a test started compiled torch and transformers anew: make test
    empties the variable, so the first process to import a module writes its .pyc for the others."""
    command = _make_test_command()
    assert "PYTHONDONTWRITEBYTECODE=" in command[: command.index("-m")]


def _cold_test() -> Any:
    """benchmarks/cold_test.py, loaded as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cold_test", ROOT / "benchmarks" / "cold_test.py")
    assert spec is not None and spec.loader is not None
    cold_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cold_test)
    return cold_test


def test_the_cold_test_estimate_deals_the_files_as_xdist_does() -> None:
    """pytest-xdist's ``--dist loadfile`` deals the files with the most tests first (``--loadscope-reorder``,
    its default), not in collection order: benchmarks/cold_test.py's estimate deals them so."""
    cold_test = _cold_test()
    times = {"own": 10.0, "children": 0.0, "wall": 10.0}
    worker = {  # a one-test file of 40 s first, then two files of 10 s tests
        "collection": {},
        "tests": {
            "tests/a.py::t": {**times, "own": 40.0},
            **{f"tests/b.py::t{i}": times for i in range(3)},
            **{f"tests/c.py::t{i}": times for i in range(2)},
        },
    }
    result = cold_test.summary({}, [worker])
    assert result["workers_dealt"] == [30.0, 60.0]  # b on one, c then a on the other (in order: 40 and 50)


def test_the_cold_test_keeps_a_failed_runs_tracebacks() -> None:
    """A failed make test's output: pytest's failures section (tracebacks) is kept even where the warnings
    summary and the docs' table after it are longer than what is kept; a passing run's end only."""
    cold_test = _cold_test()
    text = "collected\n" + "=" * 20 + " FAILURES " + "=" * 20 + "\nE   assert 1 == 2\n"
    text += "warning\n" * 5000 + "1 failed, 9 passed\n"
    kept = cold_test.kept_output(text, failed=True)
    assert kept.startswith("=" * 20 + " FAILURES") and "E   assert 1 == 2" in kept
    assert kept.endswith("1 failed, 9 passed\n") and len(kept) < 20100
    assert cold_test.kept_output(text, failed=False) == text[-2000:]


def test_the_controlling_process_imports_no_torch() -> None:
    """pytest-xdist's controlling process loads tests/conftest.py and runs no test, before it starts the
    workers: importing respira there (torch, transformers) delayed every worker's start by seconds."""
    heavy = "{'torch', 'transformers', 'respira'}"
    code = f"import sys, tests.conftest; print(sorted({heavy} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]"]


def test_make_test_compiles_librosa_s_kernels_unoptimised() -> None:
    """librosa compiles its numba kernels when its core is first loaded, once per fresh environment (the
    costliest single test of a cold run): make test asks LLVM for no optimisation, the same results."""
    command = _make_test_command()
    assert "NUMBA_OPT=0" in command[: command.index("-m")]

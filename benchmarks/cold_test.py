"""What ``make test`` pays for on a fresh clone (issue 85, item 6): the Makefile's steps in a new clone of
this repository's HEAD, each step's wall and CPU seconds (its processes' user + system time), and the test
suite's CPU seconds by file, with an estimate of its wall time on two quiet cores.

    python3 benchmarks/cold_test.py

Standard library only (any Python 3.10+, before anything is installed). It clones HEAD (commit first) into
``--work`` (``/tmp/respira-cold``, emptied; ``../shared`` linked beside the clone, as ``.ci/run`` expects),
with fresh pip, uv and npm caches and a fresh onnxruntime-web folder there, then runs one after another:
``make .venv/bin/python`` (the venv), ``make install-dev`` as ``make test`` runs it (uv, torch, torchcodec
and the package, then the dev stack, with apt's ffmpeg and chromium, nothing to pay where they are installed,
and npm's onnxruntime-web beside them), then ``make test`` (pytest as the
Makefile runs it, ``benchmarks/_pytest_cpu.py`` loaded in every worker: each test's CPU seconds) and ``make
lint``. ``--install-parts`` times the install's parts one after another instead (what each costs alone).
Writes ``--output`` (Markdown) and ``--json``.

A test's CPU seconds are its worker's own and its waited-for subprocesses' (setup, call and teardown), true
under any load; its wall seconds depend on the load. The estimate of ``make test`` on two quiet cores: the
test files' CPU seconds dealt to two workers in pytest-xdist's order (``--dist loadfile`` deals the files
with the most tests first), plus a worker's start-up and collection, plus the lint step (and, meaningful on
a quiet machine only, each file at its wall time where longer: the tests that wait). ``--tests-only``
re-runs the tests in ``--work``'s clone; ``--install-only`` runs the install steps alone; ``--make
VARIABLE=VALUE`` sets a make variable for every step (``--make TEST_WORKERS=1``: one pytest worker);
``--slow`` times ``make test-slow`` after them (what CI runs next; not in make test's total);
``--profile FILE`` takes the tests' part from the plugin's output of another run (``pytest -p no:xdist -p
_pytest_cpu`` under ``nice`` on a shared machine, say).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_name, load_average, short_commit

REPOSITORY = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RESPIRA_SHARED_DIR", REPOSITORY.parent / "shared"))
INSTALL_STEPS = (
    ("venv", ".venv/bin/python"),
    ("install-dev: the Python stack, apt and npm side by side", "install-dev"),
)
INSTALL_PARTS = (
    ("venv", ".venv/bin/python"),
    ("installer", ".venv/bin/uv"),
    ("torch, torchcodec, respira", ".venv/.installed"),
    ("dev stack", ".venv/.installed-dev"),
    ("apt: ffmpeg, chromium", "apt-deps"),
    ("npm: onnxruntime-web", "web-deps"),
)
WORKERS = 2
CPU_JSON = "RESPIRA_TEST_CPU_JSON"
SLOW_STEP = "make test-slow (CI's next step, not make test's)"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """``command``'s wall and CPU seconds (its waited-for processes'), exit status and what
    :func:`kept_output` keeps of its output."""
    cpu, wall = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return {
        "command": " ".join(command),
        "wall": round(time.perf_counter() - wall, 1),
        "cpu": round(children_cpu() - cpu, 1),
        "status": done.returncode,
        "output": kept_output(done.stdout + done.stderr, failed=done.returncode != 0),
    }


def kept_output(text: str, failed: bool) -> str:
    """The output's last 2,000 characters; a failed command's last 20,000, or where pytest printed its
    failures, that section's first 18,000 and the last 2,000 (the warnings summary and the docs' table
    would push the tracebacks out of the end)."""
    if not failed:
        return text[-2000:]
    found = text.find("= FAILURES =")
    if found < 0:
        return text[-20000:]
    failures = text[text.rfind("\n", 0, found) + 1 :]
    return failures if len(failures) <= 20000 else failures[:18000] + "\n[...]\n" + text[-2000:]


def fresh_clone(work: Path) -> tuple[Path, dict[str, str]]:
    """A clone of HEAD in ``work`` (emptied) with ../shared beside it, and the environment of its runs."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    clone = work / "respira"
    subprocess.run(["git", "clone", "-q", str(REPOSITORY), str(clone)], check=True)
    if SHARED.is_dir():
        (work / "shared").symlink_to(SHARED, target_is_directory=True)
    (work / "plugin").mkdir()
    shutil.copy(Path(__file__).with_name("_pytest_cpu.py"), work / "plugin")
    return clone, environment(work)


def environment(work: Path) -> dict[str, str]:
    """The clone's environment: fresh caches in ``work``, this plugin on the path, no PYTHONPATH of ours."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(
        PIP_CACHE_DIR=str(work / "cache" / "pip"),
        UV_CACHE_DIR=str(work / "cache" / "uv"),
        npm_config_cache=str(work / "cache" / "npm"),
        RESPIRA_ORT_WEB_DIR=str(work / "onnxruntime-web"),
        RESPIRA_SHARED_DIR=str(work / "shared"),
        **{CPU_JSON: str(work / "tests_cpu.json")},
        PYTHONPATH=str(work / "plugin"),
    )
    return env


def run_steps(
    clone: Path, env: dict[str, str], install: tuple[tuple[str, str], ...], tests: bool, settings: list[str],
    slow: bool = False,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Each Makefile step, in order (the ``install`` steps, then the tests with ``tests``, then ``make
    test-slow`` with ``slow``), make given ``settings`` (``VARIABLE=VALUE``)."""
    make = ["make", "--no-print-directory", *settings]
    steps: dict[str, dict[str, Any]] = {}
    for name, target in install:
        steps[name] = timed([*make, target], clone, env)
        steps[name]["paid"] = "installing" in steps[name]["output"] or "fetching" in steps[name]["output"]
        if not target.endswith("-deps"):
            steps[name]["paid"] = True
    if not tests:
        return steps
    for stale in Path(env[CPU_JSON]).parent.glob("tests_cpu.json*"):
        stale.unlink()
    steps["make test (pytest + lint)"] = timed([*make, "test", "PYTEST_ARGS=-p _pytest_cpu"], clone, env)
    steps["lint alone (make lint)"] = timed([*make, "lint"], clone, env)
    if slow:
        steps[SLOW_STEP] = timed([*make, "test-slow"], clone, env)
    return steps


def read_workers(target: Path) -> list[dict[str, Any]]:
    """The plugin's per-process files (one per pytest-xdist worker, or the one process)."""
    paths = sorted(target.parent.glob(f"{target.name}.gw*[0-9]")) or [target]
    if not any(path.is_file() for path in paths):  # a run stopped early: its lines
        return [_from_lines(path) for path in sorted(target.parent.glob(f"{target.name}*.lines"))]
    return [json.loads(path.read_text(encoding="utf-8")) for path in paths if path.is_file()]


def pytest_wall(target: Path) -> float | None:
    """The wall seconds of the pytest session that controlled the workers (None without one)."""
    if not target.is_file() or not list(target.parent.glob(f"{target.name}.gw*[0-9]")):
        return None
    return round(json.loads(target.read_text(encoding="utf-8"))["wall"], 1)


def _from_lines(path: Path) -> dict[str, Any]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return {"collection": {}, "tests": {row.pop("test"): row for row in rows}}


def by_file(workers: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """CPU (own + children) and wall seconds and the test count of each test file, in collection order."""
    files: dict[str, dict[str, float]] = defaultdict(lambda: {"cpu": 0.0, "wall": 0.0, "tests": 0})
    for worker in workers:
        for nodeid, times in worker["tests"].items():
            row = files[nodeid.split("::")[0]]
            row["cpu"] += times["own"] + times["children"]
            row["wall"] += times["wall"]
            row["tests"] += 1
    return dict(files)


def dealt(costs: list[float], workers: int = WORKERS) -> list[float]:
    """Each worker's total when ``costs`` (in order) go one by one to the worker free first."""
    totals = [0.0] * workers
    for cost in costs:
        totals[totals.index(min(totals))] += cost
    return totals


def summary(steps: dict[str, dict[str, Any]], workers: list[dict[str, Any]]) -> dict[str, Any]:
    """The parts' seconds, the files' and the estimate of ``make test`` on two quiet cores."""
    files = by_file(workers)
    order = sorted(files, key=lambda name: min(_first_index(w, name) for w in workers))
    order = xdist_order(order, files)
    cpu = [files[name]["cpu"] for name in order]
    waits = [max(files[name]["cpu"], files[name]["wall"]) for name in order]
    startup = max((w.get("startup_cpu", 0.0) + sum(w["collection"].get(k, 0.0) for k in ("own", "children"))
                   for w in workers), default=0.0)  # fmt: skip
    lint = steps.get("lint alone (make lint)", {}).get("wall", 0.0)
    return {
        "files": files,
        "collection_cpu": [round(w["collection"].get("own", 0.0), 1) for w in workers],
        "startup_and_collection": round(startup, 1),
        "tests": sum(int(row["tests"]) for row in files.values()),
        "tests_cpu": round(sum(row["cpu"] for row in files.values()), 1),
        "tests_wall_one_process": round(sum(row["wall"] for row in files.values()), 1),
        "workers_dealt": [round(total, 1) for total in dealt(cpu)],
        "estimate_two_quiet_cores": round(max(dealt(cpu), default=0.0) + startup + lint, 1),
        "estimate_with_waits": round(max(dealt(waits), default=0.0) + startup + lint, 1),
        "workers_wall": [round(w.get("wall", 0.0), 1) for w in workers],
    }


def xdist_order(order: list[str], files: dict[str, dict[str, float]]) -> list[str]:
    """``order`` as pytest-xdist deals it with ``--dist loadfile``: the files with the most tests first, ties
    kept in order (its ``--loadscope-reorder``, on by default)."""
    return sorted(order, key=lambda name: -files[name]["tests"])


def _first_index(worker: dict[str, Any], name: str) -> int:
    ids = list(worker["tests"])
    return next((i for i, nodeid in enumerate(ids) if nodeid.startswith(f"{name}::")), len(ids))


def report(steps: dict[str, dict[str, Any]], result: dict[str, Any], top: int) -> list[str]:
    """The results file's lines (the steps alone when no test ran)."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"<!-- {cpu_name()}, {os.cpu_count()} cores; load average {load_average()} (end); {stamp} -->"]
    if steps:
        lines += ["| step | wall (s) | CPU (s) | paid |", "| --- | --- | --- | --- |"]
    for name, step in steps.items():
        paid = "yes" if step.get("paid", True) else "no (already installed)"
        lines.append(f"| {name} | {step['wall']} | {step['cpu']} | {paid} |")
        if step.get("pytest wall"):
            lines.append(f"| of which pytest (its session's wall time) | {step['pytest wall']} | | |")
    counted = [step for name, step in steps.items() if name not in {"lint alone (make lint)", SLOW_STEP}]
    if counted:
        total = sum(step["wall"] for step in counted)
        lines.append(f"| all of the above but lint alone, one after another | {total:.1f} | | |")
    if not result["files"]:
        return lines
    startup = (
        f"{result['startup_and_collection']} s of CPU" if result["startup_and_collection"] else "not read"
    )
    lines += [
        *([""] if steps else []),
        f"pytest: start-up and collection {startup} per worker; the "
        f"{result['tests']} tests measured {result['tests_cpu']} s of CPU "
        f"({result['tests_wall_one_process']} s of their wall time added up)",
        "two workers dealt the files' CPU seconds, most tests first (--dist loadfile): "
        f"{' and '.join(map(str, result['workers_dealt']))} s",
        f"estimate of make test on two quiet cores (installed): {result['estimate_two_quiet_cores']} s "
        f"(each file at its wall time where longer: {result['estimate_with_waits']} s, on a quiet machine)",
        "",
        f"The {top} costliest test files (CPU s, wall s, tests):",
        "",
        "| file | CPU (s) | wall (s) | tests |",
        "| --- | --- | --- | --- |",
    ]
    ranked = sorted(result["files"].items(), key=lambda item: -item[1]["cpu"])
    for name, row in ranked[:top]:
        lines.append(f"| {name} | {row['cpu']:.1f} | {row['wall']:.1f} | {row['tests']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/respira-cold"))
    parser.add_argument("--tests-only", action="store_true", help="re-run the tests in --work's clone")
    parser.add_argument("--install-only", action="store_true", help="the install steps, not the tests")
    parser.add_argument("--install-parts", action="store_true", help="the install's parts one by one")
    parser.add_argument("--profile", type=Path, help="no run: the tests' part from this plugin output")
    parser.add_argument(
        "--make", action="append", default=[], metavar="VARIABLE=VALUE",
        help="a make setting for every step (TEST_WORKERS=1: one pytest worker)",
    )  # fmt: skip
    parser.add_argument("--slow", action="store_true", help="make test-slow timed after the rest")
    parser.add_argument("--top", type=int, default=25, help="the costliest files listed")
    parser.add_argument("--output", type=Path, default=REPOSITORY / "benchmarks/results/cold_test.md")
    parser.add_argument("--json", type=Path, default=REPOSITORY / "benchmarks/results/cold_test.json")
    args = parser.parse_args(argv)
    if args.profile:  # nothing run: the tests' part of another run
        steps, workers, commit = {}, read_workers(args.profile), short_commit(REPOSITORY)
        header = f"<!-- the tests' part read from {args.profile.name}, summarized at commit {commit} -->"
    else:
        if args.tests_only:
            clone, env = args.work / "respira", environment(args.work)
            if not (clone / ".venv" / ".installed-dev").is_file():
                parser.error(f"--tests-only: no installed clone in {clone} (run once without it)")
        else:
            clone, env = fresh_clone(args.work)
        commit = short_commit(clone)
        install = () if args.tests_only else INSTALL_PARTS if args.install_parts else INSTALL_STEPS
        steps = run_steps(clone, env, install, not args.install_only, args.make, args.slow)
        workers = [] if args.install_only else read_workers(Path(env[CPU_JSON]))
        steps.get("make test (pytest + lint)", {})["pytest wall"] = pytest_wall(Path(env[CPU_JSON]))
        header = f"<!-- commit {commit}{''.join(f'; make {setting}' for setting in args.make)} -->"
    lines = [header, *report(steps, result := summary(steps, workers), args.top)]
    print("\n".join(lines))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.json.write_text(json.dumps({"commit": commit, "steps": steps, **result}, indent=1) + "\n", "utf-8")
    return max((step["status"] for step in steps.values()), default=0)


if __name__ == "__main__":
    raise SystemExit(main())

"""Where ``make test``'s CPU goes, by what the tests call: a whole ``make test`` (installed) with a handful
of respira's and the libraries' costly entry points timed in every process it starts (the pytest workers,
the docs' command server's forks, the commands the tests run), each call's CPU seconds (user + system of
its process) logged with its caller: the test, in a pytest worker; elsewhere the process's command line (a
docs block's ``respira`` command in its fork of the docs' command server, a test's subprocess).

A ``sitecustomize`` module on ``PYTHONPATH`` wraps the functions of :data:`CALLED` as their modules are
imported; a call inside another timed one counts under both (``depth`` 1 and more). Writes
``benchmarks/results/suite_calls.md`` and the calls, one JSON line each, beside it.

    .venv/bin/python benchmarks/suite_calls.py
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from _machine import cpu_name, load_average, short_commit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CALLED = {
    "respira.training.run": ["run_training"],
    "respira.hub.onnx": ["export_onnx"],
    "respira.sites.fit_site": ["fit_site_folder"],
    "respira.data.loaders": ["load_folder"],
    "respira.inference.detector": ["Detector.predict", "Detector.from_pretrained"],
    "transformers.trainer": ["Trainer.train", "Trainer.evaluate", "Trainer.predict"],
    "datasets.builder": ["DatasetBuilder.download_and_prepare"],
    "sphinx.application": ["Sphinx.build"],
}
"""Module → the functions (``Class.method`` for a method) timed in it."""
HOOK = """
import functools, importlib.abc, importlib.util, json, os, sys, time

CALLED, LOG, depth = {called!r}, {log!r}, [0]


def timed(name, function):
    @functools.wraps(function)
    def call(*args, **kwargs):
        start = time.process_time()
        depth[0] += 1
        try:
            return function(*args, **kwargs)
        finally:
            depth[0] -= 1
            cpu = time.process_time() - start
            line = {{"function": name, "cpu": cpu, "depth": depth[0], "caller": caller()}}
            with open(LOG, "a") as log:
                log.write(json.dumps(line) + "\\n")
    return call


def caller():  # the test in a pytest process, else the command line (a docs block's fork, a subprocess)
    if "pytest" in sys.modules:
        return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    return " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:3]])


def wrap(module):
    for name in CALLED[module.__name__]:
        owner_name, _, attribute = name.rpartition(".")
        owner = getattr(module, owner_name) if owner_name else module
        function = vars(owner)[attribute]
        if isinstance(function, classmethod):
            setattr(owner, attribute, classmethod(timed(name, function.__func__)))
        else:
            setattr(owner, attribute, timed(name, function))


class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in CALLED:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            load = spec.loader.exec_module
            spec.loader.exec_module = lambda module: (load(module), wrap(module))
        return spec


sys.meta_path.insert(0, Finder())
"""


def run_suite(log: Path) -> tuple[float, float]:
    """``make test`` (installed: pytest and lint), the calls logged to ``log``; its wall and CPU seconds."""
    with tempfile.TemporaryDirectory(prefix="respira-calls-") as hook:
        (Path(hook) / "sitecustomize.py").write_text(HOOK.format(called=CALLED, log=str(log)))
        env = {**os.environ, "PYTHONPATH": hook}
        command = ["make", "--no-print-directory", "test"]
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, check=False)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"the suite failed (status {done.returncode}): no figures written")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def table(calls: list[dict], cpu: float) -> list[str]:
    """One row a function and depth: calls, CPU seconds, share of the suite's CPU, the costliest caller."""
    total, count = collections.Counter(), collections.Counter()
    callers = collections.defaultdict(collections.Counter)
    for call in calls:
        key = (call["function"], call["depth"])
        total[key] += call["cpu"]
        count[key] += 1
        callers[key][call["caller"]] += call["cpu"]
    rows = ["| function | depth | calls | CPU (s) | share of the suite's CPU | costliest caller (CPU s) |"]
    rows.append("| --- | --- | --- | --- | --- | --- |")
    for key, seconds in total.most_common():
        caller, most = callers[key].most_common(1)[0]
        rows.append(
            f"| `{key[0]}` | {key[1]} | {count[key]} | {seconds:.1f} | {100 * seconds / cpu:.1f} % "
            f"| `{caller or '(between tests: a session fixture)'}` ({most:.1f}) |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=RESULTS / "suite_calls.md")
    args = parser.parse_args()
    log = args.output.with_suffix(".jsonl")
    log.unlink(missing_ok=True)
    wall, cpu = run_suite(log)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    lines = [
        f"<!-- commit {short_commit(ROOT)} -->",
        f"<!-- {cpu_name()}, {os.cpu_count()} cores; load average {load_average()} (end) -->",
        "`.venv/bin/python benchmarks/suite_calls.py`: `make test`, installed (warm), the calls timed in "
        f"every process it starts: {wall:.1f} s of wall time, {cpu:.1f} s of CPU.",
        "",
        *table(calls, cpu),
    ]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The build of the dev stack's one source-only package (sed-scores-eval-np2, the events extra: two Cython
modules compiled by g++) with Python's own compiler flags against the Makefile's ``DEV_CXXFLAGS`` and others.

Downloads the package's source (pip, from your index), then runs its ``setup.py build_ext --force`` once per
flag set and round, in turns, with this interpreter (it needs Cython, numpy and setuptools: the dev stack
has them); each build's wall time and CPU (user + system of the build and its compilers). Writes
``benchmarks/results/sdist_build_flags.md``.

    .venv/bin/python benchmarks/sdist_build_flags.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from _machine import cpu_name, load_average

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "sed-scores-eval-np2>=0.0.4"
PYTHONS_OWN = "Python's own (-O3 -g)"


def makefile_flags() -> str:
    """The Makefile's ``DEV_CXXFLAGS`` (what ``make install-dev`` builds the source with)."""
    match = re.search(r"^DEV_CXXFLAGS \?= (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit("the Makefile sets no DEV_CXXFLAGS")
    return match.group(1).strip()


def source(work: Path) -> Path:
    """The package's source tree, downloaded and unpacked in ``work``."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-build-isolation"]
    command += ["--no-binary", PACKAGE.split(">", maxsplit=1)[0]]
    subprocess.run([*command, "-d", str(work), PACKAGE], check=True)
    [archive] = work.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    [tree] = [path for path in work.iterdir() if path.is_dir()]
    return tree


def build(tree: Path, flags: str | None) -> tuple[float, float]:
    """Wall and CPU seconds of one ``build_ext --force`` with ``CXXFLAGS=flags`` (``None``: Python's own)."""
    env = {k: v for k, v in os.environ.items() if k not in {"CXXFLAGS", "CFLAGS"}}
    if flags is not None:
        env["CXXFLAGS"] = flags
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "setup.py", "-q", "build_ext", "--force"]
    subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    ours = makefile_flags()
    flag_sets: dict[str, str | None] = {PYTHONS_OWN: None, f"{ours} (the Makefile's)": ours}
    flag_sets |= {"-O2 -g0": "-O2 -g0", "-O0 -g0": "-O0 -g0"}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in flag_sets}
    header = f"<!-- {cpu_name()}, {os.cpu_count()} cores; load average {load_average()} (start); "
    with tempfile.TemporaryDirectory() as work:
        tree = source(Path(work))
        for _ in range(args.rounds):
            for name, flags in flag_sets.items():
                times[name].append(build(tree, flags))
    header += f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.rounds} round(s) in turns -->"
    baseline = statistics.median(cpu for _, cpu in times[PYTHONS_OWN])
    lines = [
        header,
        "| CXXFLAGS | wall (s) | CPU (s) | CPU against Python's own |",
        "| --- | --- | --- | --- |",
    ]
    for name, runs in times.items():
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        lines.append(f"| {name} | {wall:.1f} | {cpu:.1f} | {cpu / baseline:.2f}× |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    (ROOT / "benchmarks" / "results" / "sdist_build_flags.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

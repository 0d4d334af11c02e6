"""Machine description printed by every benchmark and study (benchmarks import it from their own folder, the
studies put this folder on ``sys.path``)."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def short_commit(folder: Path) -> str:
    """The short name of the commit checked out in ``folder`` (git's own length: unique in its repository)."""
    command = ["git", "rev-parse", "--short", "HEAD"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True).stdout.strip()


def run_header(threads: int, *details: str) -> str:
    """A results file's first line: the machine, the torch threads, the load average, torch's version, the
    time and ``details`` (``"selection bonferroni"``), as an HTML comment."""
    import torch

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    facts = "".join(f"; {detail}" for detail in details)
    return (
        f"<!-- {cpu_name()} ({socket.gethostname()}), {threads} torch thread(s); load average "
        f"{load_average()} (start); torch {torch.__version__}; {stamp}{facts} -->"
    )


def write_results(lines: list[str], output: Path, results: Any, stored: Path) -> None:
    """The lines a run printed into ``output`` (Markdown) and its ``results`` into ``stored`` (JSON)."""
    from respira.utils.files import nan_to_none

    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stored.write_text(json.dumps(nan_to_none(results), indent=1) + "\n", encoding="utf-8")


def run_and_write(run: Callable[[Callable[[str], None]], Any], output: Path, stored: Path) -> int:
    """Run ``run(say)`` at respira's thread choice between the header and the end's load average; what it
    said goes to ``output``, what it returned to ``stored`` (:func:`write_results`)."""
    from respira.utils.threads import apply_num_threads

    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say(run_header(apply_num_threads().num_threads))
    results = run(say)
    say(f"<!-- load average {load_average()} (end) -->")
    write_results(lines, output, results, stored)
    return 0

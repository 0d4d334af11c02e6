"""CPU seconds of the flagship recipe's short training run as the tutorial runs it (``respira prepare``, then
``respira train recipes/efficientat_frozen_multilabel.yaml --max_steps 2 --threshold_folds 2``), with the
sources of ``--before`` (a commit) against the working tree's, and whether the two run folders are the same.

    python benchmarks/train_run_cpu.py [--before COMMIT] [--repeats 3]

A synthetic corpus in the tutorial's working folder (tests/docs/working_folder.py's layout, the shipped
detector's folder as the checkpoint). Each repeat, for each way in turn: a fresh datasets cache, ``respira
prepare`` with the recipe's data options (not timed), then the training run in a fresh process into the same
folder both ways, timed as its CPU seconds (user + system, imports included). The first run folders of the
two ways are compared file by file: the same bytes, or JSON whose only differences are runtimes
(``*_runtime``, ``*_per_second``), and the checksum file that lists them. Writes
``benchmarks/results/train_run_cpu.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _machine import run_and_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
PREPARE = ["prepare", "--data_dir", ".", "--split_strategy", "patient", "--patient_split_fractions"]
PREPARE += ["0.6,0.2,0.2", "--sampling_rate", "32000", "--lowpass_cutoff", "4000"]
TRAIN = ["train", "recipes/efficientat_frozen_multilabel.yaml", "--data_dir", ".", "--max_steps", "2"]
TRAIN += ["--threshold_folds", "2"]
TIMING = ("_runtime", "_per_second")
CHECKSUMS = ".respira-written"


def working_folder(folder: Path) -> Path:
    """The tutorial's folder: the synthetic corpus, ``recipes/`` and the encoder's checkpoint."""
    from respira.pretrained import default_detector_dir
    from respira.synthetic import make_synthetic_icbhi

    corpus = make_synthetic_icbhi(folder / "corpus", n_patients=12, seed=0, cycles_per_recording=(3, 4))
    work = folder / "work"
    shutil.copytree(corpus, work)
    (work / "recipes").symlink_to(ROOT / "recipes", target_is_directory=True)
    shutil.copytree(default_detector_dir(), work / "checkpoints" / "efficientat_mn04")
    return work


def respira(args: list[str], source: Path, work: Path, cache: Path) -> float:
    """``respira ARGS`` in a fresh process with ``source`` first on the path; its CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(source), "HF_DATASETS_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    env["HF_DATASETS_OFFLINE"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "respira", *args], cwd=work, env=env, check=True, capture_output=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _timing_only(a: object, b: object) -> bool:
    """Whether two JSON values differ only in runtime entries."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(key.endswith(TIMING) or _timing_only(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_timing_only(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare(first: Path, second: Path) -> tuple[int, list[str], list[str]]:
    """Files with the same bytes, files differing in runtimes only, other differences."""
    names = {p.relative_to(first) for p in first.rglob("*") if p.is_file()}
    others = {p.relative_to(second) for p in second.rglob("*") if p.is_file()}
    same, timing, different = 0, [], [str(name) for name in sorted(names ^ others)]
    for name in sorted(names & others):
        x, y = (first / name).read_bytes(), (second / name).read_bytes()
        if x == y:
            same += 1
        elif name.name == CHECKSUMS or (
            name.suffix == ".json" and _timing_only(json.loads(x), json.loads(y))
        ):
            timing.append(str(name))
        else:
            different.append(str(name))
    return same, timing, different


def run(args: argparse.Namespace, say) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="train_run_cpu_"))
    try:
        before = scratch / "before"
        archive = subprocess.run(
            ["git", "archive", args.before, "src"], cwd=ROOT, check=True, capture_output=True
        )
        before.mkdir()
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
        ways = {"before": before / "src", "now": ROOT / "src"}
        work = working_folder(scratch)
        say(f"before: src of {args.before}; now: the working tree; {args.repeats} repeats, alternating")
        say(f"run: respira {' '.join(TRAIN)} (after respira {' '.join(PREPARE)})")
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        for repeat in range(args.repeats):
            for name, source in ways.items():
                cache = scratch / f"cache_{name}_{repeat}"
                respira(PREPARE, source, work, cache)
                seconds[name].append(respira([*TRAIN, "--output_dir", "runs/detector"], source, work, cache))
                shutil.rmtree(cache)
                kept = scratch / f"run_{name}"  # the first repeat's folder, moved out of the way
                if kept.exists():
                    shutil.rmtree(work / "runs/detector")
                else:
                    (work / "runs/detector").rename(kept)
        same, timing, different = compare(scratch / "run_before", scratch / "run_now")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    say("| way | CPU seconds per run (median) | each run |")
    say("| --- | --- | --- |")
    for name in ways:
        say(f"| {name} | {median[name]:.1f} | {', '.join(f'{s:.1f}' for s in seconds[name])} |")
    say(
        f"before - now: {median['before'] - median['now']:.1f} s of CPU per run; before / now: "
        f"{median['before'] / median['now']:.2f}x"
    )
    say(
        f"run folders: {same} files the same bytes, {len(timing)} differing in runtimes only "
        f"({', '.join(timing)}), {len(different)} otherwise{': ' + ', '.join(different) if different else ''}"
    )
    say(f"the same outputs: {not different}")
    return {
        "options": vars(args),
        "seconds": seconds,
        "median": median,
        "same_files": same,
        "runtime_only": timing,
        "different": different,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="f274103d", help="the commit whose src/ is the baseline")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    return run_and_write(
        lambda say: run(args, say), RESULTS / "train_run_cpu.md", RESULTS / "train_run_cpu.json"
    )


if __name__ == "__main__":
    sys.exit(main())

"""``respira fit-site`` after ``respira suggest``: the model's view that suggest cached beside ``labels.csv``
read again (today) against the model run again over the labelled recordings (the cache moved aside, as
before fit-site read it), the loop of the serve-your-site tutorial.

The archive is one recording (the extended filter mode) of each of ``--patients`` KAUH patients of
``../shared/kauh`` under names that say nothing of its labels; up to a quarter of them normal and as many
abnormal (the first of each) are labelled in ``labels.csv`` from the file names, the others left blank;
``respira suggest --budget 1`` fills the cache. Each round runs ``respira fit-site --candidates as_is
thresholds --apply_anyway`` in a fresh process once from the cache and once without it, in alternating
order: its wall time, its CPU time (user + system) and ``site_fit.json``'s embedding seconds; the two
fits' chosen procedures, thresholds and nested-CV scores are compared.
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
import time
from datetime import UTC, datetime
from pathlib import Path

from _machine import cpu_name, load_average
from respira.data.kauh import read_kauh_index
from respira.sites.suggest import CACHE_FOLDER

SETTINGS = {"cache": "today: suggest's cache read", "embedded": "before: the model run again"}


def archive(kauh: Path, patients: int, work: Path) -> tuple[Path, int]:
    """The archive folder (``P017.wav``...) with ``labels.csv``; its labelled recordings."""
    index = read_kauh_index(kauh)
    index = index[index["filter_mode"] == "extended"].sort_values("patient_id").head(patients)
    normal = (index["crackle"] == 0) & (index["wheeze"] == 0)
    half = patients // 4
    labelled = set(index[normal]["patient_id"][:half]) | set(index[~normal]["patient_id"][:half])
    folder = work / "site"
    folder.mkdir()
    rows = ["file,crackle,wheeze,patient"]
    for row in index.itertuples():
        name = f"P{row.patient_id:03d}.wav"
        (folder / name).symlink_to(Path(row.path).resolve())
        labels = f"{int(row.crackle)},{int(row.wheeze)}" if row.patient_id in labelled else ","
        rows.append(f"{name},{labels},{row.patient_id}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder, len(labelled)


def respira(*arguments: str) -> tuple[float, float, str]:
    """``respira ARGUMENTS`` in a fresh process: wall and CPU seconds, stderr; raises on failure."""
    environ = {**os.environ, "HF_HUB_OFFLINE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "respira", *arguments],
        capture_output=True,
        text=True,
        env=environ,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"respira {arguments[0]} exited {done.returncode}:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def fit(folder: Path, output: Path, cached: bool) -> dict:
    """One fit-site run, with or without suggest's cache beside the folder's labels.csv."""
    aside = folder.parent / "cache_aside"
    if not cached:
        (folder / CACHE_FOLDER).rename(aside)
    try:
        wall, cpu, said = respira(
            "fit-site", "--candidates", "as_is", "thresholds", "--data_dir", str(folder),
            "--output_dir", str(output), "--outer_folds", "4", "--apply_anyway", "--overwrite",
        )  # fmt: skip
    finally:
        if not cached:
            aside.rename(folder / CACHE_FOLDER)
    if cached != ("read from suggest's cache" in said):
        raise RuntimeError(f"fit-site {'did not read' if cached else 'read'} the cache:\n{said[-2000:]}")
    record = json.loads((output / "site_fit.json").read_text())
    return {
        "setting": "cache" if cached else "embedded",
        "wall": wall,
        "cpu": cpu,
        "embedding": record["seconds"]["embedding"],
        "audio_seconds": record["audio_seconds"],
        "chosen": record["chosen"],
        "thresholds": record["thresholds"],
        "scores": [row["icbhi_score"] for row in record["nested_cv"]],
        "load": os.getloadavg()[0],
    }


def table(runs: list[dict]) -> list[str]:
    lines = [
        "| fit-site | runs | wall s (median) | CPU s (median) | embedding s (median) | before / today CPU |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rounds = sorted({run["round"] for run in runs})
    ratios = []
    for number in rounds:
        pair = {run["setting"]: run["cpu"] for run in runs if run["round"] == number}
        ratios.append(pair["embedded"] / pair["cache"])
    for setting in ("embedded", "cache"):
        mine = [run for run in runs if run["setting"] == setting]
        medians = {key: statistics.median(run[key] for run in mine) for key in ("wall", "cpu", "embedding")}
        ratio = (
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
            if setting == "cache"
            else ""
        )
        lines.append(
            f"| {SETTINGS[setting]} | {len(mine)} | {medians['wall']:.1f} | {medians['cpu']:.1f} | "
            f"{medians['embedding']:.1f} | {ratio} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[2] / "shared"
    results = Path(__file__).parent / "results"
    parser.add_argument("--kauh", type=Path, default=root / "kauh")
    parser.add_argument("--patients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", type=Path, default=results / "fit_site_after_suggest.md")
    parser.add_argument("--json", type=Path, default=results / "fit_site_after_suggest.json")
    args = parser.parse_args()
    header = (
        f"<!-- {cpu_name()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; load average "
        f"{load_average()} (start); {datetime.now(UTC):%Y-%m-%d %H:%M} UTC -->"
    )
    runs = []
    with tempfile.TemporaryDirectory() as work:
        folder, labelled = archive(args.kauh, args.patients, Path(work))
        respira("suggest", "--data_dir", str(folder), "--budget", "1", "--output", str(folder / "labels.csv"))
        for number in range(args.rounds):
            for cached in (True, False) if number % 2 == 0 else (False, True):
                run = fit(folder, Path(work) / "out", cached)
                runs.append({**run, "round": number})
                print(json.dumps(run), flush=True)
        shutil.rmtree(Path(work) / "out", ignore_errors=True)
    first = {run["setting"]: run for run in runs if run["round"] == 0}
    same = first["cache"]["chosen"] == first["embedded"]["chosen"]
    gap = max(
        max(abs(a - b) for a, b in zip(first["cache"][key], first["embedded"][key], strict=True))
        for key in ("thresholds", "scores")
    )
    audio = runs[0]["audio_seconds"]
    lines = [
        header,
        "",
        f"`respira fit-site --candidates as_is thresholds --outer_folds 4 --apply_anyway` on an archive of "
        f"{args.patients} KAUH patients (one recording each), {labelled} of them labelled ({audio:.0f} s of "
        "audio), after `respira suggest` cached its view beside `labels.csv`, each run a fresh process "
        "(its imports and the ONNX export included):",
        "",
        *table(runs),
        "",
        f"The two fits: chosen procedures {'the same' if same else 'DIFFERENT'}; thresholds and nested-CV "
        f"scores differ by at most {gap:.1e}.",
        f"<!-- load average {load_average()} (end); command: OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', '')} python benchmarks/fit_site_after_suggest.py "
        f"--rounds {args.rounds} --patients {args.patients} --kauh {args.kauh} -->",
    ]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.json.write_text(json.dumps({"runs": runs, "same_choice": same, "largest_difference": gap}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

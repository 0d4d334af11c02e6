"""The wall time a user waits for ``respira fit-site``, start to exit, per stage, alone and beside a busy
process, the thread default of before (every usable core, ``--threads N``) against today's.

Each run is the command as a user types it, in a fresh process (``--apply_anyway``, so the folder, its
card and its ONNX export are written whatever the fit chooses), on ``--patients`` KAUH patients drawn
(seeded) from ``../shared/kauh``; the stages come from its ``site_fit.json`` (``seconds``: the encoder
pass over the recordings, then the nested CV and the learning curve) and from the clock: before its
first line (start-up), and the rest (loading the model, reading the folder, writing the model folder
and its ONNX export). The busy process is the one of ``thread_contention.py`` (a pure-Python loop that
holds one core); the two defaults alternate within each round, and the load average before each run
is written beside it.

With ``--before SRC`` the old setting is another source tree (e.g. a ``git worktree`` of the code before a
change) run with today's thread default, so one run compares the code before and after: each run's CPU
seconds (user + system of the process and its children, what a loaded machine's wall time hides) beside its
wall time, and whether the two runs of a round wrote the same folder (every file byte for byte,
``site_fit.json`` but for its ``seconds`` and ``.respira-written`` but for ``site_fit.json``'s SHA-256).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _machine import cpu_name, load_average
from respira.data.kauh import KAUHName
from respira.utils.files import WRITTEN_FILE
from respira.utils.threads import available_cpus, cgroup_cpu_limit
from thread_contention import start_competitor

CONDITIONS = ("alone", "beside a busy loop")
RUN_KEYS = ("wall", "first_line", "embedding", "fitting", "rest", "audio_seconds", "cpu")


def site_folder(kauh: Path, patients: int, seed: int, work: Path) -> tuple[Path, int, int]:
    """A folder of links to every recording of ``patients`` KAUH patients drawn with ``seed`` (normal and
    abnormal both); its path, recordings and patients."""
    by_patient: dict[str, list[Path]] = {}
    for path in sorted(kauh.glob("*.wav")):
        by_patient.setdefault(str(KAUHName.parse(path.stem).patient_id), []).append(path)
    chosen = random.Random(seed).sample(sorted(by_patient), patients)
    folder = work / "site"
    folder.mkdir()
    for patient in chosen:
        for path in by_patient[patient]:
            (folder / path.name).symlink_to(path)
    return folder, sum(len(by_patient[p]) for p in chosen), len(chosen)


def run_once(data: Path, output: Path, threads: int | None, source: Path | None = None) -> dict[str, float]:
    """One ``respira fit-site`` in a fresh process (of ``source``'s code when given): its wall time and
    stages (seconds)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "RESPIRA_NUM_THREADS")}
    environ["HF_HUB_OFFLINE"] = "1"
    if source is not None:
        environ["PYTHONPATH"] = str(source)
    command = [sys.executable, "-m", "respira", "fit-site", "--data_dir", str(data), "--dataset", "kauh"]
    command += ["--output_dir", str(output), "--apply_anyway"]
    command += [] if threads is None else ["--threads", str(threads)]
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ
    )
    assert process.stdout is not None
    first = None
    lines = []
    for line in process.stdout:
        first = time.perf_counter() - started if first is None else first
        lines.append(line)
    code = process.wait()
    wall = time.perf_counter() - started
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise RuntimeError(f"fit-site exited {code}:\n{''.join(lines[-20:])}")
    record = json.loads((output / "site_fit.json").read_text())
    seconds = record["seconds"]
    return {
        "wall": wall,
        "first_line": first if first is not None else wall,
        "embedding": seconds["embedding"],
        "fitting": seconds["fitting"],
        "rest": wall - seconds["embedding"] - seconds["fitting"],
        "audio_seconds": record["audio_seconds"],
        "cpu": done.ru_utime - used.ru_utime + done.ru_stime - used.ru_stime,
    }


def different_files(first: Path, second: Path) -> list[str]:
    """The files two fit-site folders do not share byte for byte (``site_fit.json`` but for its
    ``seconds``, the one thing a rerun changes, and the list of written files but for that file's
    SHA-256)."""
    names = sorted(
        {
            str(path.relative_to(folder))
            for folder in (first, second)
            for path in folder.rglob("*")
            if path.is_file()
        }
    )
    different = []
    for name in names:
        a, b = first / name, second / name
        if not (a.is_file() and b.is_file()):
            different.append(name)
        elif name == "site_fit.json":
            records = [json.loads(path.read_text(encoding="utf-8")) for path in (a, b)]
            if records[0] | {"seconds": None} != records[1] | {"seconds": None}:
                different.append(name)
        elif name == WRITTEN_FILE:  # each file's SHA-256: site_fit.json's differs by its seconds
            listed = [
                [
                    line
                    for line in path.read_text(encoding="utf-8").splitlines()
                    if not line.endswith("site_fit.json")
                ]
                for path in (a, b)
            ]
            if listed[0] != listed[1]:
                different.append(name)
        elif a.read_bytes() != b.read_bytes():
            different.append(name)
    return different


def table(runs: list[dict], settings: dict, audio: float, names: dict[str, str]) -> list[str]:
    """Medians per condition and default, and the old default's wall time over today's (median of the
    ratios of the runs of one round)."""
    lines = [
        "| condition | default | runs | load average (1 min, before) | wall s (median) | × real time "
        "| before its first line s | embedding s | candidates and curve s | rest s | old / today "
        "| CPU s (median) | old / today CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for condition in CONDITIONS:
        chosen = [run for run in runs if run["condition"] == condition]
        if not chosen:
            continue
        ratios, cpu_ratios = [], []
        for round_ in sorted({run["round"] for run in chosen}):
            pair = {run["setting"]: run for run in chosen if run["round"] == round_}
            if len(pair) == 2:
                ratios.append(pair["old"]["wall"] / pair["today"]["wall"])
                cpu_ratios.append(pair["old"]["cpu"] / pair["today"]["cpu"])
        for setting in settings:
            mine = [run for run in chosen if run["setting"] == setting]
            if not mine:
                continue
            median = {key: statistics.median(run[key] for run in mine) for key in RUN_KEYS}
            loads = ", ".join(f"{run['load']:.1f}" for run in mine)
            ratio = cpu_ratio = ""
            if setting == "today" and ratios:
                ratio = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
                cpu_ratio = (
                    f"{statistics.median(cpu_ratios):.2f} ({min(cpu_ratios):.2f}–{max(cpu_ratios):.2f})"
                )
            lines.append(
                f"| {condition} | {names[setting]} | {len(mine)} | {loads} | {median['wall']:.1f} | "
                f"{audio / median['wall']:.0f} | {median['first_line']:.1f} | {median['embedding']:.1f} | "
                f"{median['fitting']:.1f} | {median['rest']:.1f} | {ratio} | "
                f"{median['cpu']:.1f} | {cpu_ratio} |"
            )
    return lines


NAMES = {"old": "before: every usable core (`--threads N`)", "today": "today's (no `--threads`)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[2] / "shared"
    parser.add_argument("--kauh", type=Path, default=root / "kauh")
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "fit_site_wall.md")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "fit_site_wall.json")
    parser.add_argument("--before", type=Path, help="the old setting: this source tree's code (its src/)")
    args = parser.parse_args()
    cores = available_cpus(cgroup_cpu_limit())
    settings: dict[str, int | None] = {"old": None if args.before else cores, "today": None}
    source = {"old": args.before.resolve() / "src" if args.before else None, "today": None}
    args.names = dict(NAMES)
    if args.before:
        args.names = {"old": f"before: the code of `{args.before.name}`", "today": "after: this tree's code"}
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = f"<!-- {cpu_name()}, {cores} usable cores; load average {load_average()} (start); {started} -->"
    runs: list[dict] = []
    folders: dict[tuple[str, int], list[Path]] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        data, recordings, patients = site_folder(args.kauh, args.patients, args.seed, work)
        print(f"{patients} KAUH patients, {recordings} recordings; {cores} usable cores", flush=True)
        for condition in args.conditions:
            competitor = start_competitor() if condition != "alone" else None
            try:
                time.sleep(1.0)
                for round_ in range(args.rounds):
                    order = list(settings) if round_ % 2 == 0 else list(settings)[::-1]
                    for setting in order:
                        load = os.getloadavg()[0]
                        output = work / f"out_{len(runs)}"
                        run = run_once(data, output, settings[setting], source[setting])
                        runs.append(
                            {"condition": condition, "setting": setting, "round": round_, "load": load, **run}
                        )
                        folders.setdefault((condition, round_), []).append(output)
                        if len(folders[condition, round_]) == 2:
                            runs[-1]["different"] = different_files(*folders[condition, round_])
                        print(
                            f"{condition}, {setting}, round {round_}: load {load:.2f}; "
                            + ", ".join(f"{k} {v:.1f}" for k, v in run.items()),
                            flush=True,
                        )
                        write(args, header, runs, settings, cores, patients, recordings)
            finally:
                if competitor is not None:
                    competitor.kill()
                    competitor.wait()
    print(write(args, header, runs, settings, cores, patients, recordings))


def sameness(runs: list[dict]) -> str:
    """Whether each round's two runs wrote the same folder."""
    pairs = [run for run in runs if "different" in run]
    differing = [
        f"{run['condition']} round {run['round']}: {', '.join(run['different'])}"
        for run in pairs
        if run["different"]
    ]
    if differing:
        return f"The two folders of a round: DIFFERENT ({'; '.join(differing)})."
    return (
        f"The two folders of a round: the same in all {len(pairs)} rounds (every file byte for byte, "
        "`site_fit.json` but for its `seconds`, `.respira-written` but for `site_fit.json`'s SHA-256)."
    )


def write(args, header, runs, settings, cores, patients, recordings) -> str:
    """Write the results so far (after every run: an interrupted benchmark keeps what it measured)."""
    audio = runs[0]["audio_seconds"]
    command = "HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/fit_site_wall.py " + " ".join(sys.argv[1:])
    lines = [
        header,
        "",
        f"`respira fit-site` on {patients} KAUH patients ({recordings} recordings, {audio:.0f} s of audio), "
        "start to exit, as a user waits it (`--apply_anyway`: the folder and its ONNX export written):",
        "",
        *table(runs, settings, audio, args.names),
        "",
        sameness(runs),
        f"<!-- load average {load_average()} (end); command: {command} -->",
    ]
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args.json.write_text(
        json.dumps({"cores": cores, "patients": patients, "recordings": recordings, "runs": runs}, indent=1)
        + "\n",
        encoding="utf-8",
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

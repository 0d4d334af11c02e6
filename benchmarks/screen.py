"""``respira screen`` against ``respira predict --per_recording``: same recordings, same model, one run.

    python benchmarks/screen.py [--shared ../shared] [--recordings 40] [--model DIR] [--threads N]
                                [--launch 2]

The recordings are the first ``--recordings`` ICBHI files of ../shared (real audio, their own rates and
lengths), named in a ``.txt`` list in a temporary folder (nothing is copied). The model is ``--model``, else
the flagship's architecture (EfficientAT mn04 with its real AudioSet weights from
../shared/reference, 32 kHz, 4 kHz low-pass, 8-s input, a random multi-label head: speed does not depend
on its weights; built as benchmarks/event_detection.py builds it).

Timed, each in this process after one untimed warm-up run of both commands on two recordings, wall clock
from the command's start to its output written (model loading included, as a user waits for it):

- ``predict --per_recording``: ``respira predict MODEL FILE... --per_recording --output x.csv``;
- ``screen``: ``respira screen MODEL LIST --output_dir OUT`` (Parquet chunks, merged table);
- ``screen --events``: the same with the events table;
- with ``--launch N``: ``screen`` under ``accelerate launch`` with N CPU processes of one thread each
  (recipes/accelerate/cpu_ddp.yaml; a subprocess, so Python's start-up is included).

Printed: audio hours, seconds, × real time (audio seconds per wall second) and the ratio to ``predict``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _machine import cpu_name, load_average

REPOSITORY = Path(__file__).resolve().parents[1]


def _model(args: argparse.Namespace, folder: Path) -> Path:
    if args.model:
        return Path(args.model)
    from event_detection import flagship

    flagship(args.shared, folder).save_pretrained(folder / "model")
    return folder / "model"


def _timed(argv: list[str]) -> float:
    from respira.cli import main

    started = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"respira {' '.join(argv[:1])} exited with {code}")
    return elapsed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--recordings", type=int, default=40)
    parser.add_argument("--model", help="a model folder (default: the flagship's architecture)")
    parser.add_argument("--threads", type=int, help="torch threads (default: respira's choice)")
    parser.add_argument("--launch", type=int, default=0, help="also time N accelerate CPU processes")
    args = parser.parse_args()
    if args.threads:
        os.environ["RESPIRA_NUM_THREADS"] = str(args.threads)
    files = sorted((args.shared / "icbhi").glob("**/*.wav"))[: args.recordings]
    if len(files) < 3:
        raise SystemExit(f"need ICBHI recordings under {args.shared}/icbhi")
    from respira.audio import audio_duration

    hours = sum(audio_duration(path) for path in files) / 3600
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = str(_model(args, folder))
        listing, warm = folder / "list.txt", folder / "warm.txt"
        listing.write_text("\n".join(str(path) for path in files))
        warm.write_text("\n".join(str(path) for path in files[:2]))
        paths = [str(path) for path in files]
        _timed(["predict", model, *paths[:2], "--per_recording", "--output", str(folder / "warm.csv")])
        _timed(["screen", model, str(warm), "--output_dir", str(folder / "warm")])
        runs = {
            "predict --per_recording": _timed(
                ["predict", model, *paths, "--per_recording", "--output", str(folder / "p.csv")]
            ),
            "screen": _timed(["screen", model, str(listing), "--output_dir", str(folder / "s")]),
            "screen --events": _timed(
                ["screen", model, str(listing), "--events", "--output_dir", str(folder / "e")]
            ),
        }
        if args.launch:
            config = REPOSITORY / "recipes" / "accelerate" / "cpu_ddp.yaml"
            command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
            command += ["--num_processes", str(args.launch), "--main_process_port", str(_free_port())]
            command += ["-m", "respira", "screen", model, str(listing), "--output_dir", str(folder / "l")]
            environment = {**os.environ, "OMP_NUM_THREADS": "1", "RESPIRA_NUM_THREADS": "1"}
            started = time.perf_counter()
            subprocess.run(command, check=True, env=environment, capture_output=True)
            runs[f"screen, accelerate {args.launch} processes × 1 thread"] = time.perf_counter() - started
    threads = torch.get_num_threads()
    print(f"# {cpu_name()}, load {load_average()}, torch {torch.__version__}, threads {threads}")
    print(f"# {len(files)} ICBHI recordings, {hours:.3f} h of audio, model {args.model or 'flagship mn04'}")
    print(f"{'command':<48} {'seconds':>8} {'× real time':>12} {'vs predict':>10}")
    baseline = runs["predict --per_recording"]
    for name, seconds in runs.items():
        print(f"{name:<48} {seconds:8.1f} {hours * 3600 / seconds:12.0f} {baseline / seconds:10.2f}")


if __name__ == "__main__":
    main()

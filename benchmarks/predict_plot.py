"""Peak memory and time of ``respira predict`` on a long recording, with and without ``--plot``.

    python benchmarks/predict_plot.py [--hours 2] [--rate 8000] [--repeats 1]

Writes a recording of ``--hours`` of noise with tones and clicks at ``--rate`` Hz (16-bit PCM) and a
small untrained respira CNN into a temporary folder (removed at the end; nothing is kept), then runs
the command line as a user would, each run a fresh process under ``/usr/bin/time -v``:
``respira predict MODEL long.wav --output out.json``, then the same with ``--plot_dir P``. Reported:
the peak resident memory of each process (``Maximum resident set size``) and its wall time, and
the ratios plot / no plot of the same round (the baseline is measured in the same run). With
``--repeats`` above 1 the rounds alternate and the medians are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from _machine import cpu_name, load_average
from respira import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification

BLOCK_SECONDS = 600


def write_recording(path: Path, hours: float, rate: int) -> None:
    """Noise, a slow tone sweep and periodic clicks, written block by block (never held whole)."""
    rng = np.random.default_rng(0)
    total = int(hours * 3600 * rate)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        for first in range(0, total, BLOCK_SECONDS * rate):
            t = np.arange(first, min(first + BLOCK_SECONDS * rate, total)) / rate
            block = 0.05 * rng.standard_normal(t.size) + 0.2 * np.sin(
                2 * np.pi * (200 + 50 * np.sin(t / 60)) * t
            )
            block[(t % 3.0) < 0.005] += 0.5
            out.write(block.astype(np.float32))


def save_model(folder: Path) -> None:
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config={"model_type": "respira_cnn", "channels": [8, 16, 32, 64]}, target_seconds=4.0
    )
    RespiraForAudioClassification(config).save_pretrained(folder)
    RespiraFeatureExtractor().save_pretrained(folder)


def measure(arguments: list[str]) -> tuple[float, float]:
    """(peak RSS in GiB, wall seconds) of ``respira ARGUMENTS`` in a fresh process."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "respira", *arguments]
    environment = {**os.environ, "PYTHONWARNINGS": "ignore", "TQDM_DISABLE": "1"}
    start = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if peak is None:
        sys.exit(f"no peak memory in the output of /usr/bin/time:\n{done.stderr[-2000:]}")
    return int(peak[1]) / 2**20, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rate", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, load average {load_average()}")
    with tempfile.TemporaryDirectory(prefix="respira_predict_plot_") as tmp:
        root = Path(tmp)
        recording = root / "long.wav"
        write_recording(recording, args.hours, args.rate)
        save_model(root / "model")
        base = ["predict", str(root / "model"), str(recording), "--output", str(root / "out.json")]
        rounds: dict[str, list[tuple[float, float]]] = {"without --plot": [], "with --plot": []}
        for _ in range(args.repeats):
            rounds["without --plot"].append(measure(base))
            plots = ["--plot_dir", str(root / "plots"), "--overwrite"]  # the next round replaces its own PNG
            rounds["with --plot"].append(measure([*base, *plots]))
        png = root / "plots" / "long.png"
        size = recording.stat().st_size / 2**20
        print(
            f"{args.hours:g} h at {args.rate} Hz ({size:.0f} MiB WAV); plot {png.stat().st_size // 1024} KiB"
        )
    print(f"load average at the end: {load_average()}")
    print("| run | peak RSS (GiB) | wall time (s) |")
    print("|---|---:|---:|")
    medians = {}
    for name, values in rounds.items():
        medians[name] = (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
        print(f"| {name} | {medians[name][0]:.2f} | {medians[name][1]:.1f} |")
    ratios = [
        (p[0] / b[0], p[1] / b[1])
        for b, p in zip(rounds["without --plot"], rounds["with --plot"], strict=True)
    ]
    memory = statistics.median(r[0] for r in ratios)
    seconds = statistics.median(r[1] for r in ratios)
    print(
        f"with / without --plot: peak RSS {memory:.2f}x, time {seconds:.2f}x (median of {len(ratios)} rounds)"
    )


if __name__ == "__main__":
    main()

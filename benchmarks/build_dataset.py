"""Build time of the ICBHI cycle dataset against the floor: decoding and resampling every file once.

    python benchmarks/build_dataset.py [--shared ../shared/icbhi] [--repeats 3]

Cases: the real recordings sample in ../shared (skipped when absent) and a synthetic corpus of
ICBHI's full size (920 recordings, 6898 cycles with the published split and class counts, 5.4 h).
For each, the floor (soundfile decode + soxr HQ
resample to 16 kHz of every recording, nothing else) and the full build into a fresh cache
(``load_icbhi``: index, checks, cutting, WAV encoding, Arrow writing) are timed in the same run;
the ratio build / floor is what BENCHMARKS.md reports. torch/torchcodec are imported before timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import datasets
import soundfile as sf
import soxr

from respira.data import load_icbhi
from respira.data.corpus_files import locate_corpus
from respira.synthetic import FULL_SIZE, make_synthetic_icbhi

RATE = 16000


def floor_seconds(data_dir: Path) -> float:
    started = time.perf_counter()
    for path in locate_corpus(data_dir).audio_files.values():
        samples, rate = sf.read(path, dtype="float32")
        soxr.resample(samples, rate, RATE, quality="HQ")
    return time.perf_counter() - started


def build_seconds(data_dir: Path, num_proc: int | None, audio_subtype: str) -> float:
    with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        load_icbhi(data_dir, cache_dir=cache, num_proc=num_proc, audio_subtype=audio_subtype)
        return time.perf_counter() - started


def corpus_hours(data_dir: Path) -> float:
    return sum(sf.info(p).duration for p in locate_corpus(data_dir).audio_files.values()) / 3600


def measure(name: str, data_dir: Path, repeats: int) -> None:
    hours = corpus_hours(data_dir)
    recordings = len(locate_corpus(data_dir).audio_files)
    print(f"\n## {name}: {recordings} recordings, {hours:.2f} h of audio ({repeats} repeats, median)")
    print("| case | seconds | × floor |\n|---|---:|---:|")
    floor = statistics.median(floor_seconds(data_dir) for _ in range(repeats))
    print(f"| floor: decode + resample once | {floor:.2f} | 1.00 |")
    for num_proc, subtype in ((None, "FLOAT"), (2, "FLOAT"), (None, "PCM_16")):
        seconds = statistics.median(build_seconds(data_dir, num_proc, subtype) for _ in range(repeats))
        processes = "1 process" if num_proc is None else f"num_proc={num_proc}"
        print(f"| build, {processes}, {subtype} WAV | {seconds:.2f} | {seconds / floor:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_shared = Path(__file__).resolve().parents[2] / "shared" / "icbhi"
    parser.add_argument("--shared", type=Path, default=default_shared, help="real ICBHI sample folder")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch  # noqa: F401  (imported by datasets' Audio encoder; keep it out of the timings)
    import torchcodec  # noqa: F401

    datasets.disable_progress_bars()
    cpu = platform.processor() or "unknown cpu"
    print(f"machine: {platform.machine()}, {cpu}, {os.cpu_count()} cores, python {platform.python_version()}")
    if args.shared.is_dir():
        measure("real ICBHI sample (../shared/icbhi)", args.shared, args.repeats)
    else:
        print(f"\n(real sample skipped: {args.shared} not found)")
    with tempfile.TemporaryDirectory() as folder:
        corpus = make_synthetic_icbhi(Path(folder) / "icbhi", seed=0, **FULL_SIZE)
        measure("synthetic corpus of ICBHI's full size", corpus, args.repeats)


if __name__ == "__main__":
    main()

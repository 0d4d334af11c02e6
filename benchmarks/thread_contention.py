"""Predict and training throughput on CPU when another process competes for a core: torch's default
intra-op threads against the number ``respira.utils.threads`` chooses.

    python benchmarks/thread_contention.py [--rounds 5] [--recordings 6] [--steps 3]

Two workloads, timed in the same run:

- **predict**: ``respira.Detector.predict_file`` (decoding, 4-s windows, featurizer, model,
  smoothing) on the first ``--recordings`` real ICBHI recordings of ../shared/icbhi (synthetic ones
  without it), with the EfficientAT mn04 detector at its native 32 kHz (AudioSet weights from
  ../shared/reference when present, random otherwise, a 2-class multi-label head);
- **training steps**: ``--steps`` steps (forward, backward, AdamW) of the contrastive-embedding
  paper's CNN (1.27 M parameters) on a batch of 16 random 4-s waveforms, after one warm-up step.

Conditions: alone (whatever else the machine runs), and beside a competitor: a second process
spinning a pure-Python busy loop, which holds one core for as long as it runs. In each condition
the automatic choice is measured afresh (``choose_num_threads`` with the cores busy at that moment)
and compared with torch's default (one thread per core): each round runs both workloads with one
setting, then with the other, after a 0.2-s pause each. A ratio is the median over rounds of two
times taken in the same round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers

from _machine import cpu_name, load_average
from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.respira.configuration_efficientat import EfficientATConfig
from respira.models.respira.labels import MULTI_LABEL
from respira.utils.threads import available_cpus, busy_cpus, cgroup_cpu_limit, choose_num_threads

SETTLE_SECONDS = 0.2
DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, before anything changes it


def detector(reference: Path, work: Path) -> tuple[RespiraForAudioClassification, str]:
    checkpoint = reference / "efficientat_mn04_as_mAP_432.pt"
    options = {
        "sampling_rate": 32000,
        "target_seconds": 4.0,
        "projector_dim": None,
        "problem_type": MULTI_LABEL,
    }
    if checkpoint.is_file():
        from respira.models.convert_efficientat import convert_efficientat_checkpoint

        folder = convert_efficientat_checkpoint(checkpoint, work / "mn04")
        return RespiraForAudioClassification.from_encoder_pretrained(
            folder, **options
        ).eval(), "AudioSet weights"
    config = RespiraConfig(encoder_config=EfficientATConfig().to_dict(), **options)
    return RespiraForAudioClassification(config).eval(), "random weights"


def recordings(shared: Path, count: int, work: Path) -> tuple[list[Path], str]:
    database = shared / "ICBHI_final_database"
    if not database.is_dir():
        from respira.synthetic import make_synthetic_icbhi

        database = make_synthetic_icbhi(work / "icbhi", n_patients=4, seed=0) / "ICBHI_final_database"
    files = sorted(database.glob("*.wav"))[:count]
    import soundfile as sf

    seconds = sum(sf.info(path).duration for path in files)
    return files, f"{len(files)} recordings, {seconds:.0f} s of audio, from {database.parent}"


def training_step_function(steps: int) -> Callable[[], None]:
    torch.manual_seed(0)
    model = RespiraForAudioClassification(RespiraConfig(target_seconds=4.0)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    waves, labels = torch.randn(16, 64000), torch.randint(0, 4, (16,))

    def step() -> None:
        optimizer.zero_grad()
        model(waves, labels=labels).loss.backward()
        optimizer.step()

    step()  # warm-up

    def run() -> None:
        for _ in range(steps):
            step()

    return run


def start_competitor() -> subprocess.Popen:
    """A second process that keeps one core busy until it is stopped."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def timed(function: Callable[[], object]) -> float:
    time.sleep(SETTLE_SECONDS)
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[2] / "shared"
    parser.add_argument("--shared", type=Path, default=root / "icbhi", help="real ICBHI sample folder")
    parser.add_argument("--reference", type=Path, default=root / "reference", help="EfficientAT weights")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--recordings", type=int, default=6)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    from respira import Detector

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model, weights = detector(args.reference, work)
        files, source = recordings(args.shared, args.recordings, work)
        train = training_step_function(args.steps)

        def predict() -> None:
            predictor = Detector(model)
            assert all(predictor.predict_file(file).rows for file in files)

        print(f"machine: {cpu_name()}, {os.cpu_count()} cores; torch default {DEFAULT_THREADS} threads")
        print(f"predict: EfficientAT mn04 at 32 kHz ({weights}), {source}")
        print(f"training: CNN, batch 16 × 4 s, {args.steps} steps per measurement; {args.rounds} rounds\n")
        cores = available_cpus(cgroup_cpu_limit())
        results: dict[str, dict[str, dict[str, list[float]]]] = {}
        for condition in ("alone", "beside a busy-loop process"):
            competitor = start_competitor() if condition != "alone" else None
            try:
                time.sleep(1.0)  # let the competitor get going
                busy = busy_cpus(seconds=0.5)
                chosen = choose_num_threads(cores=cores, busy=busy, environ={}).num_threads
                print(f"{condition}: load average {load_average()}; busy cores {busy:.2f} → chosen {chosen}")
                settings = {
                    f"torch default ({DEFAULT_THREADS})": DEFAULT_THREADS,
                    f"chosen ({chosen})": chosen,
                }
                times = {name: {"predict": [], "train": []} for name in settings}
                torch.set_num_threads(chosen)
                predict()  # warm-up (and the model's first-call setup)
                for _ in range(args.rounds):
                    for name, threads in settings.items():
                        torch.set_num_threads(threads)
                        times[name]["predict"].append(timed(predict))
                        times[name]["train"].append(timed(train))
                results[condition] = times
            finally:
                if competitor is not None:
                    competitor.kill()
                    competitor.wait()
        torch.set_num_threads(DEFAULT_THREADS)
    print(f"\nload average after: {load_average()}\n")
    print(
        "| condition | threads | predict s (median) | predict: default / this (median; range) "
        "| training steps/s (median) | training: this / default steps/s (median; range) |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for condition, times in results.items():
        default = next(iter(times.values()))
        for name, measured in times.items():
            speed = [a / b for a, b in zip(default["predict"], measured["predict"], strict=True)]
            train_speed = [a / b for a, b in zip(default["train"], measured["train"], strict=True)]
            steps = args.steps / statistics.median(measured["train"])
            print(
                f"| {condition} | {name} | {statistics.median(measured['predict']):.2f} "
                f"| {statistics.median(speed):.2f}× ({min(speed):.2f}–{max(speed):.2f}) "
                f"| {steps:.2f} | {statistics.median(train_speed):.2f}× "
                f"({min(train_speed):.2f}–{max(train_speed):.2f}) |"
            )
    alone, beside = (list(times.values()) for times in results.values())
    print("\nbeside the competitor / alone (median times; 2× = a fair share of the cores lost):")
    for label, index in (("torch default", 0), ("chosen", 1)):
        slowdowns = [
            statistics.median(beside[index][key]) / statistics.median(alone[index][key])
            for key in ("predict", "train")
        ]
        print(f"- {label}: predict {slowdowns[0]:.2f}×, training {slowdowns[1]:.2f}×")


if __name__ == "__main__":
    main()

"""External validation: an ICBHI-trained detector scored per recording on KAUH (another hospital).

    python studies/kauh_external.py [--shared ../shared] [--epochs 60] [--seeds 0,1,2] [--work DIR]

What it does, in one run, as a user would with the CLI:

1. ``respira convert efficientat`` the real AudioSet-pretrained EfficientAT mn04
   (``../shared/reference/efficientat_mn04_as_mAP_432.pt``);
2. ``respira train recipes/efficientat_frozen_multilabel.yaml`` on the real ICBHI recordings in
   ``../shared/icbhi`` (the recipe's patient-wise 60/20/20 split stratified by chest location, 4 kHz
   low-pass, frozen encoder, BCE on crackle/wheeze, early stopping on the validation ICBHI score) with
   CPU-feasible changes: clean cached embeddings (``augmented_views: 0``, so no waveform augmentation),
   ``--epochs`` epochs, ``--seeds``;
3. ``respira evaluate RUN --dataset kauh`` on ``../shared/kauh``: 4-s windows every 2 s, aggregated per
   recording by ``max`` and by ``topk_mean`` (k = 3), decided at the model's own thresholds;
4. the trivial baselines on the same KAUH recordings: all-normal (never crackle, never wheeze) and a
   logistic regression on log-mel mean/std features trained on the run's own ICBHI training cycles,
   applied to the same windows with the same aggregation (scikit-learn: the ``dev`` extra).

Prints the ICBHI test score of the run and one KAUH table (per-label sensitivity, specificity, AUC and
the ICBHI-style score, overall and per stethoscope filter mode) to paste into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import fit_label_regressions, log_mel_features, respira
from _machine import cpu_name, load_average
from respira.audio import decode_audio
from respira.data import load_kauh
from respira.inference.engine import window_starts
from respira.metrics.recording_level import RECORDING_LABELS, aggregate_windows, recording_level_scores
from respira.models.features.log_mel import LogMelSpectrogram
from respira.run_record import RunRecord
from respira.training.splits.datasets import load_splits

ROOT = Path(__file__).resolve().parent.parent
WINDOW, HOP, TOP_K = 4.0, 2.0, 3


def recording_windows(waveform: np.ndarray, rate: int, *, hop: float = HOP) -> list[np.ndarray]:
    window, hop = int(WINDOW * rate), int(hop * rate)
    if waveform.size < window:
        return [waveform]
    return [waveform[start : start + window] for start in window_starts(waveform.size, window, hop)]


def kauh_scores(targets: np.ndarray, per_recording: list[np.ndarray], thresholds) -> dict[str, dict]:
    """Scores of window probabilities aggregated per recording by max and by the mean of the top k."""
    scores = {}
    for rule in ("max", "topk_mean"):
        top_k = TOP_K if rule == "topk_mean" else None
        aggregated = np.stack([aggregate_windows(p, rule, top_k) for p in per_recording])
        scores[rule] = recording_level_scores(targets, aggregated, thresholds)
    return scores


def logistic_baseline(run: Path, kauh, rate: int) -> tuple[dict[str, dict], dict[str, Any]]:
    """Log-mel mean/std + logistic regression (one per label, class-balanced) on the run's training cycles."""
    record = RunRecord.load(run)
    splits = load_splits(record.data, cache_dir=None)
    featurizer = LogMelSpectrogram(sampling_rate=rate, n_mels=64, f_max=min(4000.0, rate / 2))
    train = splits["train"]
    x = log_mel_features(featurizer, [decode_audio(a, rate) for a in train["audio"]])
    flags = np.column_stack([np.asarray(train["crackle"]), np.asarray(train["wheeze"])])
    predict = fit_label_regressions(x, flags, max_iter=2000)
    per_recording = [
        predict(log_mel_features(featurizer, recording_windows(decode_audio(example["audio"], rate), rate)))
        for example in kauh
    ]
    info = {"train_cycles": len(train), "features": x.shape[1]}
    return per_recording, info


def targets_of(kauh) -> np.ndarray:
    return np.column_stack([np.asarray(kauh[label], dtype=np.int64) for label in RECORDING_LABELS])


def row(name: str, scores: dict[str, dict]) -> str:
    crackle, wheeze, icbhi = scores["crackle"], scores["wheeze"], scores["icbhi"]

    def pct(value: float) -> str:
        return "n/a" if np.isnan(value) else f"{100 * value:.1f}"

    return (
        f"| {name} | {pct(crackle['sensitivity'])} / {pct(crackle['specificity'])} / {pct(crackle['auc'])} "
        f"| {pct(wheeze['sensitivity'])} / {pct(wheeze['specificity'])} / {pct(wheeze['auc'])} "
        f"| {pct(icbhi['icbhi_score'])} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--work", help="keep the converted encoder and the run here (default: a temp folder)")
    args = parser.parse_args()
    shared = Path(args.shared)
    for needed in ("icbhi", "kauh", "reference/efficientat_mn04_as_mAP_432.pt"):
        if not (shared / needed).exists():
            sys.exit(f"{shared / needed} is missing: this benchmark needs the real ICBHI and KAUH files")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="respira_kauh_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, load {load_average()}; torch {torch.__version__}")
    started = time.perf_counter()
    encoder, run = work / "efficientat_mn04", work / "run"
    if not (encoder / "config.json").is_file():
        checkpoint = shared / "reference/efficientat_mn04_as_mAP_432.pt"
        respira("convert", "efficientat", str(checkpoint), str(encoder))
    if not (run / "respira_run.json").is_file():
        respira(
            "train", str(ROOT / "recipes/efficientat_frozen_multilabel.yaml"),
            "--data_dir", str(shared / "icbhi"), "--encoder_name_or_path", str(encoder),
            "--augmented_views", "0", "--augmentation", "{}", "--concat_same_label", "0",
            "--num_train_epochs", str(args.epochs), "--seeds", args.seeds,
            "--output_dir", str(run), "--logging_steps", "50",
        )  # fmt: skip
    trained = time.perf_counter()
    record = RunRecord.load(run)
    icbhi = json.loads((run / "metrics.json").read_text())
    for rule, extra in (("max", ()), ("topk_mean", ("--top_k", str(TOP_K)))):
        respira(
            "evaluate", str(run), "--dataset", "kauh", "--data_dir", str(shared / "kauh"),
            "--aggregation", rule, *extra, "--output_dir", str(work / f"kauh_{rule}"),
        )  # fmt: skip
    evaluated = time.perf_counter()

    rate = int(record.data.sampling_rate)
    kauh = load_kauh(shared / "kauh", sampling_rate=rate)["test"]
    targets = targets_of(kauh)
    all_normal = [np.zeros((1, 2)) for _ in range(len(kauh))]
    lr_windows, lr_info = logistic_baseline(run, kauh, rate)
    lr = kauh_scores(targets, lr_windows, (0.5, 0.5))
    trivial = kauh_scores(targets, all_normal, (0.5, 0.5))

    def model_scores(rule: str) -> dict[str, dict]:
        return json.loads((work / f"kauh_{rule}" / "metrics.json").read_text())["groups"]["overall"]

    thresholds = json.loads((work / "kauh_max" / "metrics.json").read_text())["thresholds"]
    print(f"\nrun: {run} (selected seed {record.selected_seed}); training {trained - started:.0f} s, "
          f"KAUH evaluation {evaluated - trained:.0f} s; model thresholds {thresholds}")  # fmt: skip
    headline = {k: icbhi[k] for k in sorted(icbhi) if "icbhi_score" in k or k.startswith("test_s")}
    print("ICBHI test (cycles):", headline)
    print(f"log-mel LR: {lr_info}")
    header = "crackle Se / Sp / AUC | wheeze Se / Sp / AUC | ICBHI score"
    print(f"\n| method (KAUH, {len(kauh)} recordings) | {header} |")
    print("| --- | --- | --- | --- |")
    print(row("all-normal", trivial["max"]))
    for rule in ("max", "topk_mean"):
        print(row(f"log-mel logistic regression, {rule}", lr[rule]))
        print(row(f"EfficientAT mn04 frozen (ICBHI-trained), {rule}", model_scores(rule)))
    groups = json.loads((work / "kauh_max" / "metrics.json").read_text())["groups"]
    for mode, scores in groups.items():
        if mode != "overall":
            print(row(f"EfficientAT, max, {mode} filter only", scores))


if __name__ == "__main__":
    main()

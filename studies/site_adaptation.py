"""A new site: an ICBHI-trained detector on KAUH as is, adapted without labels, calibrated with a few.

    python studies/site_adaptation.py [--shared ../shared] [--epochs 60] [--seed 0] [--work DIR]
        [--threshold_source validation]

1. ``respira convert efficientat`` the real EfficientAT mn04 and ``respira train
   recipes/efficientat_frozen_multilabel.yaml`` on the real ICBHI sample (as kauh_external.py did:
   clean cached embeddings, ``--epochs``, one seed; ``--threshold_source`` ``validation`` by default to
   stay within a few CPU minutes, the recipe's ``cross_fit`` on request);
2. the KAUH recordings (``--filter_mode``: one stethoscope filter, or all) are embedded once, in
   windows of 4 s every ``--hop`` s, by the functions ``respira adapt`` calls
   (:func:`respira.sites.adaptation.window_embeddings`); every variant then only re-runs the head on
   those embeddings, so the encoder (the cost) runs once. Variants, each scored per recording (max over
   its windows) with the ICBHI-style score and a patient-bootstrap interval as ``respira evaluate
   --dataset kauh`` does: the model as trained on ICBHI; ``adapt`` with ``head_norm`` (statistics of
   the KAUH window embeddings), ``prior_shift`` (EM from the run's ``label_priors``), both;
3. few-shot calibration (:func:`_calibration.learning_curve`, what ``respira calibrate``
   reports): held-out score with thresholds tuned on n labelled KAUH patients, beside the thresholds
   before, for the model as trained and for the adapted one.

Prints the tables to paste into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from _calibration import LabelledSample, learning_curve
from _common import respira
from _machine import cpu_name, load_average
from _prior_shift import estimate_prior_shift
from respira.audio import read_audio
from respira.core.decision import thresholds_of
from respira.data import read_kauh_index
from respira.hub.loading import load_model
from respira.metrics.recording_level import (
    RECORDING_LABELS,
    aggregate_windows,
    flatten_scores,
    patient_bootstrap,
    recording_level_scores,
)
from respira.sites.adaptation import head_norm_statistics, window_embeddings

ROOT = Path(__file__).resolve().parent.parent


def pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def scored(targets: np.ndarray, probabilities: np.ndarray, patients: np.ndarray, thresholds) -> dict:
    """Recording-level scores with patient-bootstrap intervals, as ``evaluate --dataset kauh``."""
    scores = recording_level_scores(targets, probabilities, thresholds)

    def statistic(indices: np.ndarray) -> dict[str, float]:
        return flatten_scores(recording_level_scores(targets[indices], probabilities[indices], thresholds))

    intervals = patient_bootstrap(statistic, patients, resamples=1000, seed=0)
    scores["icbhi"]["ci"] = intervals["icbhi.icbhi_score"]
    scores["thresholds"] = [float(t) for t in thresholds]
    return scores


def row(name: str, scores: dict) -> str:
    crackle, wheeze, icbhi = scores["crackle"], scores["wheeze"], scores["icbhi"]
    low, high = icbhi["ci"]
    crackle_t, wheeze_t = scores["thresholds"]
    return (
        f"| {name} | {crackle_t:.3f} / {wheeze_t:.3f} "
        f"| {pct(crackle['sensitivity'])} / {pct(crackle['specificity'])} / {pct(crackle['auc'])} "
        f"| {pct(wheeze['sensitivity'])} / {pct(wheeze['specificity'])} / {pct(wheeze['auc'])} "
        f"| {pct(icbhi['icbhi_score'])} ({pct(low)}–{pct(high)}) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--threshold_source", default="validation")
    parser.add_argument("--work", help="keep the encoder and the run here (default: a temp folder)")
    parser.add_argument("--filter_mode", default="diaphragm", help="bell, diaphragm, extended or all")
    parser.add_argument("--hop", type=float, default=4.0, help="seconds between KAUH windows")
    parser.add_argument("--repeats", type=int, default=20, help="patient subsets per learning-curve point")
    args = parser.parse_args()
    shared = Path(args.shared)
    for needed in ("icbhi", "kauh", "reference/efficientat_mn04_as_mAP_432.pt"):
        if not (shared / needed).exists():
            sys.exit(f"{shared / needed} is missing: this benchmark needs the real ICBHI and KAUH files")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="respira_site_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, load {load_average()}; torch {torch.__version__}")
    started = time.perf_counter()
    encoder, run, kauh = work / "efficientat_mn04", work / "run", str(shared / "kauh")
    if not (encoder / "config.json").is_file():
        respira(
            "convert", "efficientat", str(shared / "reference/efficientat_mn04_as_mAP_432.pt"), str(encoder)
        )
    if not (run / "respira_run.json").is_file():
        respira(
            "train", str(ROOT / "recipes/efficientat_frozen_multilabel.yaml"),
            "--data_dir", str(shared / "icbhi"), "--encoder_name_or_path", str(encoder),
            "--augmented_views", "0", "--augmentation", "{}", "--concat_same_label", "0",
            "--num_train_epochs", str(args.epochs), "--seeds", args.seed,
            "--threshold_source", args.threshold_source, "--output_dir", str(run), "--logging_steps", "50",
        )  # fmt: skip
    timings = {"train": time.perf_counter() - started}
    model, config = load_model(run, device="cpu")
    rate = int(config.sampling_rate)
    index = read_kauh_index(kauh)
    if args.filter_mode != "all":
        index = index[index["filter_mode"] == args.filter_mode].reset_index(drop=True)
    tick = time.perf_counter()
    per_recording = [
        window_embeddings(model, [read_audio(path, rate)], window=4.0, hop=args.hop) for path in index["path"]
    ]
    timings["embed KAUH"] = time.perf_counter() - tick
    embeddings = np.concatenate(per_recording)
    targets = index[list(RECORDING_LABELS)].to_numpy(dtype=np.int64)
    patients = index["patient_id"].to_numpy()
    norm = model.head_norm
    trained_stats = (norm.running_mean.clone(), norm.running_var.clone())
    target_stats = [torch.as_tensor(v, dtype=torch.float32) for v in head_norm_statistics(embeddings)]
    before = thresholds_of(config)

    def window_probabilities(stats) -> np.ndarray:
        norm.running_mean.copy_(stats[0])
        norm.running_var.copy_(stats[1])
        with torch.no_grad():
            return torch.sigmoid(model(embeddings=torch.from_numpy(embeddings)).logits).numpy()

    def per_recording_max(window_probs: np.ndarray) -> np.ndarray:
        bounds = np.cumsum([0, *map(len, per_recording)])
        return np.stack([aggregate_windows(window_probs[a:b], "max") for a, b in itertools.pairwise(bounds)])

    results, curves = {}, {}
    for name, stats, shift in (
        ("as trained on ICBHI", trained_stats, False),
        ("adapt: head_norm", target_stats, False),
        ("adapt: prior_shift", trained_stats, True),
        ("adapt: head_norm + prior_shift", target_stats, True),
    ):
        window_probs = window_probabilities(stats)
        thresholds = before
        if shift:
            shifts = estimate_prior_shift(window_probs, config.label_priors, before)
            thresholds = tuple(s.shifted_threshold for s in shifts)
            print(name, [(round(s.source_prior, 3), round(s.target_prior, 3)) for s in shifts])
        probabilities = per_recording_max(window_probs)
        results[name] = scored(targets, probabilities, patients, thresholds)
        if name in ("as trained on ICBHI", "adapt: head_norm + prior_shift"):
            sample = LabelledSample(probabilities, targets[:, :2], patients, "recording")
            curves[name] = learning_curve(sample, thresholds, repeats=args.repeats)

    print(f"\nrun {run}; seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(f"label_priors of the run (ICBHI training cycles): {config.label_priors}")
    header = "thresholds c / w | crackle Se / Sp / AUC | wheeze Se / Sp / AUC | ICBHI-style score (95 % CI)"
    print(f"\n| KAUH {args.filter_mode}, {len(index)} recordings, max over windows | {header} |")
    print("| --- | --- | --- | --- | --- |")
    for name, scores in results.items():
        print(row(name, scores))
    print(
        f"\nfew-shot calibration: held-out ICBHI-style score, mean ± sd over {args.repeats} patient subsets"
    )
    print("| labelled patients | " + " | ".join(f"{name}: before / tuned" for name in curves) + " |")
    print("| --- |" + " --- |" * len(curves))
    patients_total = len(np.unique(patients))
    for position, entry in enumerate(next(iter(curves.values()))):
        if entry["patients"] in (1, 2, 5, 10, 20, 40, patients_total - 1):
            cells = [
                f"{pct(c[position]['model_mean'])} / {pct(c[position]['calibrated_mean'])} "
                f"± {pct(c[position]['calibrated_std'])}"
                for c in curves.values()
            ]
            print(f"| {entry['patients']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""A new site: an ICBHI-trained detector on KAUH as is, adapted without labels, calibrated with a few.

    python benchmarks/site_adaptation.py [--shared ../shared] [--epochs 60] [--seed 0] [--work DIR]
        [--threshold_source validation]

1. ``respira convert efficientat`` the real EfficientAT mn04 and ``respira train
   recipes/efficientat_frozen_multilabel.yaml`` on the real ICBHI sample (as benchmarks/kauh_external.py:
   clean cached embeddings, ``--epochs``, one seed; ``--threshold_source`` ``validation`` by default to
   stay within a few CPU minutes, the recipe's ``cross_fit`` on request);
2. ``respira evaluate RUN --dataset kauh`` (per recording, max over 4 s windows every 2 s) of the model
   as is, and of ``respira adapt`` on KAUH's unlabelled audio with each method (``head_norm``,
   ``prior_shift``, both);
3. ``respira calibrate --dataset kauh``: the learning curve's held-out ICBHI-style score with
   thresholds tuned on n labelled KAUH patients, beside the model's own thresholds on the same
   patients.

Prints one table to paste into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import respira
from _machine import cpu_name, load_average

ROOT = Path(__file__).resolve().parent.parent


def pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def row(name: str, metrics: dict) -> str:
    overall = metrics["groups"]["overall"]
    crackle, wheeze, icbhi = overall["crackle"], overall["wheeze"], overall["icbhi"]
    low, high = icbhi["ci"]["icbhi_score"]
    thresholds = metrics["thresholds"]
    return (
        f"| {name} | {thresholds['crackle']:.3f} / {thresholds['wheeze']:.3f} "
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
    parser.add_argument("--work", help="keep the encoder, the run and the adapted models here")
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

    def evaluate(model: Path, name: str) -> dict:
        out = work / f"kauh_{name}"
        respira("evaluate", str(model), "--dataset", "kauh", "--data_dir", kauh, "--output_dir", str(out))
        return json.loads((out / "metrics.json").read_text())

    results = {"as trained on ICBHI": evaluate(run, "none")}
    adapted_folders: dict[str, Path] = {}
    for methods in (["head_norm"], ["prior_shift"], ["head_norm", "prior_shift"]):
        name = "+".join(methods)
        tick = time.perf_counter()
        adapted = work / f"adapted_{name}"
        respira(
            "adapt", str(run), "--data_dir", kauh, "--dataset", "kauh", "--output_dir", str(adapted),
            "--overwrite", "--methods", *methods,
        )  # fmt: skip
        timings[f"adapt {name}"] = time.perf_counter() - tick
        results[f"adapt ({' + '.join(methods)})"] = evaluate(adapted, name)
        adapted_folders[name] = adapted
    tick = time.perf_counter()
    calibrated = work / "calibrated"
    respira("calibrate", str(run), "--data_dir", kauh, "--dataset", "kauh", "--output_dir", str(calibrated),
            "--overwrite", "--repeats", "20")  # fmt: skip
    timings["calibrate"] = time.perf_counter() - tick
    report = json.loads((calibrated / "calibration.json").read_text())

    print(f"\nrun {run}; seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    print(
        f"ICBHI label_priors of the run: {json.loads((run / 'config.json').read_text()).get('label_priors')}"
    )
    header = "thresholds c / w | crackle Se / Sp / AUC | wheeze Se / Sp / AUC | ICBHI-style score (95 % CI)"
    recordings = results["as trained on ICBHI"]["num_recordings"]
    print(f"\n| KAUH, {recordings} recordings, max over windows | {header} |")
    print("| --- | --- | --- | --- | --- |")
    for name, metrics in results.items():
        print(row(name, metrics))
    for name, folder in adapted_folders.items():
        shifts = json.loads((folder / "config.json").read_text())["adaptation"]["prior_shift"]
        for shift in shifts:
            print(
                f"{name}: {shift['flag']} prevalence {shift['source_prior']:.3f} -> "
                f"{shift['target_prior']:.3f}, threshold {shift['threshold']:.3f} -> "
                f"{shift['shifted_threshold']:.3f}"
            )
    print(f"\ncalibrate on KAUH ({report['patients']} patients): held-out ICBHI-style score, mean ± sd over "
          f"{report['learning_curve_repeats']} random patient subsets")  # fmt: skip
    print("| labelled patients | thresholds tuned on them | the model's thresholds |")
    print("| --- | --- | --- |")
    for entry in report["learning_curve"]:
        if entry["patients"] in (1, 2, 5, 10, 20, 40, report["patients"] - 1):
            print(
                f"| {entry['patients']} | {pct(entry['calibrated_mean'])} ± {pct(entry['calibrated_std'])} "
                f"| {pct(entry['model_mean'])} ± {pct(entry['model_std'])} |"
            )


if __name__ == "__main__":
    main()

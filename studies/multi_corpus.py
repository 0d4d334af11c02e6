"""ICBHI + KAUH (multiple-instance bags of windows) vs ICBHI alone, scored on held-out KAUH patients.

    python studies/multi_corpus.py [--shared ../shared] [--folds 4] [--seeds 0,1,2] [--epochs 40]
        [--pooling max] [--work DIR]

Protocol (KAUH patient-grouped k-fold; a patient's three filter-mode recordings always on one side):

1. ``respira convert efficientat`` the real AudioSet-pretrained EfficientAT mn04;
2. the flagship recipe (``recipes/efficientat_frozen_multilabel.yaml``: frozen encoder, head_norm +
   linear head, BCE on crackle/wheeze, patient-wise 60/20/20 ICBHI split, early stopping on ICBHI
   validation, cross-fitted thresholds over 5 patient groups) with ``corpora: [icbhi, kauh]``; its
   splits are built once by :func:`respira.training.splits.datasets.load_splits` (ICBHI cycles + every KAUH
   recording cut into 4-s windows every 2 s) and every cycle and window is embedded **once, clean**
   (CPU-feasible: ``augmented_views: 0``, no waveform augmentation, ``--epochs`` epochs);
3. KAUH patients cut into ``--folds`` folds (:func:`respira.data.kauh_patient_folds`, stratified by
   the recording class); for each fold x seed, :func:`respira.training.run.seeds.run_seed` (what ``respira
   train`` runs per seed) trains the multi-corpus model on ICBHI train + the KAUH windows of the other
   folds' patients (cycle BCE + bag BCE, ``--pooling``), and the ICBHI-only flagship (per seed; it saw
   no KAUH patient) is trained the same way on ICBHI train alone;
4. each model scores the held-out fold's KAUH recordings as ``respira evaluate --dataset kauh`` does
   (4-s windows every 2 s, window probabilities aggregated by ``max`` per recording, decided at the
   model's own thresholds; :func:`respira.metrics.recording_level.recording_level_scores`), beside
   the all-normal classifier and a log-mel logistic regression (mean/std of 64 log-mel bands, one
   class-balanced regression per label) fitted on the ICBHI training cycles; its ICBHI test split
   (patient-wise) score shows what the extra corpus costs at home.

Prints per method: mean ± sd over fold x seed and the 95 % t-interval, and the paired difference
multi-corpus − ICBHI-only (same fold, same seed). Embeddings are kept in ``--work`` (reruns skip them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from _common import fit_label_regressions, log_mel_features, respira
from _machine import cpu_name, load_average
from respira.audio import decode_audio
from respira.core.decision import thresholds_of
from respira.data import kauh_patient_folds, read_kauh_index
from respira.labels import classes_to_flags
from respira.metrics.recording_level import aggregate_windows, recording_level_scores
from respira.metrics.thresholds import sigmoid
from respira.models.features.log_mel import LogMelSpectrogram
from respira.training.recipe.model_factory import build_model, model_sampling_rate
from respira.training.recipe.recipe import parse_recipe
from respira.training.run.seeds import run_seed
from respira.training.splits.datasets import data_record, load_splits
from respira.training.splits.multi_corpus import BAG_COLUMN, CORPUS_COLUMN, PATIENT_OFFSET

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes/efficientat_frozen_multilabel.yaml"
KEYS = ("crackle_auc", "wheeze_auc", "icbhi_score", "crackle_se", "wheeze_se", "specificity")


def embedded_splits(work: Path, recipe_args, splits) -> Any:
    """Every split with an ``embeddings`` column (the clean view), computed once and kept in ``work``."""
    from respira.models.embeddings import compute_embeddings, with_embeddings

    model_args = recipe_args[0]
    result = datasets.DatasetDict()
    model = None
    for name, split in splits.items():
        path = work / f"embeddings_{name}.npy"
        if path.is_file():
            result[name] = with_embeddings(split.remove_columns("audio"), np.load(path))
            continue
        if model is None:
            model = build_model(model_args, splits["train"]["label"])
        started = time.perf_counter()
        result[name] = compute_embeddings(model, split, batch_size=32)
        np.save(path, np.asarray(result[name]["embeddings"], dtype=np.float32))
        print(f"embedded {name}: {len(split)} rows in {time.perf_counter() - started:.0f} s", flush=True)
    return result


def recording_scores(probabilities: np.ndarray, windows, thresholds) -> dict[str, float]:
    """Per-recording scores of window probabilities (bags of ``windows``), aggregated by max."""
    bags = np.asarray(windows[BAG_COLUMN])
    flags = classes_to_flags(np.asarray(windows["label"]))
    ids = np.unique(bags)
    aggregated = np.stack([aggregate_windows(probabilities[bags == b], "max") for b in ids])
    targets = np.stack([flags[np.flatnonzero(bags == b)[0]] for b in ids])
    normal = (targets.sum(axis=1) == 0).astype(np.int64)
    scores = recording_level_scores(np.column_stack([targets, normal]), aggregated, thresholds)
    return {
        "crackle_auc": scores["crackle"]["auc"],
        "wheeze_auc": scores["wheeze"]["auc"],
        "icbhi_score": scores["icbhi"]["icbhi_score"],
        "crackle_se": scores["crackle"]["sensitivity"],
        "wheeze_se": scores["wheeze"]["sensitivity"],
        "specificity": scores["icbhi"]["specificity"],
    }


def train(recipe_args, splits, seed: int, folder: Path) -> tuple[Any, dict[str, Any]]:
    """One seed of the recipe on ``splits`` (what ``respira train`` runs per seed); trainer and test."""
    model_args, data_args, run_args, args = recipe_args
    outcome = run_seed(model_args, data_args, run_args, args, splits, seed, folder)
    return outcome.trainer, outcome.test


def summary(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{100 * mean:.1f}"
    sd = statistics.stdev(values)
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
    return f"{100 * mean:.1f} ± {100 * sd:.1f} [{100 * (mean - half):.1f}, {100 * (mean + half):.1f}]"


def report(results: dict[str, list[dict[str, float]]], icbhi_test: dict[str, list[float]]) -> None:
    """The KAUH table (mean ± sd [95 % interval] over fold x seed), the paired difference multi-corpus −
    ICBHI-only, and the ICBHI test scores."""
    print(
        "\n| method (held-out KAUH patients, per recording) | crackle AUC | wheeze AUC | ICBHI-style score "
        "| crackle Se | wheeze Se | Sp |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, runs in results.items():
        cells = " | ".join(summary([run[key] for run in runs]) for key in KEYS)
        print(f"| {name} | {cells} |")
    multi, base = results["ICBHI + KAUH (MIL)"], results["ICBHI-only flagship"]
    paired = [{key: m[key] - b[key] for key in KEYS} for m, b in zip(multi, base, strict=False)]
    cells = " | ".join(summary([run[key] for run in paired]) for key in KEYS)
    print(f"| paired difference (multi − ICBHI-only) | {cells} |")
    for name, values in icbhi_test.items():
        print(f"ICBHI test split (patient-wise, cycles) score, {name}: {summary(values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--pooling", default="max")
    parser.add_argument("--mil_weight", type=float, default=1.0)
    parser.add_argument("--work", help="keep the encoder, the embeddings and the runs here")
    parser.add_argument("--report", action="store_true", help="print the tables of --work's results.json")
    args = parser.parse_args()
    if args.report:
        saved = json.loads((Path(args.work) / "results.json").read_text())
        report(saved["kauh"], saved["icbhi_test"])
        return
    shared = Path(args.shared)
    for needed in ("icbhi", "kauh", "reference/efficientat_mn04_as_mAP_432.pt"):
        if not (shared / needed).exists():
            sys.exit(f"{shared / needed} is missing: this benchmark needs the real ICBHI and KAUH files")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="respira_multi_corpus_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, load {load_average()}; torch {torch.__version__}")
    started = time.perf_counter()
    encoder = work / "efficientat_mn04"
    if not (encoder / "config.json").is_file():
        respira(
            "convert", "efficientat", str(shared / "reference/efficientat_mn04_as_mAP_432.pt"), str(encoder)
        )
    overrides = [
        "--encoder_name_or_path", str(encoder), "--data_dir", str(shared / "icbhi"),
        "--corpora", "icbhi,kauh", "--corpus_dirs", json.dumps({"kauh": str(shared / "kauh")}),
        "--augmented_views", "0", "--augmentation", "{}", "--concat_same_label", "0",
        "--num_train_epochs", str(args.epochs), "--mil_pooling", args.pooling,
        "--mil_weight", str(args.mil_weight), "--logging_steps", "1000", "--disable_tqdm", "true",
        "--save_total_limit", "1", "--output_dir", str(work / "unused"),
    ]  # fmt: skip
    recipe_args = parse_recipe(RECIPE, overrides)
    data = data_record(recipe_args[1], model_sampling_rate(recipe_args[0]))
    splits = embedded_splits(work, recipe_args, load_splits(data))
    embedded = time.perf_counter()
    train_rows = splits["train"]
    corpus = np.asarray(train_rows[CORPUS_COLUMN])
    kauh_rows = np.flatnonzero(corpus == "kauh")
    kauh_windows = train_rows.select(kauh_rows)
    patients = np.asarray(kauh_windows["patient_id"]) - PATIENT_OFFSET
    index = read_kauh_index(shared / "kauh")
    fold_of = dict(zip(index["patient_id"], kauh_patient_folds(index, args.folds, seed=0), strict=True))
    window_fold = np.array([fold_of[p] for p in patients])
    icbhi_only = datasets.DatasetDict(dict(splits))
    icbhi_only["train"] = train_rows.select(np.flatnonzero(corpus == "icbhi"))

    # log-mel logistic regression on the ICBHI training cycles (deterministic: one fit)
    raw = load_splits(data)
    rate = int(data.sampling_rate)
    featurizer = LogMelSpectrogram(sampling_rate=rate, n_mels=64, f_max=4000.0)
    raw_train = raw["train"]
    raw_corpus = np.asarray(raw_train[CORPUS_COLUMN])
    cycles = raw_train.select(np.flatnonzero(raw_corpus == "icbhi"))
    features = log_mel_features(featurizer, [decode_audio(a, rate) for a in cycles["audio"]])
    predict = fit_label_regressions(features, classes_to_flags(np.asarray(cycles["label"])), max_iter=2000)
    raw_windows = raw_train.select(np.flatnonzero(raw_corpus == "kauh"))
    lr_probabilities = predict(
        log_mel_features(featurizer, [decode_audio(a, rate) for a in raw_windows["audio"]])
    )

    results: dict[str, list[dict[str, float]]] = {
        "all-normal": [], "log-mel LR (ICBHI)": [], "ICBHI-only flagship": [], "ICBHI + KAUH (MIL)": []
    }  # fmt: skip
    icbhi_test: dict[str, list[float]] = {"ICBHI-only flagship": [], "ICBHI + KAUH (MIL)": []}
    seeds = [int(s) for s in args.seeds.split(",")]
    for seed in seeds:
        trainer, test = train(recipe_args, icbhi_only, seed, work / f"icbhi_only_seed{seed}")
        icbhi_test["ICBHI-only flagship"].append(test["test_icbhi_score"])
        base_probabilities = sigmoid(trainer.predict_logits(kauh_windows))
        base_thresholds = thresholds_of(trainer.model.config)
        for fold in range(args.folds):
            held = np.flatnonzero(window_fold == fold)
            windows = kauh_windows.select(held)
            multi = datasets.DatasetDict(dict(splits))
            keep = np.concatenate([np.flatnonzero(corpus == "icbhi"), kauh_rows[window_fold != fold]])
            multi["train"] = train_rows.select(np.sort(keep))
            run = work / f"multi_fold{fold}_seed{seed}"
            multi_trainer, multi_test = train(recipe_args, multi, seed, run)
            icbhi_test["ICBHI + KAUH (MIL)"].append(multi_test["test_icbhi_score"])
            probabilities = sigmoid(multi_trainer.predict_logits(windows))
            thresholds = thresholds_of(multi_trainer.model.config)
            results["ICBHI + KAUH (MIL)"].append(recording_scores(probabilities, windows, thresholds))
            results["ICBHI-only flagship"].append(
                recording_scores(base_probabilities[held], windows, base_thresholds)
            )
            results["all-normal"].append(recording_scores(np.zeros((len(held), 2)), windows, (0.5, 0.5)))
            results["log-mel LR (ICBHI)"].append(
                recording_scores(lr_probabilities[held], windows, (0.5, 0.5))
            )
            print(
                f"fold {fold} seed {seed}: multi {results['ICBHI + KAUH (MIL)'][-1]} thresholds "
                f"{thresholds}; ICBHI-only {results['ICBHI-only flagship'][-1]} thresholds {base_thresholds}",
                flush=True,
            )
            (work / "results.json").write_text(
                json.dumps({"kauh": results, "icbhi_test": icbhi_test}, indent=1)
            )
    finished = time.perf_counter()
    print(
        f"\n{len(index)} KAUH recordings of {index['patient_id'].nunique()} patients in {args.folds} folds; "
        f"{len(kauh_windows)} windows; {len(icbhi_only['train'])} ICBHI training cycles; seeds {seeds}; "
        f"{args.epochs} epochs, pooling {args.pooling}, mil_weight {args.mil_weight}; embeddings "
        f"{embedded - started:.0f} s, training and scoring {finished - embedded:.0f} s; load {load_average()}"
    )
    report(results, icbhi_test)


if __name__ == "__main__":
    main()

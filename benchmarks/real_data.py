"""The real-data study: every method and the trivial baselines under the same patient-wise k-fold CV.

    python benchmarks/real_data.py [--shared ../shared] [--folds 5] [--seeds 0] [--work DIR]
        [--methods all_normal,class_prior,logmel_lr,cnn_ce,...]

On the real ICBHI recordings of ``../shared/icbhi`` the folds are built once by the ICBHI builder
(``split_strategy: patient_kfold``, stratified by class, split seed 0): every cycle is tested exactly
once, by a model that never saw its patient; validation (20 % of the training pool, whole patients)
chooses epochs and thresholds, never the test fold. In one run, on those folds:

* **baselines**, computed here: all-normal, class prior (the training pool's class shares, drawn at
  random per cycle: its expected score), and a logistic regression on log-mel mean/std features
  (64 bands to 4 kHz, 16 kHz audio, 4 kHz low-pass; one class-balanced regression per label, fit on the
  training pool, decided at 0.5);
* **methods**, trained as a user would, ``respira train RECIPE --split_strategy patient_kfold``: CNN
  cross-entropy (``cnn_ce.yaml``), CNN + ADD, CNN contrastive two-stage (``cnn_contrastive.yaml``),
  EfficientAT mn04 frozen multi-label with the augmented-embedding cache
  (``efficientat_frozen_multilabel.yaml``: thresholds from validation and cross-fitted on the training
  pool, with and without augmentation; also its old head and two other decision rules), EfficientAT
  mn04 fine-tuned, with and without ADD;
* **diagnostics**: the logistic regression on the frozen EfficientAT's clean embeddings (32 kHz, 8 s),
  what a head on those embeddings can reach, decided at 0.5 and at thresholds tuned on each test fold
  itself (an oracle: the ceiling of any decision rule for that model, not a method).

CPU-feasible settings (this is a 2-core machine), in the overrides below: CNN 8 epochs (recipe 60) on
4-s cycles; contrastive 2 rounds of 3 contrastive + 3 head epochs, from a random CNN (a per-fold CE
start would need one CE run per fold), its contrastive stage at 1e-3 (the recipe's 1e-5 is for a
CE-trained start); frozen EfficientAT 60 head epochs (recipe 100); fine-tuning 10 epochs at lr 1e-4
on 4-s cycles, batch 16 (augmentation on the fly: the cache needs a frozen encoder).
Each method's result is kept in ``--work/results/<method>.json`` and reused by the next invocation,
so ``--methods`` can add or rerun methods; the table is printed from all results present.

Reported per method: the ICBHI score (mean ± sample std over folds x seeds and the 95 % Student-t
interval of the mean), the pooled out-of-fold score, and the test ROC-AUC per label (single-label
models: the softmax probability of every class containing the label).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
import yaml

from _common import fit_label_regressions, log_mel_features, respira
from _machine import cpu_name, load_average
from respira.audio import decode_audio
from respira.labels import classes_to_flags, flags_to_classes
from respira.metrics import icbhi_scores
from respira.metrics.baselines import class_prior, trivial_baselines
from respira.metrics.multilabel import roc_auc
from respira.metrics.thresholds import tune_thresholds
from respira.models.features.log_mel import LogMelSpectrogram
from respira.run_record import DataRecord
from respira.training.datasets import load_splits
from respira.training.folds import cycle_keys, t_interval

ROOT = Path(__file__).resolve().parent.parent
RATE, LOWPASS = 16_000, 4000.0
BASELINES = ("all_normal", "class_prior", "logmel_lr")
DIAGNOSTICS = ("efficientat_embedding_lr", "efficientat_embedding_lr_oracle")
HEADLINE = ("icbhi_score", "specificity", "sensitivity")


@dataclass(frozen=True)
class Method:
    """A method trained with ``respira train``: its recipe, CPU-feasible overrides and label."""

    label: str
    recipe: str
    overrides: tuple[str, ...]
    pretrained: bool = False
    """Needs the converted EfficientAT encoder (``--encoder_name_or_path``)."""
    drop: tuple[str, ...] = ()
    """Recipe fields removed (the run uses their defaults), in a copy of the recipe under ``--work``."""


CNN = ("--num_train_epochs", "8", "--target_seconds", "4", "--early_stopping_patience", "4")
ADD = ("--aux_loss", "add", "--aux_loss_weight", "1.0", "--aux_input", "embeddings")
FINETUNE = (
    "--head", "linear", "--head_norm", "true", "--freeze_encoder", "false", "--learning_rate", "0.0001",
    "--num_train_epochs", "10", "--target_seconds", "4", "--per_device_train_batch_size", "16",
    "--early_stopping_patience", "4", "--threshold_source", "validation",
)  # fmt: skip
FROZEN_HEAD = ("--num_train_epochs", "60", "--head", "linear", "--head_norm", "true")
FROZEN = (*FROZEN_HEAD, "--threshold_source", "validation")
CROSS_FIT = (*FROZEN_HEAD, "--threshold_source", "cross_fit")
CONTRASTIVE = (
    "--learning_rate", "0.001", "--two_stage_rounds", "2", "--num_train_epochs", "3",
    "--head_epochs", "3", "--target_seconds", "4",
)  # fmt: skip
METHODS: dict[str, Method] = {
    "cnn_ce": Method("CNN, cross-entropy", "cnn_ce.yaml", CNN),
    "cnn_add": Method("CNN, CE + ADD", "cnn_ce.yaml", CNN + ADD),
    "cnn_contrastive": Method(
        "CNN, contrastive two-stage (from a random CNN)",
        "cnn_contrastive.yaml",
        CONTRASTIVE,
        drop=("encoder_name_or_path",),  # no CE run to start from
    ),
    "efficientat_frozen_raw": Method(
        "EfficientAT mn04 frozen, ReLU head on raw embeddings (before head_norm)",
        "efficientat_frozen_multilabel.yaml",
        ("--num_train_epochs", "60", "--head", "mlp", "--head_norm", "false"),
        pretrained=True,
    ),
    "efficientat_frozen": Method(
        "EfficientAT mn04 frozen, standardised embeddings, linear head (augmented cache, K = 2), "
        "thresholds from validation",
        "efficientat_frozen_multilabel.yaml",
        FROZEN,
        pretrained=True,
    ),
    "efficientat_frozen_cross_fit": Method(
        "the same, thresholds cross-fitted on the training pool (the recipe)",
        "efficientat_frozen_multilabel.yaml",
        CROSS_FIT,
        pretrained=True,
    ),
    "efficientat_frozen_cross_fit_clean": Method(
        "the same, cross-fitted thresholds, no augmentation (`augmented_views: 0`)",
        "efficientat_frozen_multilabel.yaml",
        (*CROSS_FIT, "--augmented_views", "0"),
        pretrained=True,
    ),
    "efficientat_frozen_youden": Method(
        "EfficientAT mn04 frozen, standardised, linear head, thresholds for Youden's J (validation)",
        "efficientat_frozen_multilabel.yaml",
        (*FROZEN, "--threshold_objective", "youden"),
        pretrained=True,
    ),
    "efficientat_frozen_balanced": Method(
        "EfficientAT mn04 frozen, standardised, linear head, pos_weight auto, fixed 0.5 thresholds",
        "efficientat_frozen_multilabel.yaml",
        (*FROZEN, "--pos_weight", "auto", "--threshold_objective", "fixed"),
        pretrained=True,
    ),
    "efficientat_finetune": Method(
        "EfficientAT mn04 fine-tuned, standardised embeddings, linear head",
        "efficientat_frozen_multilabel.yaml",
        FINETUNE,
        True,
        drop=("augmented_views",),  # the cache needs a frozen encoder: augmentation runs on the fly
    ),
    "efficientat_finetune_add": Method(
        "EfficientAT mn04 fine-tuned + ADD, standardised embeddings, linear head",
        "efficientat_frozen_multilabel.yaml",
        FINETUNE + ADD,
        True,
        drop=("augmented_views",),
    ),
}
LABELS = {
    "all_normal": "all-normal",
    "class_prior": "class prior (expected)",
    "logmel_lr": "logistic regression on log-mel mean/std",
    "efficientat_embedding_lr": "diagnostic: logistic regression on frozen EfficientAT embeddings",
    "efficientat_embedding_lr_oracle": "diagnostic: the same, thresholds tuned on the test fold (a ceiling)",
    **{name: method.label for name, method in METHODS.items()},
}


def fold_record(data_dir: Path, folds: int, fold: int) -> DataRecord:
    return DataRecord(
        data_dir=str(data_dir),
        sampling_rate=RATE,
        split_strategy="patient_kfold",
        validation_size=0.2,
        num_folds=folds,
        fold=fold,
        lowpass_cutoff=LOWPASS,
    )


def fold_result(labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray | None) -> dict:
    scores = icbhi_scores(labels, predictions, warn=False)
    result = {key: float(scores[key]) for key in HEADLINE}
    flags = classes_to_flags(labels)
    for index, name in enumerate(("crackle", "wheeze")):
        result[f"auc_{name}"] = (
            roc_auc(flags[:, index], probabilities[:, index]) if probabilities is not None else math.nan
        )
    return result


def fold_pools(data_dir: Path, folds: int) -> Iterator[tuple[list[datasets.Dataset], datasets.Dataset]]:
    """Per fold: its training pool (train and validation) and its test split."""
    for fold in range(folds):
        splits = load_splits(fold_record(data_dir, folds, fold))
        yield [splits[name] for name in ("train", "validation") if name in splits], splits["test"]


def labels_of(parts: list[datasets.Dataset]) -> np.ndarray:
    return np.concatenate([np.asarray(part["label"]) for part in parts])


def trivial_results(data_dir: Path, folds: int) -> dict[str, dict[str, Any]]:
    """Per fold: the all-normal classifier and the class prior of the training pool, drawn at random
    per test cycle (its expected scores)."""
    normal_runs, prior_runs, pooled = [], [], []
    for pool, test in fold_pools(data_dir, folds):
        labels = np.asarray(test["label"])
        normal_runs.append(fold_result(labels, np.zeros_like(labels), None))
        pooled.append(labels)
        expected = trivial_baselines(labels, prior=class_prior(labels_of(pool)))
        prior_runs.append(
            {key: expected[f"baseline_class_prior_{key}"] for key in HEADLINE}
            | {"auc_crackle": 0.5, "auc_wheeze": 0.5}
        )
    all_normal, prior = summarise(normal_runs), summarise(prior_runs)
    labels = np.concatenate(pooled)
    all_normal["out_of_fold_icbhi_score"] = float(
        icbhi_scores(labels, np.zeros_like(labels), warn=False)["icbhi_score"]
    )
    prior["out_of_fold_icbhi_score"] = prior["icbhi_score_mean"]  # the expected pooled score
    return {"all_normal": all_normal, "class_prior": prior}


def regression_results(
    data_dir: Path, folds: int, features: Callable[[datasets.Dataset], np.ndarray], *, oracle: bool = False
) -> dict[str, Any]:
    """Per fold: class-balanced logistic regressions (crackle, wheeze) on ``features`` of each split,
    fit on the training pool, decided at 0.5; ``oracle``: at the thresholds that maximise the ICBHI
    score of the test fold itself (a ceiling for any decision rule, not a method)."""
    runs, pooled_labels, pooled_predictions = [], [], []
    for pool, test in fold_pools(data_dir, folds):
        predict = fit_label_regressions(
            np.concatenate([features(part) for part in pool]), classes_to_flags(labels_of(pool))
        )
        probabilities = predict(features(test))
        labels = np.asarray(test["label"])
        thresholds = tune_thresholds(classes_to_flags(labels), probabilities) if oracle else (0.5, 0.5)
        predictions = np.asarray(flags_to_classes((probabilities >= np.asarray(thresholds)).astype(np.int64)))
        runs.append(fold_result(labels, predictions, probabilities))
        pooled_labels.append(labels)
        pooled_predictions.append(predictions)
    result = summarise(runs)
    pooled = icbhi_scores(np.concatenate(pooled_labels), np.concatenate(pooled_predictions), warn=False)
    result["out_of_fold_icbhi_score"] = float(pooled["icbhi_score"])
    return result


def log_mel_results(data_dir: Path, folds: int) -> dict[str, Any]:
    """The regression on log-mel mean/std features (64 bands to 4 kHz, 16 kHz audio)."""
    featurizer = LogMelSpectrogram(sampling_rate=RATE, n_mels=64, f_max=LOWPASS)
    return regression_results(
        data_dir,
        folds,
        lambda part: log_mel_features(featurizer, [decode_audio(a, RATE) for a in part["audio"]]),
    )


def embedding_lr_results(
    data_dir: Path, folds: int, encoder: Path, *, oracle: bool = False
) -> dict[str, Any]:
    """The regression on the frozen encoder's clean embeddings: what a head on the same embeddings as
    ``efficientat_frozen`` can reach (32 kHz, 8-s cycles, 4 kHz low-pass); every cycle embedded once."""
    from respira.models import RespiraForAudioClassification
    from respira.models.embeddings import embed_waveforms

    model = RespiraForAudioClassification.from_encoder_pretrained(
        str(encoder), sampling_rate=32_000, target_seconds=8.0, pooling="mean"
    )
    rate = model.config.sampling_rate
    everything = load_splits(replace(fold_record(data_dir, folds, 0), sampling_rate=rate))
    embeddings: dict[str, np.ndarray] = {}
    for part in everything.values():
        rows = embed_waveforms(model, (decode_audio(a, rate) for a in part["audio"]))
        embeddings.update(zip(cycle_keys(part), rows, strict=True))
    return regression_results(
        data_dir, folds, lambda part: np.stack([embeddings[key] for key in cycle_keys(part)]), oracle=oracle
    )


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Mean, sample std and 95 % t-interval of each metric over folds x seeds (NaN left out)."""
    result: dict[str, Any] = {"per_fold": runs}
    for key in ("icbhi_score", "specificity", "sensitivity", "auc_crackle", "auc_wheeze"):
        values = [run[key] for run in runs if key in run and not math.isnan(run[key])]
        if not values:
            continue
        result[f"{key}_mean"] = statistics.fmean(values)
        if len(values) > 1:
            result[f"{key}_std"] = statistics.stdev(values)
            result[f"{key}_ci95"] = list(t_interval(values))
    return result


def method_result(name: str, method: Method, args: argparse.Namespace, encoder: Path, work: Path) -> dict:
    """Train ``method`` on every fold x seed with the CLI; read its metrics.json."""
    run = work / "runs" / name
    extra = ("--encoder_name_or_path", str(encoder)) if method.pretrained else ()
    recipe = ROOT / "recipes" / method.recipe
    if method.drop:
        fields = yaml.safe_load(recipe.read_text())
        recipe = work / "recipes" / f"{name}.yaml"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        recipe.write_text(yaml.safe_dump({k: v for k, v in fields.items() if k not in method.drop}))
    started = time.perf_counter()
    respira(
        "train", str(recipe), *method.overrides, *extra,
        "--data_dir", str(Path(args.shared) / "icbhi"), "--split_strategy", "patient_kfold",
        "--num_folds", str(args.folds), "--validation_size", "0.2", "--lowpass_cutoff", str(LOWPASS),
        "--seeds", args.seeds, "--output_dir", str(run), "--overwrite", "true",
        "--logging_steps", "50",
    )  # fmt: skip
    seconds = time.perf_counter() - started
    metrics = json.loads((run / "metrics.json").read_text())
    runs = [
        {key.removeprefix("test_"): value for key, value in seed.items() if key.startswith("test_")}
        for fold in metrics["per_fold"].values()
        for seed in fold["per_seed"].values()
    ]
    result = summarise(runs)
    result["out_of_fold_icbhi_score"] = metrics["out_of_fold"]["icbhi_score"]
    result["seconds"] = seconds
    result["overrides"] = list(method.overrides)
    return result


def percent(result: dict[str, Any], key: str) -> str:
    if f"{key}_mean" not in result:
        return "n/a"
    text = f"{100 * result[f'{key}_mean']:.1f}"
    if f"{key}_std" in result:
        text += f" ± {100 * result[f'{key}_std']:.1f}"
    return text


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| method | ICBHI score | 95 % CI | out-of-fold | Sp | Se | AUC crackle | AUC wheeze | time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in (*BASELINES, *DIAGNOSTICS, *METHODS):
        if name not in results:
            continue
        result = results[name]
        low, high = result.get("icbhi_score_ci95", (math.nan, math.nan))
        seconds = result.get("seconds")
        lines.append(
            f"| {LABELS[name]} | {percent(result, 'icbhi_score')} | {100 * low:.1f} – {100 * high:.1f} "
            f"| {100 * result['out_of_fold_icbhi_score']:.1f} | {percent(result, 'specificity')} "
            f"| {percent(result, 'sensitivity')} | {percent(result, 'auc_crackle')} "
            f"| {percent(result, 'auc_wheeze')} | {'' if seconds is None else f'{seconds / 60:.1f} min'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--work", help="keep runs and results here (default: a temp folder)")
    parser.add_argument("--methods", default=",".join((*BASELINES, *DIAGNOSTICS, *METHODS)))
    args = parser.parse_args()
    shared = Path(args.shared)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(LABELS))
    if unknown:
        sys.exit(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(LABELS)}")
    for needed in ("icbhi", "reference/efficientat_mn04_as_mAP_432.pt"):
        if not (shared / needed).exists():
            sys.exit(f"{shared / needed} is missing: this study needs the real ICBHI files of ../shared")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="respira_study_"))
    (work / "results").mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, load {load_average()}; torch {torch.__version__}")
    encoder = work / "efficientat_mn04"
    needs_encoder = any(m in DIAGNOSTICS or (m in METHODS and METHODS[m].pretrained) for m in methods)
    if needs_encoder and not (encoder / "config.json").is_file():
        respira(
            "convert", "efficientat", str(shared / "reference/efficientat_mn04_as_mAP_432.pt"), str(encoder)
        )
    computed: dict[str, Callable[[], dict[str, Any]]] = {
        "logmel_lr": lambda: log_mel_results(shared / "icbhi", args.folds),
        "efficientat_embedding_lr": lambda: embedding_lr_results(shared / "icbhi", args.folds, encoder),
        "efficientat_embedding_lr_oracle": lambda: embedding_lr_results(
            shared / "icbhi", args.folds, encoder, oracle=True
        ),
    }
    if {"all_normal", "class_prior"} & set(methods):
        started = time.perf_counter()
        for name, result in trivial_results(shared / "icbhi", args.folds).items():
            if name in methods:
                result["seconds"] = time.perf_counter() - started
                (work / "results" / f"{name}.json").write_text(json.dumps(result, indent=1))
    for name, compute in computed.items():
        if name in methods:
            started = time.perf_counter()
            result = compute() | {"seconds": time.perf_counter() - started}
            (work / "results" / f"{name}.json").write_text(json.dumps(result, indent=1))
    for name in methods:
        if name in METHODS:
            print(f"== {name} (load {load_average()})", flush=True)
            result = method_result(name, METHODS[name], args, encoder, work)
            (work / "results" / f"{name}.json").write_text(json.dumps(result, indent=1))
    results = {path.stem: json.loads(path.read_text()) for path in sorted((work / "results").glob("*.json"))}
    where = f"{args.folds}-fold patient-wise CV on {shared / 'icbhi'}, seeds {args.seeds}"
    print(f"\n{where}; load {load_average()}")
    print(table(results))


if __name__ == "__main__":
    main()

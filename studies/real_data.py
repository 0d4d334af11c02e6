"""The real-data study: every method and the trivial baselines under the same patient-wise k-fold CV.

    python studies/real_data.py [--shared ../shared] [--folds 5] [--seeds 0] [--work DIR]
        [--methods all_normal,class_prior,logmel_lr,cnn_ce,...]
        [--protocol patient_kfold|leave_one_device_out|icbhi_to_kauh] [--reference transfer_flagship]

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

CPU-feasible settings (this is a 2-core machine), in the overrides of ``_study_methods``: CNN 8 epochs
(recipe 60) on 4-s cycles; contrastive 2 rounds of 3 contrastive + 3 head epochs, from a random CNN (a
per-fold CE start would need one CE run per fold), its contrastive stage at 1e-3 (the recipe's 1e-5 is for
a CE-trained start); frozen EfficientAT 60 head epochs (recipe 100); fine-tuning 10 epochs at lr 1e-4 on
4-s cycles, batch 16 (augmentation on the fly: the cache needs a frozen encoder).
Each method's result is kept in ``--work/results/<method>.json`` and reused by the next invocation,
so ``--methods`` can add methods and ``--seeds`` seeds: a method's seeds already in its results are not
trained again (``--recompute``: all of them), each new seed trains into ``runs/<method>/seed_<s>`` and is
merged into the results as soon as it ends; the table is printed from all results present.

Transfer to a new site (``--protocol``, :mod:`_protocols`): ``leave_one_device_out`` (one fold per
ICBHI stethoscope) and ``icbhi_to_kauh`` (one model per seed trained on all of ICBHI, 80 % of its
patients train and 20 % validate, scored per recording on the 168 KAUH recordings by ``respira evaluate
RUN --dataset kauh``, 4-s windows every ``--kauh_hop`` s, maximum over windows) run the same methods
and baselines (on KAUH: all-normal, the ICBHI pool's class prior, the log-mel regression on the same
windows) and keep their results in ``--work/results_<protocol>/``. The ``transfer_*`` methods are the
flagship recipe CPU-reduced (clean cached embeddings, 30 epochs, cross-fitted thresholds) and its
device-aware / domain-invariant variants (``transfer_common_band``: a 2 kHz low-pass, ``Method.lowpass``);
every method is paired with ``--reference`` by fold x seed (mean ± sd of the differences, 95 %
t-interval, wins), on KAUH also by a patient bootstrap of the same
recordings. The last table puts each method's in-domain (patient k-fold) score beside its out-of-domain
ones: the gap, with a Welch 95 % interval (the folds differ, so the runs are not paired).

Reported per method: the ICBHI score (mean ± sample std over folds x seeds and the 95 % Student-t
interval of the mean), the pooled out-of-fold score, and the test ROC-AUC per label (single-label
models: the softmax probability of every class containing the label).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

import _protocols as protocols
from _common import fit_label_regressions, log_mel_features, respira
from _machine import cpu_name, load_average
from _study_methods import (
    BASELINES,
    DIAGNOSTICS,
    LABELS,
    LOWPASS,
    METHODS,
    RATE,
    REFERENCE,
    ROOT,
    Method,
    recipe_for,
    train_options,
)
from _study_tables import gap_table, kauh_comparisons, load_results, results_folder, table
from respira.audio import decode_audio
from respira.labels import classes_to_flags, flags_to_classes
from respira.metrics import icbhi_scores
from respira.metrics.baselines import class_prior, trivial_baselines
from respira.metrics.multilabel import roc_auc
from respira.metrics.thresholds import tune_thresholds
from respira.models.features.log_mel import LogMelSpectrogram
from respira.run_record import DataRecord
from respira.training.run.cross_validation import cycle_keys
from respira.training.splits.datasets import load_splits

HEADLINE = ("icbhi_score", "specificity", "sensitivity")


def fold_record(data_dir: Path, folds: int, fold: int, protocol: str = "patient_kfold") -> DataRecord:
    return protocols.protocol_record(data_dir, protocol, folds, fold, rate=RATE, lowpass=LOWPASS)


def fold_result(labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray | None) -> dict:
    scores = icbhi_scores(labels, predictions, warn=False)
    result = {key: float(scores[key]) for key in HEADLINE}
    flags = classes_to_flags(labels)
    for index, name in enumerate(("crackle", "wheeze")):
        result[f"auc_{name}"] = (
            roc_auc(flags[:, index], probabilities[:, index]) if probabilities is not None else math.nan
        )
    return result


def fold_pools(
    data_dir: Path, folds: int, protocol: str = "patient_kfold"
) -> Iterator[tuple[list[datasets.Dataset], datasets.Dataset]]:
    """Per fold of an ICBHI ``protocol``: its training pool (train and validation) and its test split."""
    for fold in range(protocols.fold_count(data_dir, protocol, folds)):
        splits = load_splits(fold_record(data_dir, folds, fold, protocol))
        yield [splits[name] for name in ("train", "validation") if name in splits], splits["test"]


def labels_of(parts: list[datasets.Dataset]) -> np.ndarray:
    return np.concatenate([np.asarray(part["label"]) for part in parts])


def trivial_results(data_dir: Path, folds: int, protocol: str = "patient_kfold") -> dict[str, dict[str, Any]]:
    """Per fold: the all-normal classifier and the class prior of the training pool, drawn at random
    per test cycle (its expected scores)."""
    normal_runs, prior_runs, pooled = [], [], []
    for fold, (pool, test) in enumerate(fold_pools(data_dir, folds, protocol)):
        labels = np.asarray(test["label"])
        normal_runs.append({"fold": fold} | fold_result(labels, np.zeros_like(labels), None))
        pooled.append(labels)
        expected = trivial_baselines(labels, prior=class_prior(labels_of(pool)))
        prior_runs.append(
            {"fold": fold}
            | {key: expected[f"baseline_class_prior_{key}"] for key in HEADLINE}
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
    data_dir: Path,
    folds: int,
    features: Callable[[datasets.Dataset], np.ndarray],
    *,
    oracle: bool = False,
    protocol: str = "patient_kfold",
) -> dict[str, Any]:
    """Per fold: class-balanced logistic regressions (crackle, wheeze) on ``features`` of each split,
    fit on the training pool, decided at 0.5; ``oracle``: at the thresholds that maximise the ICBHI
    score of the test fold itself (a ceiling for any decision rule, not a method)."""
    runs, pooled_labels, pooled_predictions = [], [], []
    for fold, (pool, test) in enumerate(fold_pools(data_dir, folds, protocol)):
        predict = fit_label_regressions(
            np.concatenate([features(part) for part in pool]), classes_to_flags(labels_of(pool))
        )
        probabilities = predict(features(test))
        labels = np.asarray(test["label"])
        thresholds = tune_thresholds(classes_to_flags(labels), probabilities) if oracle else (0.5, 0.5)
        predictions = np.asarray(flags_to_classes((probabilities >= np.asarray(thresholds)).astype(np.int64)))
        runs.append({"fold": fold} | fold_result(labels, predictions, probabilities))
        pooled_labels.append(labels)
        pooled_predictions.append(predictions)
    result = summarise(runs)
    pooled = icbhi_scores(np.concatenate(pooled_labels), np.concatenate(pooled_predictions), warn=False)
    result["out_of_fold_icbhi_score"] = float(pooled["icbhi_score"])
    return result


def log_mel_featurizer() -> LogMelSpectrogram:
    """The baseline's features: 64 log-mel bands to 4 kHz of 16 kHz audio."""
    return LogMelSpectrogram(sampling_rate=RATE, n_mels=64, f_max=LOWPASS)


def log_mel_results(data_dir: Path, folds: int, protocol: str = "patient_kfold") -> dict[str, Any]:
    """The regression on log-mel mean/std features (64 bands to 4 kHz, 16 kHz audio)."""
    featurizer = log_mel_featurizer()
    return regression_results(
        data_dir,
        folds,
        lambda part: log_mel_features(featurizer, [decode_audio(a, RATE) for a in part["audio"]]),
        protocol=protocol,
    )


def embedding_lr_results(
    data_dir: Path, folds: int, encoder: Path, *, oracle: bool = False, protocol: str = "patient_kfold"
) -> dict[str, Any]:
    """The regression on the frozen encoder's clean embeddings: what a head on the same embeddings as
    ``efficientat_frozen`` can reach (32 kHz, 8-s cycles, 4 kHz low-pass); every cycle embedded once."""
    from respira.models import RespiraForAudioClassification
    from respira.models.embeddings import embed_waveforms

    model = RespiraForAudioClassification.from_encoder_pretrained(
        str(encoder), sampling_rate=32_000, target_seconds=8.0, pooling="mean"
    )
    rate = model.config.sampling_rate
    embeddings: dict[str, np.ndarray] = {}
    for fold in range(protocols.fold_count(data_dir, protocol, folds)):  # every cycle is in some fold
        for part in load_splits(
            replace(fold_record(data_dir, folds, fold, protocol), sampling_rate=rate)
        ).values():
            missing = [i for i, key in enumerate(cycle_keys(part)) if key not in embeddings]
            if missing:
                new = part.select(missing)
                rows = embed_waveforms(model, (decode_audio(a, rate) for a in new["audio"]))
                embeddings.update(zip(cycle_keys(new), rows, strict=True))
    return regression_results(
        data_dir,
        folds,
        lambda part: np.stack([embeddings[key] for key in cycle_keys(part)]),
        oracle=oracle,
        protocol=protocol,
    )


def kauh_baseline_results(shared: Path, hop: float) -> dict[str, dict[str, Any]]:
    """icbhi_to_kauh baselines on the KAUH recordings: all-normal, the ICBHI training pool's class prior
    (expected scores) and the log-mel regression fit on the ICBHI pool, run on the same windows as
    ``respira evaluate --dataset kauh`` (4 s every ``hop`` s), the maximum over windows decided at 0.5."""
    from kauh_external import recording_windows, targets_of
    from respira.data import load_kauh
    from respira.metrics.recording_level import aggregate_windows, recording_level_scores

    splits = load_splits(fold_record(shared / "icbhi", 1, 0, "icbhi_to_kauh"))
    pool = [splits[name] for name in ("train", "validation")]
    kauh = load_kauh(shared / "kauh", sampling_rate=RATE)["test"]
    targets = targets_of(kauh)
    classes = np.asarray(flags_to_classes(targets[:, :2]))
    featurizer = log_mel_featurizer()
    predict = fit_label_regressions(
        np.concatenate(
            [log_mel_features(featurizer, [decode_audio(a, RATE) for a in p["audio"]]) for p in pool]
        ),
        classes_to_flags(labels_of(pool)),
    )
    windows = [
        predict(
            log_mel_features(featurizer, recording_windows(decode_audio(e["audio"], RATE), RATE, hop=hop))
        )
        for e in kauh
    ]
    probabilities = np.stack([aggregate_windows(w, "max") for w in windows])
    scores = recording_level_scores(targets, probabilities, (0.5, 0.5))
    logmel = {"fold": 0} | {key: float(scores["icbhi"][key]) for key in HEADLINE}
    logmel |= {"auc_crackle": scores["crackle"]["auc"], "auc_wheeze": scores["wheeze"]["auc"]}
    expected = trivial_baselines(classes, prior=class_prior(labels_of(pool)))
    prior = {"fold": 0} | {key: expected[f"baseline_class_prior_{key}"] for key in HEADLINE}
    normal = {"fold": 0} | fold_result(classes, np.zeros_like(classes), None)
    results = {}
    prior |= {"auc_crackle": 0.5, "auc_wheeze": 0.5}
    for name, run in (("all_normal", normal), ("class_prior", prior), ("logmel_lr", logmel)):
        results[name] = summarise([run]) | {"out_of_fold_icbhi_score": run["icbhi_score"]}
    return results


def summarise(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Mean, sample std and 95 % t-interval of each metric over folds x seeds (NaN left out)."""
    return protocols.summarise(runs)


def method_result(
    name: str, method: Method, args: argparse.Namespace, encoder: Path, work: Path, results_file: Path
) -> dict:
    """Train ``method`` on every fold of each seed of ``--seeds`` that ``results_file`` has no run of (all
    of them with ``--recompute``) with the CLI, one seed at a time into ``runs/NAME/seed_S``, and merge
    its metrics into ``results_file`` as it is after each seed, so two invocations may train disjoint seeds
    of one method at once (icbhi_to_kauh: one run per seed on all of ICBHI,
    scored on KAUH by ``respira evaluate --dataset kauh``)."""
    run = work / "runs" / name
    common = (
        str(recipe_for(name, method, work)),
        *train_options(method, Path(args.shared), args.protocol, args.folds, encoder),
    )
    seeds = [int(s) for s in args.seeds.split(",")]
    result = None if args.recompute or not results_file.is_file() else json.loads(results_file.read_text())
    for seed in protocols.missing_seeds(result, seeds):
        started, folder = time.perf_counter(), run / f"seed_{seed}"
        print(f"   seed {seed} ({time.strftime('%H:%M:%S')}, load {load_average()})", flush=True)
        respira("train", *common, "--seeds", str(seed), "--output_dir", str(folder))
        if args.protocol == "icbhi_to_kauh":
            respira(
                "evaluate", str(folder), "--dataset", "kauh", "--data_dir", str(Path(args.shared) / "kauh"),
                "--hop", str(args.kauh_hop), "--output_dir", str(folder / "kauh"),
            )  # fmt: skip
            metrics = json.loads((folder / "kauh" / "metrics.json").read_text())
            runs = [protocols.kauh_run(metrics, folder / "kauh" / "recording_predictions.csv", seed)]
            pooled = runs[0]["icbhi_score"]
        else:
            metrics = json.loads((folder / "metrics.json").read_text())
            runs = [
                {"fold": int(fold), "seed": seed}
                | {key.removeprefix("test_"): value for key, value in test.items() if key.startswith("test_")}
                for fold, entry in metrics["per_fold"].items()
                for test in entry["per_seed"].values()
            ]
            pooled = metrics["out_of_fold"]["icbhi_score"]
        seconds = time.perf_counter() - started
        if results_file.is_file():  # another invocation may have added other seeds meanwhile
            result = json.loads(results_file.read_text())
        result = protocols.merge_seed(result, runs, seconds=seconds, out_of_fold=pooled)
        result["overrides"] = list(method.overrides)
        results_file.write_text(json.dumps(result, indent=1))
    if result is None:
        raise RuntimeError(f"{name}: no seed to run")  # --seeds is never empty
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--protocol", choices=protocols.PROTOCOLS, default="patient_kfold")
    parser.add_argument("--folds", type=int, default=5, help="patient_kfold: number of folds")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--work", help="keep runs and results here (default: a temp folder)")
    parser.add_argument("--methods", default=",".join((*BASELINES, *DIAGNOSTICS, *METHODS)))
    parser.add_argument("--reference", default=REFERENCE, help="the method others are paired against")
    parser.add_argument(
        "--recompute", action="store_true", help="train every seed again, even those already in the results"
    )
    parser.add_argument("--kauh_hop", type=float, default=4.0, help="icbhi_to_kauh: seconds between windows")
    args = parser.parse_args()
    shared = Path(args.shared)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(LABELS))
    if unknown:
        sys.exit(f"--methods: unknown {', '.join(unknown)}; choose from {', '.join(LABELS)}")
    if args.reference not in METHODS:
        sys.exit(f"--reference: {args.reference!r} is not a method; choose from {', '.join(METHODS)}")
    kauh = args.protocol == "icbhi_to_kauh"
    leaking = [m for m in methods if m in METHODS and METHODS[m].tests_on_its_training_data(args.protocol)]
    if leaking:
        sys.exit(f"--methods: {', '.join(leaking)} train on KAUH, which {args.protocol} tests on")
    if kauh and set(methods) & set(DIAGNOSTICS):
        sys.exit(f"--methods: the diagnostics ({', '.join(DIAGNOSTICS)}) are scored on ICBHI cycles only")
    needed = ("icbhi", "reference/efficientat_mn04_as_mAP_432.pt", *(("kauh",) if kauh else ()))
    for path in needed:
        if not (shared / path).exists():
            sys.exit(f"{shared / path} is missing: this study needs the real files of ../shared")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="respira_study_"))
    results_dir = results_folder(work, args.protocol)
    results_dir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, load {load_average()}; torch {torch.__version__}")
    encoder = work / "efficientat_mn04"
    needs_encoder = any(m in DIAGNOSTICS or (m in METHODS and METHODS[m].pretrained) for m in methods)
    if needs_encoder and not (encoder / "config.json").is_file():
        respira(
            "convert", "efficientat", str(shared / "reference/efficientat_mn04_as_mAP_432.pt"), str(encoder)
        )
    icbhi, protocol = shared / "icbhi", args.protocol
    computed: dict[str, Callable[[], dict[str, Any]]] = {
        "logmel_lr": lambda: log_mel_results(icbhi, args.folds, protocol),
        "efficientat_embedding_lr": lambda: embedding_lr_results(
            icbhi, args.folds, encoder, protocol=protocol
        ),
        "efficientat_embedding_lr_oracle": lambda: embedding_lr_results(
            icbhi, args.folds, encoder, oracle=True, protocol=protocol
        ),
    }
    started = time.perf_counter()
    if kauh and set(BASELINES) & set(methods):
        baselines = kauh_baseline_results(shared, args.kauh_hop)
    elif {"all_normal", "class_prior"} & set(methods):
        baselines = trivial_results(icbhi, args.folds, protocol)
    else:
        baselines = {}
    for name, result in baselines.items():
        if name in methods:
            result["seconds"] = time.perf_counter() - started
            (results_dir / f"{name}.json").write_text(json.dumps(result, indent=1))
    for name, compute in computed.items():
        if name in methods and not (kauh and name in baselines):
            started = time.perf_counter()
            result = compute() | {"seconds": time.perf_counter() - started}
            (results_dir / f"{name}.json").write_text(json.dumps(result, indent=1))
    for name in methods:
        if name in METHODS:
            print(f"== {name} (load {load_average()})", flush=True)
            runs_dir = work if protocol == "patient_kfold" else work / protocol
            method_result(name, METHODS[name], args, encoder, runs_dir, results_dir / f"{name}.json")
    results = load_results(results_dir)
    where = {
        "patient_kfold": f"{args.folds}-fold patient-wise CV on {icbhi}",
        "leave_one_device_out": f"leave one device out on {icbhi}",
        "icbhi_to_kauh": f"trained on {icbhi}, scored per recording on {shared / 'kauh'}",
    }[protocol]
    print(f"\n{where}, seeds {args.seeds}; load {load_average()}")
    print(table(results, args.reference))
    if kauh:
        print(kauh_comparisons(results, args.reference))
    print("\nin domain vs out of domain (ICBHI score, %; gap = in − out, Welch 95 % CI):")
    print(gap_table(work))


if __name__ == "__main__":
    main()

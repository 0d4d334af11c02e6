"""Transfer protocols of the real-data study (``studies/real_data.py --protocol``), and their statistics.

* ``patient_kfold``: patient-wise k-fold CV on the ICBHI sample (in domain: every device in training);
* ``leave_one_device_out``: one fold per ICBHI stethoscope, the test fold every recording of that device
  (the builder's ``split_strategy``; a test patient's other-device recordings leave the training pool);
* ``icbhi_to_kauh``: train on the whole ICBHI sample (80 % of the patients train, 20 % validate: early
  stopping and the thresholds' cross-fitting pool), then score the 168 KAUH recordings per recording with
  ``respira evaluate RUN --dataset kauh``. One model per seed; the same recordings for every method, so
  two methods are compared by a paired patient bootstrap on KAUH as well as by seed.

Results of every protocol are lists of runs ``{"fold", "seed", "icbhi_score", ...}``; two methods are
compared on the runs they share (:func:`paired_difference`: same fold and seed; a baseline, which has
no seed, pairs with every seed of its fold).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from respira.metrics.recording_level import RECORDING_LABELS, patient_bootstrap, recording_level_scores
from respira.run_record import DataRecord
from respira.training.run.fold_summary import t_interval
from respira.training.splits.datasets import corpus_devices

PROTOCOLS: tuple[str, ...] = ("patient_kfold", "leave_one_device_out", "icbhi_to_kauh")
KAUH_SPLIT = "0.8,0.2,0"
"""icbhi_to_kauh: the ICBHI patients' train/validation/test shares (no ICBHI test: KAUH is the test)."""
METRICS: tuple[str, ...] = ("icbhi_score", "specificity", "sensitivity", "auc_crackle", "auc_wheeze")


def fold_count(data_dir: Path, protocol: str, folds: int) -> int:
    """How many test folds ``protocol`` has: ``folds``, one per ICBHI device, or 1 (KAUH)."""
    if protocol == "leave_one_device_out":
        return len(corpus_devices(data_dir))
    return 1 if protocol == "icbhi_to_kauh" else folds


def protocol_record(
    data_dir: Path, protocol: str, folds: int, fold: int, *, rate: int, lowpass: float
) -> DataRecord:
    """The ICBHI splits fold ``fold`` of ``protocol`` trains (and, in domain, tests) on, as ``respira
    train`` builds them with the options :func:`train_options` passes."""
    common = {
        "data_dir": str(data_dir),
        "sampling_rate": rate,
        "lowpass_cutoff": lowpass,
        "stratify_by": "chest_location",  # the recipes' (a patient split's strata; folds ignore it)
    }
    if protocol == "icbhi_to_kauh":
        fractions = tuple(float(f) for f in KAUH_SPLIT.split(","))
        return DataRecord(**common, split_strategy="patient", patient_split_fractions=fractions)
    if protocol == "leave_one_device_out":
        devices = corpus_devices(data_dir)
        return DataRecord(
            **common,
            split_strategy=protocol,
            validation_size=0.2,
            num_folds=len(devices),
            fold=fold,
            fold_devices=devices,
        )
    return DataRecord(**common, split_strategy=protocol, validation_size=0.2, num_folds=folds, fold=fold)


def train_options(protocol: str, folds: int) -> tuple[str, ...]:
    """``respira train`` options that build :func:`protocol_record`'s splits."""
    if protocol == "icbhi_to_kauh":
        return ("--split_strategy", "patient", "--patient_split_fractions", KAUH_SPLIT,
                "--stratify_by", "chest_location")  # fmt: skip
    kfold = ("--num_folds", str(folds)) if protocol == "patient_kfold" else ()
    return ("--split_strategy", protocol, *kfold, "--validation_size", "0.2")


def kauh_run(metrics: dict[str, Any], predictions: Path, seed: int) -> dict[str, Any]:
    """One KAUH run from ``respira evaluate --dataset kauh``'s ``metrics.json`` and
    ``recording_predictions.csv``: the headline scores per recording, and each recording's decisions
    and labels (for the paired bootstrap)."""
    overall = metrics["groups"]["overall"]
    frame = pd.read_csv(predictions)
    return {
        "fold": 0,
        "seed": seed,
        **{key: float(overall["icbhi"][key]) for key in ("icbhi_score", "specificity", "sensitivity")},
        "auc_crackle": _number(overall["crackle"]["auc"]),
        "auc_wheeze": _number(overall["wheeze"]["auc"]),
        "recordings": recordings_of(frame),
    }


def recordings_of(frame: pd.DataFrame) -> dict[str, list]:
    """Per recording (one row each): patient, labels, probabilities and decisions."""
    return {
        "recording": frame["recording"].astype(str).tolist(),
        "patient_id": frame["patient_id"].astype(str).tolist(),
        "targets": frame[list(RECORDING_LABELS)].to_numpy(dtype=int).tolist(),
        "probabilities": frame[["p_crackle", "p_wheeze"]].to_numpy(dtype=float).tolist(),
        "decisions": frame[["predicted_crackle", "predicted_wheeze"]].to_numpy(dtype=int).tolist(),
    }


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample std and 95 % t-interval of each metric over folds x seeds (NaN left out)."""
    result: dict[str, Any] = {"per_fold": runs}
    for key in METRICS:
        values = [run[key] for run in runs if key in run and not math.isnan(run[key])]
        if not values:
            continue
        result[f"{key}_mean"] = statistics.fmean(values)
        if len(values) > 1:
            result[f"{key}_std"] = statistics.stdev(values)
            result[f"{key}_ci95"] = list(t_interval(values))
    return result


def _pairs(runs_a: Sequence[dict], runs_b: Sequence[dict], key: str) -> list[tuple[float, float]]:
    def index(runs: Sequence[dict]) -> dict[tuple, float]:
        return {(run.get("fold", i), run.get("seed")): run[key] for i, run in enumerate(runs) if key in run}

    a, b = index(runs_a), index(runs_b)
    pairs = []
    for (fold, seed), value in sorted(a.items(), key=str):
        other = b.get((fold, seed), b.get((fold, None)))
        if other is None and seed is None:  # a baseline against a method: every seed of the fold
            matches = [v for (f, _), v in b.items() if f == fold]
            pairs.extend((value, v) for v in matches if not (math.isnan(value) or math.isnan(v)))
        elif other is not None and not (math.isnan(value) or math.isnan(other)):
            pairs.append((value, other))
    return pairs


def paired_difference(runs_a: Sequence[dict], runs_b: Sequence[dict], key: str = "icbhi_score") -> dict:
    """``a - b`` on the runs both have (same fold and seed): ``n``, mean, sample std, 95 % t-interval
    and how many pairs ``a`` wins."""
    pairs = _pairs(runs_a, runs_b, key)
    differences = [a - b for a, b in pairs]
    result: dict[str, Any] = {"n": len(differences)}
    if differences:
        result["mean"] = statistics.fmean(differences)
        result["wins"] = sum(d > 0 for d in differences)
    if len(differences) > 1:
        result["std"] = statistics.stdev(differences)
        result["ci95"] = list(t_interval(differences)) if result["std"] > 0 else [result["mean"]] * 2
    return result


def kauh_paired_bootstrap(run_a: dict, run_b: dict, *, resamples: int = 1000, seed: int = 0) -> list[float]:
    """95 % patient-bootstrap interval of ``a - b``'s ICBHI-style score on the same KAUH recordings, each
    scored at its own decisions (resampling patients, as ``respira evaluate --dataset kauh`` does)."""
    a, b = run_a["recordings"], run_b["recordings"]
    if a["recording"] != b["recording"]:
        raise ValueError("the two runs scored different KAUH recordings")
    targets = np.asarray(a["targets"])
    # decisions as 0/1 "probabilities" at 0.5 thresholds: the scores of the runs' own decisions
    decided_a, decided_b = np.asarray(a["decisions"], float), np.asarray(b["decisions"], float)

    def statistic(indices: np.ndarray) -> dict[str, float]:
        score_a = recording_level_scores(targets[indices], decided_a[indices], (0.5, 0.5))["icbhi"]
        score_b = recording_level_scores(targets[indices], decided_b[indices], (0.5, 0.5))["icbhi"]
        return {"difference": score_a["icbhi_score"] - score_b["icbhi_score"]}

    return patient_bootstrap(statistic, a["patient_id"], resamples=resamples, seed=seed)["difference"]


def welch_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float] | None:
    """95 % Welch interval of ``mean(a) - mean(b)`` for two independent samples (``None`` if either has
    fewer than 2 values)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return float(interval.low), float(interval.high)


def missing_seeds(cached: dict[str, Any] | None, seeds: Sequence[int]) -> list[int]:
    """The seeds of ``seeds`` that a method's ``cached`` result (its results JSON) has no run of, in order."""
    done = {run.get("seed") for run in (cached or {}).get("per_fold", [])}
    return [seed for seed in seeds if seed not in done]


def merge_seed(
    cached: dict[str, Any] | None, runs: list[dict[str, Any]], *, seconds: float, out_of_fold: float
) -> dict[str, Any]:
    """A method's result with one more seed: ``cached``'s runs of other seeds plus ``runs`` (all of one
    seed, which replace any cached run of it), summarised again. The seed's wall time and pooled
    out-of-fold score (``seconds``, ``out_of_fold``) are kept per seed (``seconds_per_seed``,
    ``out_of_fold_per_seed``); their total and mean are ``seconds`` and ``out_of_fold_icbhi_score``."""
    seed = runs[0]["seed"]
    if any(run["seed"] != seed for run in runs):
        raise ValueError("merge_seed takes the runs of one seed")
    cached = cached or {}
    kept = [run for run in cached.get("per_fold", []) if run.get("seed") != seed]
    old_seeds = sorted({run["seed"] for run in kept})
    # a result cached before seeds were kept apart: its totals belong to its only seed
    single = {str(old_seeds[0]): cached} if len(old_seeds) == 1 else {}
    timings = cached.get("seconds_per_seed") or {s: r["seconds"] for s, r in single.items() if "seconds" in r}
    pooled = cached.get("out_of_fold_per_seed") or {
        s: r["out_of_fold_icbhi_score"] for s, r in single.items() if "out_of_fold_icbhi_score" in r
    }
    timings = {s: v for s, v in timings.items() if int(s) in old_seeds} | {str(seed): seconds}
    pooled = {s: v for s, v in pooled.items() if int(s) in old_seeds}
    pooled[str(seed)] = out_of_fold
    result = summarise(sorted((*kept, *runs), key=lambda run: (run["seed"], run.get("fold", 0))))
    result["seconds_per_seed"], result["seconds"] = timings, sum(timings.values())
    result["out_of_fold_per_seed"] = pooled
    result["out_of_fold_icbhi_score"] = statistics.fmean(pooled.values())
    return result


def decision_ceiling(flags: Any, probabilities: Any) -> float:
    """The ICBHI score of ``probabilities`` ``[N, 2]`` (crackle, wheeze) at the thresholds that maximise
    it on these very ``flags`` ``[N, 2]``: what the best threshold rule could reach with this ranking
    (label-free adaptation and few-shot calibration included). A ceiling, never a result."""
    from respira.labels import flags_to_classes
    from respira.metrics import icbhi_scores
    from respira.metrics.thresholds import tune_thresholds

    flags, probabilities = np.asarray(flags, dtype=np.int64), np.asarray(probabilities, dtype=np.float64)
    thresholds = tune_thresholds(flags, probabilities)
    decided = (probabilities >= np.asarray(thresholds)).astype(np.int64)
    return float(icbhi_scores(flags_to_classes(flags), flags_to_classes(decided), warn=False)["icbhi_score"])


def ceiling_runs(protocol: str, result: dict[str, Any], runs_folder: Path) -> list[dict[str, Any]]:
    """Per fold x seed run of a method's ``result``: its :func:`decision_ceiling` on its own test data
    (icbhi_to_kauh: the recordings' probabilities in the result; leave_one_device_out: the held-out
    device's cycles in ``runs_folder/seed_<s>/out_of_fold_predictions.csv``, written by ``respira train``
    since 2026-11-24; a run without it is left out)."""
    from respira.labels import CLASS_NAMES, classes_to_flags

    ceilings = []
    for run in result["per_fold"]:
        if protocol == "icbhi_to_kauh":
            recordings = run["recordings"]
            flags = np.asarray(recordings["targets"])[:, :2]
            probabilities = recordings["probabilities"]
        else:
            path = runs_folder / f"seed_{run['seed']}" / "out_of_fold_predictions.csv"
            if not path.is_file():
                continue
            frame = pd.read_csv(path)
            rows = frame[(frame["fold"] == run["fold"]) & (frame["seed"] == run["seed"])]
            flags = classes_to_flags(np.asarray([CLASS_NAMES.index(name) for name in rows["label"]]))
            probabilities = rows[["crackle", "wheeze"]].to_numpy()
        ceilings.append(
            {"fold": run["fold"], "seed": run["seed"], "icbhi_score": decision_ceiling(flags, probabilities)}
        )
    return ceilings

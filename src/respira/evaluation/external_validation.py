"""External validation: a model scored per recording of another corpus, at its own thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics import trivial_baselines
from ..metrics.baselines import icbhi_below_baselines
from ..metrics.groups import group_selections
from ..metrics.recording_level import recording_decisions, recording_level_intervals, recording_level_scores
from ..models.respira.decision import has_tuned_thresholds, thresholds_of
from ..models.respira.labels import RECORDING_LABELS, SINGLE_LABEL, flags_to_classes
from ..models.respira.windows import aggregate_windows, describe_aggregation
from .protocol import Protocol
from .recording_report import write_recording_report

if TYPE_CHECKING:
    import datasets

    from ..models.respira import RespiraForAudioClassification
    from ..records.site_claim import SiteClaim

RECORDINGS = Protocol(
    name="recordings",
    columns=("audio", "patient_id", *RECORDING_LABELS),
    needs="recording-level evaluation needs audio, patient_id and the crackle/wheeze/normal flags",
    unit="recording",
    runs="predict",
    grouping="every recording, then by the corpus's group column; patients resampled within their strata",
    files=("metrics.json", "recording_predictions.csv"),
)
"""Whole recordings, each scored by its sliding windows aggregated; the label curves follow its files."""
STRATA = "the set of (crackle, wheeze, normal) labels of a patient's recordings"
"""What the patient bootstrap resamples within (:func:`~respira.metrics.recording_level.recording_strata`)."""


def _group_scores(
    targets: np.ndarray,
    probabilities: np.ndarray,
    patients: np.ndarray,
    thresholds: Sequence[float],
    *,
    resamples: int,
    seed: int,
    confidence: float,
) -> dict[str, Any]:
    scores: dict[str, Any] = recording_level_scores(targets, probabilities, thresholds)
    settings = {"resamples": resamples, "seed": seed, "confidence": confidence}
    intervals = recording_level_intervals(targets, probabilities, thresholds, patients, **settings)
    for group, values in scores.items():
        values["ci"] = {key: intervals[f"{group}.{key}"] for key in values if f"{group}.{key}" in intervals}
    baselines = trivial_baselines(flags_to_classes(targets[:, :2]))
    scores["icbhi"] |= {key: value for key, value in baselines.items() if key.endswith("_icbhi_score")}
    return {"num_recordings": len(targets), "num_patients": int(np.unique(patients).size), **scores}


def _below_baselines(groups: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The groups whose ICBHI-style score does not beat the all-normal or class-prior baseline."""
    return [
        replace(entry, key=f"groups.{name}.icbhi.{entry.key}").to_dict()
        for name, scores in groups.items()
        for entry in icbhi_below_baselines(scores["icbhi"], where=f"per recording, {name}")
    ]


def evaluate_recordings(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    output_dir: str | Path,
    window: float = 4.0,
    hop: float = 2.0,
    aggregation: str = "max",
    top_k: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    batch_size: int = 32,
    group_column: str | None = None,
    scored_model: Mapping[str, Any] | None = None,
    claim: SiteClaim | None = None,
    claim_blocker: str = "",
) -> dict[str, Any]:
    """Score ``model`` per recording of ``dataset``, write its report to ``output_dir``; return metrics."""
    from ..inference.detector import Detector

    RECORDINGS.check(dataset)
    thresholds, description = thresholds_of(model.config), describe_aggregation(aggregation, top_k)
    detector = Detector(model, window=window, hop=hop, batch_size=batch_size)
    windows = [  # [windows, 2] (crackle, wheeze) probabilities of every recording
        np.array([[row["crackle"], row["wheeze"]] for row in prediction.rows], dtype=np.float64)
        for _, prediction in RECORDINGS.run(detector, dataset, "scoring recordings")
    ]
    probabilities = np.stack([aggregate_windows(values, aggregation, top_k) for values in windows])
    targets = np.column_stack([np.asarray(dataset[label], dtype=np.int64) for label in RECORDING_LABELS])
    patients = np.asarray(dataset["patient_id"])
    settings = {"resamples": resamples, "seed": seed, "confidence": confidence}
    values = dataset[group_column] if group_column in dataset.column_names else None
    if values is not None and all(value is None for value in values):
        values = None  # an optional column no recording fills (a labelled folder without devices)
    groups = {  # KAUH: overall, bell, diaphragm, extended
        name: _group_scores(targets[chosen], probabilities[chosen], patients[chosen], thresholds, **settings)
        for name, chosen in group_selections(values, len(targets)).items()
    }
    metrics: dict[str, Any] = {
        "num_recordings": len(dataset),
        "num_patients": int(np.unique(patients).size),
        "problem_type": model.config.problem_type or SINGLE_LABEL,
        "windows": {"window_seconds": window, "hop_seconds": hop, "total": int(sum(map(len, windows)))},
        "aggregation": {"rule": aggregation, "top_k": top_k, "description": description},
        "thresholds": {
            "crackle": thresholds[0],
            "wheeze": thresholds[1],
            "source": "config.decision_thresholds" if has_tuned_thresholds(model.config) else "default",
        },
        "bootstrap": {"unit": "patient", "method": "percentile", "strata": STRATA, **settings},
        "group_column": group_column if values is not None else None,
        "groups": groups,
        "below_baseline": _below_baselines(groups),
    }
    if scored_model is not None:
        metrics["model"] = dict(scored_model)
    if claim is not None:
        scored = (targets, probabilities, patients, thresholds)
        metrics["site_claim"] = _check_claim(claim, claim_blocker, dataset, groups, scored, settings)
    decided = recording_decisions(probabilities, thresholds)
    metrics["files"] = write_recording_report(
        RECORDINGS, output_dir, metrics, dataset, (targets, probabilities, windows, decided), thresholds
    )
    metrics["decisions"] = decided
    return metrics


def _check_claim(
    claim: SiteClaim,
    blocker: str,
    dataset: datasets.Dataset,
    groups: dict[str, Any],
    scored: tuple[np.ndarray, np.ndarray, np.ndarray, Sequence[float]],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The site claim checked on the recordings of units the fit never saw, where it can tell them apart."""
    targets, probabilities, patients, thresholds = scored
    icbhi, left_out = groups["overall"]["icbhi"], None
    units = claim.unit_keys(dataset)
    if units is not None:
        fitted = np.array([unit in (claim.fitted_units or ()) for unit in units], dtype=bool)
        left_out = {
            "units": len({unit for unit, was in zip(units, fitted, strict=True) if was}),
            "recordings": int(fitted.sum()),
            "new_units": len({unit for unit, was in zip(units, fitted, strict=True) if not was}),
        }
        if fitted.any():  # the new units alone, with their own patient bootstrap (none: not compared)
            new = ~fitted
            scores = (targets[new], probabilities[new], patients[new], thresholds)
            icbhi = _group_scores(*scores, **settings)["icbhi"] if new.any() else {}
    return claim.check(icbhi, blocker=blocker, left_out=left_out)

"""External validation: a model scored per recording of another corpus, at its own thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics import trivial_baselines
from ..metrics.baselines import flags_by_key, icbhi_below_baselines
from ..metrics.groups import group_selections
from ..metrics.recording_level import (
    flatten_scores,
    patient_bootstrap,
    recording_decisions,
    recording_level_scores,
    recording_strata,
    unmeasurable,
    unmeasured,
)
from ..models.respira.decision import has_tuned_thresholds, thresholds_of
from ..models.respira.labels import MULTI_LABEL_NAMES, RECORDING_LABELS, SINGLE_LABEL, flags_to_classes
from ..models.respira.windows import aggregate_windows, describe_aggregation
from ..reports.curves import label_curve_figures
from ..utils.files import write_text_atomic
from ..utils.tables import format_percent, format_score, format_table
from .protocol import Protocol, write_report

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
NOUNS = {"crackle": "crackles", "wheeze": "wheezes"}
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

    def statistic(indices: np.ndarray) -> dict[str, float]:
        return flatten_scores(recording_level_scores(targets[indices], probabilities[indices], thresholds))

    settings = {"resamples": resamples, "seed": seed, "confidence": confidence}
    intervals = patient_bootstrap(statistic, patients, strata=recording_strata(targets), **settings)
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
    metrics["files"] = _write_report(
        output_dir, metrics, dataset, (targets, probabilities, windows, decided), thresholds
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


def _write_report(
    output_dir: str | Path,
    metrics: dict[str, Any],
    dataset: datasets.Dataset,
    predicted: tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray],
    thresholds: Sequence[float],
) -> list[str]:
    """Write ``metrics.json``, the per-recording predictions and the label curves as one folder."""
    targets, probabilities, windows, decided = predicted
    group = metrics["group_column"]

    def predictions(path: Path) -> None:
        _write_predictions(path, dataset, targets, probabilities, windows, decided, group)

    return write_report(
        RECORDINGS,
        output_dir,
        metrics,
        {"recording_predictions.csv": predictions},
        lambda: label_curve_figures(
            targets[:, :2], probabilities, decided, thresholds=thresholds, unit="recording"
        ),
    )


def _write_predictions(
    path: Path,
    dataset: datasets.Dataset,
    targets: np.ndarray,
    probabilities: np.ndarray,
    windows: list[np.ndarray],
    decided: np.ndarray,
    group_column: str | None,
) -> None:
    import pandas as pd

    columns = dataset.column_names
    patients = dataset["patient_id"]
    # the patient as the corpus names it (a labels.csv's own value), else its number
    named = dataset["patient"] if "patient" in columns else patients
    table = pd.DataFrame(
        {
            "recording": dataset["recording"] if "recording" in columns else range(len(dataset)),
            "patient_id": patients,
            "patient": [id_ if name is None else name for id_, name in zip(patients, named, strict=True)],
            group_column or "group": dataset[group_column] if group_column else "",
            **dict(zip(RECORDING_LABELS, targets.T, strict=True)),
            "p_crackle": [f"{value:.6f}" for value in probabilities[:, 0]],
            "p_wheeze": [f"{value:.6f}" for value in probabilities[:, 1]],
            "predicted_crackle": decided[:, 0],
            "predicted_wheeze": decided[:, 1],
            "predicted_normal": (decided.sum(axis=1) == 0).astype(np.int64),
            "windows": [len(values) for values in windows],
        }
    )
    write_text_atomic(path, table.to_csv(index=False, lineterminator="\n"))


def never_called(scores: Mapping[str, Any]) -> bool:
    """The model called this label on none of the recordings while some have it (sensitivity 0 because
    no prediction is positive: no positive called, every negative left uncalled)."""
    return bool(
        scores.get("positives")
        and scores.get("sensitivity") == 0
        and (not scores.get("negatives") or scores.get("specificity") == 1)
    )


def _cell(values: Mapping[str, Any], key: str, count: int | None) -> str:
    text = format_score(values.get(key), values.get("ci", {}).get(key), count=count)
    return f"{text} (called on none)" if key == "sensitivity" and never_called(values) else text


def recording_level_table(metrics: dict[str, Any]) -> str:
    """The scores of :func:`evaluate_recordings` as a console table in %, with intervals and baselines."""
    ci = f"% [{round(100 * metrics['bootstrap']['confidence'])}% CI]"
    header = ["group", "n", "label", f"Se {ci}", f"Sp {ci}", f"AUC / score {ci}", "all-normal %", ""]
    flags = flags_by_key(metrics.get("below_baseline"))
    rows = []
    for group, scores in metrics["groups"].items():
        count = f"{scores['num_recordings']} ({scores['num_patients']} patients)"
        for label in RECORDING_LABELS:
            values = scores[label]
            positives, negatives = values.get("positives"), values.get("negatives")
            least = min(positives, negatives) if positives is not None else None
            cells = [
                _cell(values, "sensitivity", positives),
                _cell(values, "specificity", negatives),
                _cell(values, "auc", least),
            ]
            rows.append([group, count, label, *cells, "", ""])
            count = ""
        icbhi = scores["icbhi"]
        normal, abnormal = icbhi["normal_recordings"], icbhi["abnormal_recordings"]
        cells = [
            _cell(icbhi, "sensitivity", abnormal),
            _cell(icbhi, "specificity", normal),
            _cell(icbhi, "icbhi_score", min(normal, abnormal)),
        ]
        baseline = format_percent(icbhi.get("baseline_all_normal_icbhi_score"))
        lacking = unmeasured(normal, abnormal) or ""
        flag = flags.get(f"groups.{group}.icbhi.icbhi_score", "") or lacking
        rows.append(["", "", "ICBHI-style", *cells, baseline, flag])
    return format_table(rows, header, align="<<<<<<><", indent="  ")


def never_called_lines(metrics: Mapping[str, Any]) -> list[str]:
    """One line per label the model called on none of the recordings that have it (all recordings)."""
    overall = metrics["groups"]["overall"]
    return [
        f"the model called {label} on none of the {overall['num_recordings']} recordings; "
        f"{overall[label]['positives']} have {NOUNS.get(label, label)}: its sensitivity of 0 is the "
        "model's, not a small sample's"
        for label in MULTI_LABEL_NAMES
        if never_called(overall[label])
    ]


def unmeasurable_line(metrics: Mapping[str, Any], where: str) -> str | None:
    """One line for recordings where sensitivity or specificity cannot be measured, else ``None``."""
    icbhi = metrics["groups"]["overall"]["icbhi"]
    clause = unmeasurable(icbhi["normal_recordings"], icbhi["abnormal_recordings"])
    if clause is None:
        return None
    return f"{where} has {clause}; its ICBHI-style score is one side alone and is compared with no baseline"

"""The report of a corpus scored per recording (:mod:`respira.evaluation.external_validation`): its folder
(``metrics.json``, the per-recording predictions, the label curves) and its console table and lines; an
event corpus's console report (:func:`print_event_corpus`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.baselines import flags_by_key
from ..metrics.recording_level import unmeasurable, unmeasured
from ..models.respira.labels import MULTI_LABEL_NAMES, RECORDING_LABELS
from ..reports.curves import label_curve_figures
from ..utils.files import write_text_atomic
from ..utils.tables import format_percent, format_score, format_table
from .protocol import Protocol, write_report

if TYPE_CHECKING:
    import datasets

    from ..data.corpora import CorpusSpec

NOUNS = {"crackle": "crackles", "wheeze": "wheezes"}


def write_recording_report(
    protocol: Protocol,
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
        protocol,
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


def print_event_corpus(model: str, spec: CorpusSpec, splits: list[str], metrics: dict[str, Any]) -> None:
    """The events' ICBHI score beside the all-normal baseline, the challenge's table and the records'."""
    events = metrics["events"]
    flag = flags_by_key(events.get("below_baseline")).get("icbhi_score", "")
    print(
        f"{model} on {spec.label} ({', '.join(splits)}): {events['num_examples']} events, ICBHI score "
        f"{format_percent(events['icbhi_score'])} % (Se {format_percent(events['sensitivity'])}, "
        f"Sp {format_percent(events['specificity'])}) vs all-normal "
        f"{format_percent(events.get('baseline_all_normal_icbhi_score'))}" + (f"  {flag}" if flag else "")
    )
    print(challenge_table(metrics))
    print("per recording (Poor Quality records left out):")
    print(recording_level_table(metrics["records"]))
    for line in never_called_lines(metrics["records"]):
        print(line)


CHALLENGE_COLUMNS = ("se", "sp", "baseline_all_normal_score", "baseline_class_prior_score")


def challenge_table(metrics: dict[str, Any]) -> str:
    """The challenge's tasks: SE, SP, Score with intervals, and the baselines' Scores, per group."""
    flags = flags_by_key(metrics.get("below_baseline"))
    rows = []
    for task, groups in metrics["tasks"].items():
        for group, values in groups.items():
            se, sp, *baselines = (format_percent(values[key]) for key in CHALLENGE_COLUMNS)
            score = format_score(values["score"], values["ci"]["score"])
            flag = flags.get(f"tasks.{task}.{group}.score", "")
            rows.append((f"task {task}", group, str(values["n"]), se, sp, score, *baselines, flag))
    header = ("task", "group", "n", "SE %", "SP %", "Score % [95% CI]", "all-normal %", "class prior %", "")
    return format_table(rows, header, align="<<>>>>>><", indent="  ")

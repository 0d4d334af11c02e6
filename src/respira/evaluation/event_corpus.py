"""An event-labelled corpus (SPRSound) scored per event and per recording, by the challenge's scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics.baselines import BASELINE_PREFIX, below_baseline
from ..metrics.groups import group_selections
from ..metrics.recording_level import patient_bootstrap
from ..metrics.sprsound import (
    POOR_QUALITY,
    coarsen_labels,
    flags_to_sprsound,
    score_strata,
    sprsound_baselines,
    sprsound_scores,
)
from ..models.respira.labels import classes_to_flags
from ..utils.files import check_output_folder
from .cycles import evaluate_model
from .external_validation import RECORDINGS, evaluate_recordings
from .protocol import Protocol, write_report

if TYPE_CHECKING:
    import datasets

    from ..models.respira import RespiraForAudioClassification

__all__ = ["CHALLENGE_KEYS", "challenge_scores", "evaluate_event_corpus", "task_below_baselines"]

EVENT_CORPUS = Protocol(
    name="event_corpus",
    columns=(*RECORDINGS.columns, "record_label"),
    needs="an event-labelled corpus's recordings need them (their flags and their label)",
    unit="event, then recording",
    runs="run_dataset, predict",
    grouping="every event and recording, then by the corpus's official part; patients resampled",
    files=("metrics.json", "events/", "records/"),
)
"""Its events scored as cycles (:data:`~respira.evaluation.cycles.CYCLES`, in ``events/``), its recordings by
their windows (:data:`~respira.evaluation.external_validation.RECORDINGS`, in ``records/``), the challenge's
tasks of both (:func:`challenge_scores`)."""
CHALLENGE_KEYS: tuple[str, ...] = ("se", "sp", "as", "hs", "score")
EVENT_HEADLINE: tuple[str, ...] = ("num_examples", "icbhi_score", "sensitivity", "specificity", "thresholds")
"""The events' ICBHI scores ``metrics.json`` repeats (``events/metrics.json`` has them all)."""


def challenge_scores(
    task: str,
    references: Sequence[str],
    predictions: Sequence[str],
    patients: Sequence[Any],
    groups: Sequence[str] | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Task ``task``'s scores of ``predictions`` overall and per group, with patient-bootstrap intervals."""
    references, predictions = np.asarray(references, dtype=object), np.asarray(predictions, dtype=object)
    patients = np.asarray(patients)
    result = {}
    for name, chosen in group_selections(groups, len(references)).items():
        truth, guess = references[chosen], predictions[chosen]
        scores: dict[str, Any] = sprsound_scores(task, truth, guess, warn=False)

        def statistic(index: np.ndarray, truth=truth, guess=guess) -> dict[str, float]:
            values = sprsound_scores(task, truth[index], guess[index], warn=False)
            return {key: values[key] for key in CHALLENGE_KEYS}

        scores["ci"] = patient_bootstrap(
            statistic, patients[chosen], resamples=resamples, seed=seed, strata=score_strata(task, truth)
        )
        scores |= sprsound_baselines(task, list(truth))
        result[name] = scores
    return result


def task_below_baselines(tasks: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The tasks' Scores (per group) that do not beat their all-normal or class-prior baseline."""
    found = []
    for task, groups in tasks.items():
        for group, values in groups.items():
            baselines = {
                name: values.get(f"{BASELINE_PREFIX}{name}_score") for name in ("all_normal", "class_prior")
            }
            where = f"tasks.{task}.{group}.score"
            entry = below_baseline(f"task {task} Score ({group})", where, values["score"], baselines)
            if entry is not None:
                found.append(entry.to_dict())
    return found


def _nested(level: str, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A level's ``below_baseline`` entries with their keys under ``level`` and its name in the headline."""
    return [
        {**entry, "key": f"{level}.{entry['key']}", "headline": f"{entry['headline']} ({level})"}
        for entry in entries
    ]


def evaluate_event_corpus(
    model: RespiraForAudioClassification,
    events: datasets.Dataset,
    recordings: datasets.Dataset,
    *,
    output_dir: str | Path,
    group_column: str | None = "official_part",
    resamples: int = 1000,
    seed: int = 0,
    batch_size: int = 32,
    scored_model: Mapping[str, Any] | None = None,
    **recording_options: Any,
) -> dict[str, Any]:
    """Score ``model`` on an event-labelled corpus's ``events`` and ``recordings`` and write the report."""
    output = check_output_folder(output_dir, overwrite=True)
    EVENT_CORPUS.check(recordings)
    labels = recordings.features["record_label"].int2str(recordings["record_label"])
    judged = [index for index, label in enumerate(labels) if label != POOR_QUALITY]
    if not judged:
        raise ValueError("every recording is Poor Quality: there is no crackle / wheeze label to score")
    scored_records, settings = recordings.select(judged), {"resamples": resamples, "seed": seed}
    options = {"batch_size": batch_size, "group_column": group_column, "scored_model": scored_model}
    parts: dict[str, dict[str, Any]] = {}  # each part's metrics, once its report is written
    writers = {
        "events/": lambda path: parts.update(
            events=evaluate_model(model, events, output_dir=path, batch_size=batch_size)
        ),
        "records/": lambda path: parts.update(
            records=evaluate_recordings(model, scored_records, output_dir=path, **options, **settings,
                                        **recording_options)
        ),
    }  # fmt: skip
    metrics: dict[str, Any] = {} if scored_model is None else {"model": dict(scored_model)}

    def report() -> dict[str, Any]:
        event_metrics, record_metrics = parts["events"], parts["records"]
        event_groups = events[group_column] if group_column in events.column_names else None
        record_groups = scored_records[group_column] if group_column in recordings.column_names else None
        predicted = classes_to_flags(np.asarray(event_metrics["predictions"]))
        references, decided = [labels[index] for index in judged], record_metrics["decisions"]
        records = (scored_records["patient_id"], record_groups)
        inputs = {
            "1-1": (
                coarsen_labels("1-1", events.features["event_type"].int2str(events["event_type"])),
                flags_to_sprsound("1-1", predicted),
                events["patient_id"],
                event_groups,
            ),
            "2-1": (coarsen_labels("2-1", references), flags_to_sprsound("2-1", decided), *records),
            "2-2": (references, flags_to_sprsound("2-2", decided), *records),
        }
        tasks = {task: challenge_scores(task, *values, **settings) for task, values in inputs.items()}
        metrics.update(
            tasks=tasks,
            below_baseline=[
                *task_below_baselines(tasks),
                *_nested("events", event_metrics["below_baseline"]),
                *_nested("records", record_metrics["below_baseline"]),
            ],
            unscored={
                "task 1-2": "crackle / wheeze flags cannot tell the seven event types apart",
                "poor quality records": len(labels) - len(judged),
            },
            events={key: event_metrics[key] for key in EVENT_HEADLINE if key in event_metrics},
            records={key: record_metrics[key] for key in ("num_recordings", "num_patients", "groups")},
        )
        if "site_claim" in record_metrics:  # a fitted site detector's claim, against the records
            metrics["site_claim"] = record_metrics["site_claim"]
        return metrics

    files = write_report(EVENT_CORPUS, output, report, writers)
    return metrics | {**parts, "files": files}

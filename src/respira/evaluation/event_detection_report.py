"""Event detection scored as the sound-event-detection field scores it (``--task events``)."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inference.detector import Detector
from ..inference.event_rules import FRAMES_RULE
from ..metrics.baselines import BASELINE_NAMES, below_baseline, flags_by_key
from ..metrics.events import event_based_scores, segment_based_scores, threshold_independent_scores
from ..metrics.groups import group_selections
from ..metrics.icbhi import _ratio
from ..metrics.recording_level import patient_bootstrap
from ..models.respira.decision import EVENT_COLUMNS, FRAME_HOP_SECONDS, Event, events_to_rows
from ..models.respira.labels import MULTI_LABEL_NAMES
from ..utils.files import write_text_atomic
from .protocol import Protocol, write_report

if TYPE_CHECKING:
    import datasets

    from ..models.respira import RespiraForAudioClassification

__all__ = ["evaluate_events", "event_below_baselines", "event_scores_table", "merge_references"]

COUNT_KEYS = ("reference", "estimated", "true_positives", "deletions", "insertions")
"""The per-label counts summed over recordings (substitutions do not exist per label)."""
BASELINES = ("no_events", "all_positive")
EVENTS = Protocol(
    name="events",
    columns=("audio", "recording"),  # and the column patients are grouped by
    needs="event detection needs them",
    unit="recording",
    runs="detect_events",
    grouping="every recording, then by the corpus's group column; patients resampled",
    files=("metrics.json", "events.csv", "references.csv"),
)
"""Recordings with reference events, each streamed through the detector in overlapping chunks."""


def merge_references(events: Sequence[tuple[float, float, str]]) -> list[Event]:
    """Each label's events as the union of their spans: overlapping or touching ones merged, sorted."""
    merged: list[Event] = []
    for label in MULTI_LABEL_NAMES:
        for start, end in sorted((float(a), float(b)) for a, b, name in events if name == label and b > a):
            if merged and merged[-1].label == label and start <= merged[-1].offset:
                merged[-1] = merged[-1]._replace(offset=max(merged[-1].offset, end))
            else:
                merged.append(Event(start, end, label))
    return sorted(merged, key=lambda event: (event.onset, MULTI_LABEL_NAMES.index(event.label)))


def _rates(counts: np.ndarray) -> dict[str, float]:
    """F1, precision, recall and error rate of summed counts (:data:`COUNT_KEYS` order)."""
    reference, estimated, hits, deletions, insertions = counts
    return {
        "f_measure": _ratio(2 * hits, reference + estimated),
        "precision": _ratio(hits, estimated),
        "recall": _ratio(hits, reference),
        "error_rate": _ratio(deletions + insertions, reference),
        **{key: int(value) for key, value in zip(COUNT_KEYS, counts, strict=True)},
    }


def _summary(per_file: np.ndarray, patients: np.ndarray, *, resamples: int, seed: int) -> dict[str, Any]:
    """Per label and micro-averaged (``overall``) rates of ``[files, labels, counts]``, with F1 intervals."""

    def statistic(indices: np.ndarray) -> dict[str, float]:
        summed = per_file[indices].sum(axis=0)
        values = {label: _rates(summed[i])["f_measure"] for i, label in enumerate(MULTI_LABEL_NAMES)}
        return values | {"overall": _rates(summed.sum(axis=0))["f_measure"]}

    intervals = patient_bootstrap(statistic, patients, resamples=resamples, seed=seed)
    summed = per_file.sum(axis=0)
    out = {label: _rates(summed[i]) for i, label in enumerate(MULTI_LABEL_NAMES)}
    out["overall"] = _rates(summed.sum(axis=0))
    for name, values in out.items():
        values["f_measure_ci"] = intervals[name]
    return out


@dataclass
class _Detections:
    """What the detector found in each recording of a dataset, beside its references, by recording."""

    references: dict[str, list[Event]] = field(default_factory=dict)
    estimates: dict[str, list[Event]] = field(default_factory=dict)
    posteriors: dict[str, np.ndarray] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    patients: list[Any] = field(default_factory=list)
    groups: list[Any] = field(default_factory=list)
    thresholds: Any = None
    settings: Any = None


def _detect_recordings(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    reference_events: Callable[[dict[str, Any]], Sequence[tuple[float, float, str]]],
    *,
    group_by: str,
    group_column: str | None,
    batch_size: int,
    frame_hop_seconds: float,
) -> _Detections:
    """Detect the events of every recording of ``dataset`` and read its reference events."""
    seen: set[str] = set()
    for file in map(str, dataset["recording"]):  # else the per-file arrays would not line up with patients
        if file in seen:
            raise ValueError(f"recording {file!r} appears twice in the dataset")
        seen.add(file)
    found = _Detections()

    def options(example: dict[str, Any]) -> dict[str, Any]:
        return {
            "frame_hop_seconds": frame_hop_seconds,
            "name": str(example["recording"]),
            "rule": FRAMES_RULE,
        }

    detector = Detector(model, batch_size=batch_size)
    for example, detection in EVENTS.run(detector, dataset, "detecting events", options):
        file = str(example["recording"])
        found.thresholds, found.settings = detection.thresholds, detection.settings
        found.durations[file] = detection.frames.duration
        found.references[file] = [
            e for e in merge_references(reference_events(example)) if e.onset < found.durations[file]
        ]
        found.estimates[file] = detection.events
        found.posteriors[file] = detection.frames.posteriors
        found.patients.append(example[group_by])
        found.groups.append(example[group_column] if group_column in dataset.column_names else None)
    return found


def _count_scores(
    found: _Detections, event_options: dict[str, float], segment_seconds: float
) -> dict[tuple[str, str], np.ndarray]:
    """The ``[files, labels, counts]`` of each recording's scores, by (model or baseline, scoring kind)."""
    files, references, durations = list(found.references), found.references, found.durations
    every = {file: [Event(0.0, durations[file], label) for label in MULTI_LABEL_NAMES] for file in files}
    ways = {"model": found.estimates, "no_events": {file: [] for file in files}, "all_positive": every}
    scorers = (
        ("event_based", event_based_scores, event_options),
        ("segment_based", segment_based_scores, {"time_resolution": segment_seconds}),
    )
    counts = {}
    for (way, estimated), (kind, scorer, options) in itertools.product(ways.items(), scorers):
        scores = [scorer({f: references[f]}, {f: estimated[f]}, **options) for f in references]
        counts[way, kind] = np.array(
            [[[s[k][key] for key in COUNT_KEYS] for k in MULTI_LABEL_NAMES] for s in scores], dtype=float
        )
    return counts


def _group_results(
    found: _Detections,
    counts: dict[tuple[str, str], np.ndarray],
    grouped: list[Any] | None,
    *,
    resamples: int,
    seed: int,
    frame_hop_seconds: float,
) -> dict[str, Any]:
    """Each group's recordings, patients and scores (with intervals), the model's threshold-free ones too."""
    files, references, patients_array = list(found.references), found.references, np.asarray(found.patients)
    results: dict[str, Any] = {}
    for name, chosen in group_selections(grouped, len(files)).items():
        entry: dict[str, Any] = {
            "recordings": int(chosen.sum()),
            "patients": int(np.unique(patients_array[chosen]).size),
        }
        for (way, kind), per_file in counts.items():
            entry.setdefault(way, {})[kind] = _summary(
                per_file[chosen], patients_array[chosen], resamples=resamples, seed=seed
            )
        chosen_files = [file for file, keep in zip(files, chosen, strict=True) if keep]
        present = {event.label for file in chosen_files for event in references[file]}
        labels = [label for label in MULTI_LABEL_NAMES if label in present]
        if labels:
            entry["model"]["threshold_independent"] = threshold_independent_scores(
                {file: found.posteriors[file] for file in chosen_files},
                {file: references[file] for file in chosen_files},
                frame_hop_seconds=frame_hop_seconds,
                thresholds=found.thresholds,
                labels=labels,
                durations={file: found.durations[file] for file in chosen_files},
            )
        results[name] = entry
    return results


def _write_events(path: Path, events: Mapping[str, list[Event]], files: Sequence[str]) -> None:
    """The events of each of ``files``, one row each (:data:`EVENT_COLUMNS`), written atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(EVENT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for file in files:
        writer.writerows(events_to_rows(events[file], file=file))
    write_text_atomic(path, text.getvalue())


def _write_report(output_dir: str | Path, metrics: dict[str, Any], found: _Detections) -> list[str]:
    """Write ``metrics.json`` and the found and reference events of every recording, as one folder."""
    files = list(found.references)
    writers = {
        "events.csv": lambda path: _write_events(path, found.estimates, files),
        "references.csv": lambda path: _write_events(path, found.references, files),
    }
    return write_report(EVENTS, output_dir, metrics, writers)


def evaluate_events(
    model: RespiraForAudioClassification,
    dataset: datasets.Dataset,
    *,
    reference_events: Callable[[dict[str, Any]], Sequence[tuple[float, float, str]]],
    output_dir: str | Path,
    group_by: str = "patient_id",
    group_column: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
    batch_size: int = 16,
    frame_hop_seconds: float = FRAME_HOP_SECONDS,
    t_collar: float = 0.2,
    percentage_of_length: float = 0.2,
    segment_seconds: float = 1.0,
    scored_model: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Detect and score the events of every recording of ``dataset``; write the report to ``output_dir``."""
    EVENTS.check(dataset, (group_by,))
    found = _detect_recordings(
        model,
        dataset,
        reference_events,
        group_by=group_by,
        group_column=group_column,
        batch_size=batch_size,
        frame_hop_seconds=frame_hop_seconds,
    )
    event_options = {"t_collar": t_collar, "percentage_of_length": percentage_of_length}
    counts = _count_scores(found, event_options, segment_seconds)
    grouped = found.groups if group_column in dataset.column_names else None
    results = _group_results(
        found, counts, grouped, resamples=resamples, seed=seed, frame_hop_seconds=frame_hop_seconds
    )
    metrics: dict[str, Any] = {
        "below_baseline": event_below_baselines(results),
        "num_recordings": len(found.references),
        "num_patients": int(np.unique(np.asarray(found.patients)).size),
        "thresholds": {"crackle": found.thresholds[0], "wheeze": found.thresholds[1]},
        "event_settings": found.settings.to_dict(),
        "frame_hop_seconds": frame_hop_seconds,
        "scoring": {**event_options, "segment_seconds": segment_seconds},
        "bootstrap": {"unit": "patient", "method": "percentile", "resamples": resamples, "seed": seed},
        "group_column": group_column if group_column in dataset.column_names else None,
        "groups": results,
    }
    if scored_model is not None:
        metrics["model"] = dict(scored_model)
    metrics["files"] = _write_report(output_dir, metrics, found)
    return metrics


HEADLINES: dict[str, tuple[str, bool]] = {"f_measure": ("event F1", False), "error_rate": ("event ER", True)}
"""The event-based headlines beside their baselines: key → (name, lower is better)."""


def event_below_baselines(groups: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per group and label, the event-based F1 and error rate that do not beat the better baseline."""
    found = []
    for group, entry in groups.items():
        for label in (*MULTI_LABEL_NAMES, "overall"):
            for key, (name, lower) in HEADLINES.items():
                below = below_baseline(
                    f"{label} {name} ({group})",
                    f"groups.{group}.model.event_based.{label}.{key}",
                    entry["model"]["event_based"][label][key],
                    {way: entry[way]["event_based"][label][key] for way in BASELINES},
                    lower_is_better=lower,
                )
                if below is not None:
                    found.append(below.to_dict())
    return found


def event_scores_table(metrics: Mapping[str, Any]) -> str:
    """Per group and label: event- and segment-based scores and PSDS, flagged when not beating a baseline."""
    from ..utils.tables import format_number, format_table

    def number(value: Any) -> str:
        return format_number(value, 3, missing="n/a")

    def f1(values: Mapping[str, Any]) -> str:
        low, high = values["f_measure_ci"]
        return f"{number(values['f_measure'])} [{number(low)}, {number(high)}]"

    flags = flags_by_key(metrics.get("below_baseline"))
    rows = []
    for group, entry in metrics["groups"].items():
        independent = entry["model"].get("threshold_independent", {})
        for label in (*MULTI_LABEL_NAMES, "overall"):
            event = entry["model"]["event_based"][label]
            psds = independent.get(label, {}).get("psds") if label != "overall" else independent.get("psds")
            where = f"groups.{group}.model.event_based.{label}"
            marks = "; ".join(flags[f"{where}.{key}"] for key in HEADLINES if f"{where}.{key}" in flags)
            segment = f1(entry["model"]["segment_based"][label])
            counted = (str(event["reference"]), f1(event), number(event["error_rate"]), segment)
            rows.append((group, label, *counted, number(psds), marks))
        for way in BASELINES:
            event, segment = entry[way]["event_based"]["overall"], entry[way]["segment_based"]["overall"]
            scores = map(number, (event["f_measure"], event["error_rate"], segment["f_measure"]))
            rows.append((group, f"baseline: {BASELINE_NAMES[way]}", str(event["reference"]), *scores, "", ""))
    header = ("group", "label", "refs", "event F1 [95% CI]", "event ER", "segment F1 [95% CI]", "PSDS", "")
    return format_table(rows, header, align="<<>>>>><", indent="  ")

"""The pure pieces of ``studies/event_detection.py``: the window baseline's events, event counts, and the
grid search that tunes frame and window thresholds and event settings for event-based F1."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from respira.evaluation.event_detection_report import merge_references
from respira.metrics.events import event_based_scores
from respira.models.respira.decision import (
    FRAME_HOP_SECONDS,
    Event,
    EventSettings,
    LabelEventSettings,
    posteriors_to_events,
    present,
)
from respira.models.respira.labels import MULTI_LABEL_NAMES

COLLARS: dict[str, float] = {"t_collar": 0.2, "percentage_of_length": 0.2}
"""sed_eval's event-based matching, in the scores and in the tuning."""
QUANTILES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995)
MEDIAN_FILTERS, MIN_DURATIONS, MAX_GAPS = (0.0, 0.1, 0.3, 0.5), (0.0, 0.1, 0.2, 0.4), (0.0, 0.1, 0.3, 0.6)


# ------------------------------------------------------------------------------------------ pure pieces
def window_events(rows: Sequence[Mapping[str, Any]], thresholds: Sequence[float]) -> list[Event]:
    """The window baseline: of :func:`respira.inference.windowing.predict_windows` rows, every window whose
    probability of the label is at or above its threshold (``respira.models.respira.decision.present``;
    at the model's thresholds, the windows decided to hold it) is an event ``[start, end]`` of it;
    overlapping or adjacent ones are merged (``merge_references``), the confidence the windows' maximum
    probability of the label."""
    if not rows:
        return []
    flags = present([[row[label] for label in MULTI_LABEL_NAMES] for row in rows], thresholds)
    flagged = [
        (float(row["start"]), float(row["end"]), label, float(row[label]))
        for row, on in zip(rows, flags, strict=True)
        for label, hit in zip(MULTI_LABEL_NAMES, on, strict=True)
        if hit
    ]
    return [
        event._replace(
            confidence=max(
                p for a, b, name, p in flagged if name == event.label and event.onset <= a < event.offset
            )
        )
        for event in merge_references([f[:3] for f in flagged])
    ]


def whole_recording_events(duration: float) -> list[Event]:
    """The all-positive baseline: the whole recording one event of each label."""
    return [Event(0.0, float(duration), label) for label in MULTI_LABEL_NAMES]


def f1(true_positives: float, reference: float, estimated: float) -> float:
    """2 TP / (N_ref + N_est); ``nan`` when both are 0."""
    total = reference + estimated
    return 2.0 * true_positives / total if total > 0 else math.nan


def could_match(references: Sequence[Event], estimates: Sequence[Event]) -> bool:
    """Whether some estimate has its onset and offset within sed_eval's collars (:data:`COLLARS`, with
    1 µs of slack) of some reference: without such a pair no estimate can match."""
    ours = np.array([(e.onset, e.offset) for e in references]).reshape(-1, 1, 2)
    theirs = np.array([(e.onset, e.offset) for e in estimates]).reshape(1, -1, 2)
    collar = COLLARS["t_collar"]
    offset_collar = np.maximum(collar, COLLARS["percentage_of_length"] * (ours[..., 1] - ours[..., 0]))
    near = np.abs(ours - theirs) <= np.stack([np.full_like(offset_collar, collar), offset_collar], -1) + 1e-6
    return bool(near.all(axis=-1).any())


def event_counts(references: Sequence[Event], estimates: Sequence[Event], label: str) -> tuple[float, ...]:
    """``(TP, N_ref, N_est)`` of one recording's events of ``label`` by sed_eval (:data:`COLLARS`); with
    no references, no estimates or no pair that :func:`could_match`, TP is 0 without a call."""
    ours = [e for e in references if e.label == label]
    theirs = [e for e in estimates if e.label == label]
    if not ours or not theirs or not could_match(ours, theirs):
        return 0.0, float(len(ours)), float(len(theirs))
    scores = event_based_scores({"": ours}, {"": theirs}, **COLLARS)[label]
    return scores["true_positives"], scores["reference"], scores["estimated"]


def best_per_label(
    candidates: Sequence[Any],
    detect: Callable[[Any], Mapping[str, Sequence[Event]]],
    references: Mapping[str, Sequence[Event]],
) -> list[tuple[int, float]]:
    """Per label, ``(index, F1)`` of the candidate whose events (``detect(candidate)``: ``{file: events}``)
    have the highest event-based F1 against ``references``, counts pooled over the files (F1 0 when
    undefined); ties to fewer errors (N_ref + N_est - 2 TP), then to the first. Each recording's counts
    of a label's events are computed once (sed_eval matches within a file)."""
    memory: dict[tuple, tuple[float, ...]] = {}
    totals = np.zeros((len(candidates), len(MULTI_LABEL_NAMES), 3))
    for number, candidate in enumerate(candidates):
        found = detect(candidate)
        for file, ours in references.items():
            for column, label in enumerate(MULTI_LABEL_NAMES):
                theirs = [e for e in found.get(file, ()) if e.label == label]
                key = (file, label, tuple((e.onset, e.offset) for e in theirs))
                if key not in memory:
                    memory[key] = event_counts(ours, theirs, label)
                totals[number, column] += memory[key]
    chosen = []
    for column in range(len(MULTI_LABEL_NAMES)):
        hits, refs, ests = totals[:, column].T
        scores = np.where(refs + ests > 0, 2 * hits / np.maximum(refs + ests, 1), 0.0)
        best = min(range(len(candidates)), key=lambda n: (-scores[n], refs[n] + ests[n] - 2 * hits[n], n))
        chosen.append((best, float(scores[best])))
    return chosen


@dataclass(frozen=True)
class Choice:
    """What the tuning chose: ``thresholds`` (crackle, wheeze), their quantile ``levels``, the event
    ``settings`` (``None`` for windows) and each label's validation event F1."""

    thresholds: tuple[float, float]
    levels: tuple[float, float]
    settings: EventSettings | None
    f1: tuple[float, float]


def tune_frames(
    posteriors: Mapping[str, np.ndarray],
    references: Mapping[str, Sequence[Event]],
    *,
    levels: Sequence[float] = QUANTILES,
    medians: Sequence[float] = MEDIAN_FILTERS,
    durations: Sequence[float] = MIN_DURATIONS,
    gaps: Sequence[float] = MAX_GAPS,
    hop: float = FRAME_HOP_SECONDS,
) -> Choice:
    """Per label, the threshold (a quantile ``levels`` of the files' pooled frame posteriors) and event
    settings of the grid with the best event F1 (:func:`best_per_label`)."""
    thresholds = np.quantile(np.concatenate(list(posteriors.values())), levels, axis=0)
    grid = [
        (level, LabelEventSettings(m, d, g))
        for level, m, d, g in itertools.product(range(len(levels)), medians, durations, gaps)
    ]

    def detect(candidate: tuple[int, LabelEventSettings]) -> dict[str, list[Event]]:
        level, settings = candidate
        both = EventSettings(settings, settings)
        return {f: posteriors_to_events(p, hop, thresholds[level], both) for f, p in posteriors.items()}

    (c, c_f1), (w, w_f1) = best_per_label(grid, detect, references)
    return Choice(
        (float(thresholds[grid[c][0], 0]), float(thresholds[grid[w][0], 1])),
        (levels[grid[c][0]], levels[grid[w][0]]),
        EventSettings(grid[c][1], grid[w][1]),
        (c_f1, w_f1),
    )


def tune_windows(
    rows: Mapping[str, Sequence[Mapping[str, Any]]],
    references: Mapping[str, Sequence[Event]],
    *,
    levels: Sequence[float] = QUANTILES,
) -> Choice:
    """Per label, the window threshold (a quantile ``levels`` of the files' pooled window probabilities)
    with the best event F1 of :func:`window_events`."""
    pooled = [[row[label] for label in MULTI_LABEL_NAMES] for found in rows.values() for row in found]
    thresholds = np.quantile(np.asarray(pooled), levels, axis=0)
    (c, c_f1), (w, w_f1) = best_per_label(
        range(len(levels)),
        lambda n: {f: window_events(r, thresholds[n]) for f, r in rows.items()},
        references,
    )
    return Choice(
        (float(thresholds[c, 0]), float(thresholds[w, 1])), (levels[c], levels[w]), None, (c_f1, w_f1)
    )


def paired_differences(
    counts: Mapping[str, list[dict]],
    comparisons: Sequence[tuple[str, str]],
    patients: Sequence[str],
    resamples: int,
) -> dict[str, Any]:
    """Per comparison ``(ours, theirs)`` of methods in ``counts`` (per seed, ``{level: {label: [files, 3]}}``
    counts), level and label, keyed ``ours/theirs/level/label``: the seed-mean F1 difference, its 95 %
    patient-bootstrap interval (``patients``: each file's, in the counts' order) and the seeds where the
    first wins."""
    from respira.metrics.recording_level import patient_bootstrap

    names = [
        f"{ours}/{theirs}/{level}/{label}"
        for ours, theirs in comparisons
        for level in ("event", "segment")
        for label in MULTI_LABEL_NAMES
    ]

    def pair(name: str, rows: np.ndarray | None) -> tuple[list[float], list[float]]:
        ours, theirs, level, label = name.split("/")
        return tuple([pooled_f1(c[level][label], rows) for c in counts[way]] for way in (ours, theirs))

    def statistic(rows: np.ndarray) -> dict[str, float]:
        return {name: float(np.subtract(*map(np.mean, pair(name, rows)))) for name in names}

    point = statistic(np.arange(len(patients)))
    intervals = patient_bootstrap(statistic, list(patients), resamples=resamples, seed=0)
    out = {}
    for name, value in point.items():
        ours, theirs = pair(name, None)
        wins = sum(a > b for a, b in zip(ours, theirs, strict=True))
        out[name] = {"difference": value, "interval": intervals[name], "wins": wins, "seeds": len(ours)}
    return out


def pooled_f1(counts: np.ndarray, rows: np.ndarray | None = None) -> float:
    """F1 of per-file ``[files, 3]`` counts (TP, N_ref, N_est) summed over ``rows`` (default: all)."""
    total = counts.sum(axis=0) if rows is None else counts[rows].sum(axis=0)
    return f1(*total)

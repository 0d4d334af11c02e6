"""Scores of respiratory event detection by ``sed_eval`` (event- and segment-based) and ``sed_scores_eval``
(intersection-based F1 and PSDS of frame posteriors), from the ``events`` extra. Events are
:class:`respira.models.respira.decision.Event` s or ``(onset, offset, label)`` tuples per file.
"""

from __future__ import annotations

import importlib
import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..models.respira.decision import Event, validate_posteriors, validate_thresholds
from ..models.respira.labels import MULTI_LABEL_NAMES
from .icbhi import _mean_defined

EventsByFile = Mapping[str, Sequence[Any]] | Sequence[Any]
"""``{file: events}`` or one recording's events; an event is an ``Event`` or ``(onset, offset, label)``."""

_INSTALL = "pip install 'respira[events]'"


def _import(name: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(f"event scoring needs {name.partition('.')[0]} ({_INSTALL}): {error}") from error


def _event(item: Any, what: str, file: str) -> Event:
    try:
        onset, offset, label = float(item[0]), float(item[1]), item[2]
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{what} events of {file!r} must be (onset, offset, label), got {item!r}") from None
    if label not in MULTI_LABEL_NAMES:
        raise ValueError(
            f"{what} event of {file!r} has label {label!r}, not one of {list(MULTI_LABEL_NAMES)}"
        )
    if not (math.isfinite(onset) and math.isfinite(offset)) or not 0 <= onset < offset:
        raise ValueError(f"{what} event of {file!r} needs 0 <= onset < offset, got {onset!r}-{offset!r}")
    return Event(onset, offset, str(label))


def _by_file(events: EventsByFile, what: str) -> dict[str, list[Event]]:
    if isinstance(events, Mapping):
        grouped = {str(file): list(items) for file, items in events.items()}
    elif isinstance(events, Sequence) and not isinstance(events, str):
        grouped = {"": list(events)}
    else:
        raise ValueError(f"{what} events must be {{file: events}} or a sequence of events")
    return {file: [_event(item, what, file) for item in items] for file, items in grouped.items()}


def _paired(references: EventsByFile, estimates: EventsByFile) -> tuple[dict, dict]:
    reference = _by_file(references, "reference")
    estimated = _by_file(estimates, "estimated")
    if not reference:
        raise ValueError("no reference files to score")
    unknown = sorted(set(estimated) - set(reference))
    if unknown:
        raise ValueError(f"estimated events for files without references: {unknown[:5]}")
    return reference, estimated


def _rows(events: list[Event], file: str) -> list[dict[str, Any]]:
    return [{"filename": file, "event_label": e.label, "onset": e.onset, "offset": e.offset} for e in events]


def _level(measures: tuple[Mapping, ...], state: Mapping, counts: Mapping[str, str]) -> dict[str, float]:
    """One level's sed_eval measures and counts as floats; error rates ``nan`` without references."""
    level = {key: float(value) for part in measures for key, value in part.items()}
    level |= {name: float(state[key]) for name, key in counts.items()}
    if level["reference"] == 0:
        level |= dict.fromkeys(measures[1], math.nan)
    return level


_COUNTS = {"reference": "Nref", "estimated": "Nsys", "true_positives": "Ntp"}
"""sed_eval's names of the counts every level reports (each label adds ``deletions`` and ``insertions``)."""
_CLASS_COUNTS = _COUNTS | {"deletions": "Nfn", "insertions": "Nfp"}


def _scores(metrics: Any, overall_counts: dict[str, str]) -> dict[str, dict[str, float]]:
    """``overall``, each label, and ``class_average`` (the mean of the defined values)."""
    overall = (metrics.overall_f_measure(), metrics.overall_error_rate())
    out = {"overall": _level(overall, metrics.overall, _COUNTS | overall_counts)}
    for label in MULTI_LABEL_NAMES:
        measures = (metrics.class_wise_f_measure(label), metrics.class_wise_error_rate(label))
        out[label] = _level(measures, metrics.class_wise[label], _CLASS_COUNTS)
    keys = [key for key in out[MULTI_LABEL_NAMES[0]] if key not in _CLASS_COUNTS]
    out["class_average"] = {
        key: _mean_defined([out[label][key] for label in MULTI_LABEL_NAMES]) for key in keys
    }
    return out


def event_based_scores(
    references: EventsByFile,
    estimates: EventsByFile,
    *,
    t_collar: float = 0.2,
    percentage_of_length: float = 0.2,
) -> dict[str, dict[str, float]]:
    """sed_eval's event-based scores (onset within ``t_collar`` s, offset within ``max(t_collar,
    percentage_of_length × length)``) for ``overall``, ``crackle``, ``wheeze`` and ``class_average``."""
    reference, estimated = _paired(references, estimates)
    sound_event = _import("sed_eval.sound_event")
    metrics = sound_event.EventBasedMetrics(
        event_label_list=list(MULTI_LABEL_NAMES),
        t_collar=float(t_collar),
        percentage_of_length=float(percentage_of_length),
    )
    for file, events in reference.items():
        metrics.evaluate(_rows(events, file), _rows(estimated.get(file, []), file))
    return _scores(metrics, {"substitutions": "Nsubs", "deletions": "Nfn", "insertions": "Nfp"})


def segment_based_scores(
    references: EventsByFile,
    estimates: EventsByFile,
    *,
    time_resolution: float = 1.0,
    durations: Mapping[str, float] | None = None,
) -> dict[str, dict[str, float]]:
    """sed_eval's segment-based scores, laid out as :func:`event_based_scores` (``durations``: per file)."""
    reference, estimated = _paired(references, estimates)
    lengths = {str(file): float(value) for file, value in (durations or {}).items()}
    sound_event = _import("sed_eval.sound_event")
    metrics = sound_event.SegmentBasedMetrics(list(MULTI_LABEL_NAMES), time_resolution=float(time_resolution))
    for file, events in reference.items():
        metrics.evaluate(_rows(events, file), _rows(estimated.get(file, []), file), lengths.get(file))
    return _scores(metrics, {"substitutions": "S", "deletions": "D", "insertions": "I"})


class _WritableScores(pd.DataFrame):
    """A score frame whose ``to_numpy()`` is writable, for sed_scores_eval 0.0.4's Cython."""

    @property
    def _constructor(self) -> type[_WritableScores]:
        return _WritableScores

    def to_numpy(self, *args: Any, **kwargs: Any) -> np.ndarray:
        array = super().to_numpy(*args, **kwargs)
        return array if array.flags.writeable else array.copy()


def _posteriors(values: Any, file: str, columns: list[int]) -> np.ndarray:
    try:
        array = validate_posteriors(values)
    except ValueError as error:
        raise ValueError(f"scores of {file!r}: {error}") from None
    if len(array) == 0:
        raise ValueError(f"scores of {file!r} have no frames")
    return array[:, columns]


def _scored_references(references: Any, files: set[str], names: list[str]) -> dict[str, list[Event]]:
    """The reference events of ``names`` per file, checked as sed_scores_eval needs them."""
    reference = {
        file: [event for event in events if event.label in names]
        for file, events in _by_file(references, "reference").items()
    }
    if set(reference) != files:
        missing, extra = sorted(files - set(reference)), sorted(set(reference) - files)
        raise ValueError(
            f"scores and references cover different files: no references {missing[:5]}, no scores {extra[:5]}"
        )
    for label in names:
        if not any(event.label == label for events in reference.values() for event in events):
            raise ValueError(f"threshold-independent scores need at least one reference {label} event")
        for file, events in reference.items():
            spans = sorted((event.onset, event.offset) for event in events if event.label == label)
            if any(later[0] <= earlier[1] for earlier, later in itertools.pairwise(spans)):
                raise ValueError(f"reference {label} events of {file!r} overlap or touch: merge them first")
    return reference


def threshold_independent_scores(
    scores_per_file: Mapping[str, Any],
    references: Mapping[str, Sequence[Any]],
    *,
    frame_hop_seconds: float,
    thresholds: Sequence[float] | None = None,
    labels: Sequence[str] = MULTI_LABEL_NAMES,
    durations: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """sed_scores_eval's intersection-based scores of frame posteriors ``{file: [frames, 2]}`` against
    ``references``: ``psds`` and per label and average the best F1 (and, given ``thresholds``, F1 at them)."""
    names = list(dict.fromkeys(labels))
    if not names or any(name not in MULTI_LABEL_NAMES for name in names):
        raise ValueError(f"labels must be some of {list(MULTI_LABEL_NAMES)}, got {list(labels)!r}")
    chosen = validate_thresholds(thresholds)
    hop = float(frame_hop_seconds)
    if not isinstance(scores_per_file, Mapping) or not scores_per_file:
        raise ValueError("scores_per_file must be a non-empty {file: [frames, 2] posteriors}")
    reference = _scored_references(references, set(map(str, scores_per_file)), names)
    columns = [MULTI_LABEL_NAMES.index(name) for name in names]
    arrays = {str(file): _posteriors(values, str(file), columns) for file, values in scores_per_file.items()}
    lengths = {file: round(len(array) * hop, 6) for file, array in arrays.items()}
    lengths |= {str(file): float(value) for file, value in (durations or {}).items()}

    create = _import("sed_scores_eval.base_modules.scores").create_score_dataframe
    intersection = _import("sed_scores_eval.intersection_based")
    frames = {
        file: _WritableScores(create(array, np.round(np.arange(len(array) + 1) * hop, 6), names))
        for file, array in arrays.items()
    }
    truth = {file: [(e.onset, e.offset, e.label) for e in events] for file, events in reference.items()}
    criteria = {"dtc_threshold": 0.5, "gtc_threshold": 0.5}
    psds, label_psds, *_ = intersection.psds(frames, truth, lengths, **criteria)
    best = intersection.best_fscore(frames, truth, **criteria)
    at = None
    if thresholds is not None:
        # sed_scores_eval detects scores > threshold: the next float down gives respira's >= rule
        below = {n: float(np.nextafter(chosen[MULTI_LABEL_NAMES.index(n)], -np.inf)) for n in names}
        at = intersection.fscore(frames, truth, below, **criteria)
    out: dict[str, Any] = {"psds": float(psds)}
    kinds = ("f1", "precision", "recall")
    for key, name in [*((n, n) for n in names), ("macro_average", "macro"), ("micro_average", "micro")]:
        out[name] = {f"best_{kind}": float(best[i][key]) for i, kind in enumerate(kinds)}
        if key in names:
            out[name] |= {"best_threshold": float(best[3][key]), "psds": float(label_psds[key])}
        if at is not None:
            out[name] |= {kind: float(at[i][key]) for i, kind in enumerate(kinds)}
    return out

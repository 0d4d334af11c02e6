"""Respiratory events (crackle and wheeze onsets and offsets) from frame posteriors.

Per label, frames are decided, median-filtered, merged across gaps shorter than ``max_gap_seconds`` and
kept when at least ``min_duration_seconds`` long, with the peak posterior as confidence.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage

from .decision import present, validate_thresholds
from .labels import MULTI_LABEL_NAMES
from .number_checks import is_real

FRAME_HOP_SECONDS = 0.02
EVENT_COLUMNS = ("file", "onset", "offset", "type", "confidence")
_TOLERANCE = 1e-9  # seconds
_TIME_DECIMALS = 6


class Event(NamedTuple):
    """One event: ``onset``, ``offset`` (s), ``label`` and ``confidence`` (its peak posterior)."""

    onset: float
    offset: float
    label: str
    confidence: float = 1.0


def _seconds(value: Any, name: str) -> float:
    if not is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LabelEventSettings:
    """How one label's frame decisions become events (seconds, finite and ``>= 0``; 0 turns a step off)."""

    median_filter_seconds: float
    min_duration_seconds: float
    max_gap_seconds: float

    def __post_init__(self) -> None:
        for item in fields(self):
            object.__setattr__(self, item.name, _seconds(getattr(self, item.name), item.name))


DEFAULT_CRACKLE = LabelEventSettings(median_filter_seconds=0.0, min_duration_seconds=0.0, max_gap_seconds=0.3)
DEFAULT_WHEEZE = LabelEventSettings(median_filter_seconds=0.1, min_duration_seconds=0.1, max_gap_seconds=0.1)


@dataclass(frozen=True)
class EventSettings:
    """Per-label :class:`LabelEventSettings`, stored in a model's ``config.json`` (:meth:`to_dict`).

    Defaults follow CORSA (Sovijärvi et al., 2000): crackles (< 20 ms) unfiltered, merged within 0.3 s;
    wheezes (> 80-100 ms) with a 0.1 s median filter, minimum duration and merge gap.
    """

    crackle: LabelEventSettings = field(default_factory=lambda: DEFAULT_CRACKLE)
    wheeze: LabelEventSettings = field(default_factory=lambda: DEFAULT_WHEEZE)

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{label: {setting: seconds}}``, JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventSettings:
        """The settings :meth:`to_dict` wrote."""
        if not isinstance(data, Mapping) or set(data) != set(MULTI_LABEL_NAMES):
            got = sorted(map(str, data)) if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"event settings need exactly the labels {list(MULTI_LABEL_NAMES)}, got {got}")
        keys = [item.name for item in fields(LabelEventSettings)]
        per_label = {}
        for label in MULTI_LABEL_NAMES:
            values = data[label]
            if not isinstance(values, Mapping) or set(values) != set(keys):
                got = sorted(map(str, values)) if isinstance(values, Mapping) else type(values).__name__
                raise ValueError(f"event settings for {label} need exactly the keys {keys}, got {got}")
            per_label[label] = LabelEventSettings(**{key: values[key] for key in keys})
        return cls(**per_label)


def event_settings_of(config: Any) -> EventSettings:
    """The event settings a model detects with: its ``config.event_settings``, else the defaults."""
    stored = getattr(config, "event_settings", None)
    return EventSettings() if stored is None else EventSettings.from_dict(stored)


def median_filter_frames(seconds: float, frame_hop_seconds: float) -> int:
    """The median filter's width in frames: ``seconds / hop`` rounded, made odd."""
    frames = round(_seconds(seconds, "median_filter_seconds") / _hop(frame_hop_seconds))
    return int(frames + 1 if frames % 2 == 0 else frames)


def _hop(value: Any) -> float:
    hop = _seconds(value, "frame_hop_seconds")
    if hop == 0:
        raise ValueError(f"frame_hop_seconds must be > 0, got {value!r}")
    return hop


def validate_posteriors(posteriors: Any) -> np.ndarray:
    """``[frames, 2]`` (crackle, wheeze) probabilities as float64."""
    try:
        array = np.asarray(posteriors, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("posteriors must be numbers of shape [frames, 2] (crackle, wheeze)") from None
    if array.ndim != 2 or array.shape[1] != len(MULTI_LABEL_NAMES):
        raise ValueError(f"posteriors must have shape [frames, 2] (crackle, wheeze), got {array.shape}")
    if not np.all(np.isfinite(array)) or np.any((array < 0) | (array > 1)):
        raise ValueError("posteriors must be probabilities in [0, 1]")
    return array


def _runs(active: np.ndarray) -> list[list[int]]:
    edges = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
    return [
        [int(a), int(b)] for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    ]


def _label_runs(active: np.ndarray, hop: float, settings: LabelEventSettings) -> list[list[int]]:
    size = median_filter_frames(settings.median_filter_seconds, hop)
    if size > 1:
        active = ndimage.median_filter(active.astype(np.uint8), size=size, mode="constant", cval=0)
    merged: list[list[int]] = []
    for run in _runs(active):
        if merged and (run[0] - merged[-1][1]) * hop < settings.max_gap_seconds - _TOLERANCE:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [run for run in merged if (run[1] - run[0]) * hop >= settings.min_duration_seconds - _TOLERANCE]


def posteriors_to_events(
    posteriors: Any,
    frame_hop_seconds: float,
    thresholds: Sequence[float] | None,
    settings: EventSettings | None = None,
) -> list[Event]:
    """The events of ``[frames, 2]`` posteriors on a grid of ``frame_hop_seconds`` from 0."""
    array = validate_posteriors(posteriors)
    hop = _hop(frame_hop_seconds)
    decided = present(array, validate_thresholds(thresholds))
    settings = EventSettings() if settings is None else settings
    events = [
        Event(
            round(first * hop, _TIME_DECIMALS),
            round(stop * hop, _TIME_DECIMALS),
            label,
            float(array[first:stop, column].max()),
        )
        for column, label in enumerate(MULTI_LABEL_NAMES)
        for first, stop in _label_runs(decided[:, column], hop, getattr(settings, label))
    ]
    return sorted(events, key=lambda event: (event.onset, MULTI_LABEL_NAMES.index(event.label)))


def events_to_rows(events: Sequence[Event], *, file: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """CSV/JSON-ready rows (:data:`EVENT_COLUMNS`), one per event."""
    return [
        {
            "file": str(file),
            "onset": float(event.onset),
            "offset": float(event.offset),
            "type": str(event.label),
            "confidence": float(event.confidence),
        }
        for event in events
    ]

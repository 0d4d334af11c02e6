"""Respiratory events (crackle and wheeze onsets and offsets) from frame posteriors (one home).

A frame-level model gives a (crackle, wheeze) posterior per frame on a fixed grid of hop ``h`` seconds
(0.1 s or finer): frame ``i`` covers ``[t0 + i*h, t0 + (i+1)*h)`` seconds, ``t0`` being the
``offset_seconds`` of the first frame (0 for a whole recording). :func:`posteriors_to_events` turns
them into :class:`Event` s, for each label separately:

1. each frame is decided at the label's threshold by :func:`respira.core.decision.present` (the decision
   rule's one comparison: present when the posterior is ``>=`` the threshold);
2. the 0/1 decisions are median-filtered over :func:`median_filter_frames` frames (an odd number, zero
   padding at both ends): runs of fewer than half the window vanish and gaps of fewer than half the
   window close, at the edges as in the middle;
3. events separated by a gap shorter than ``max_gap_seconds`` are merged;
4. events shorter than ``min_duration_seconds`` are dropped;
5. an event's confidence is the **maximum** posterior of its label over its frames (its peak, as the
   recording's probability is its windows' maximum in :mod:`respira.core.windows`; an event the median
   filter alone made, out of alternating frames, can peak below the threshold).

Comparisons of durations and gaps with the settings allow 1e-9 s for floating-point error; onsets and
offsets are rounded to the microsecond (6 decimals). Events are sorted by onset, then label.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage

from ..labels import MULTI_LABEL_NAMES
from .decision import present, validate_thresholds

__all__ = [
    "EVENT_COLUMNS",
    "FRAME_HOP_SECONDS",
    "Event",
    "EventSettings",
    "LabelEventSettings",
    "event_settings_of",
    "events_to_rows",
    "median_filter_frames",
    "posteriors_to_events",
    "validate_posteriors",
]

FRAME_HOP_SECONDS = 0.02
"""The hop (seconds) of the frame grid of respira's frame posteriors
(:mod:`respira.inference.event_detection`)."""

EVENT_COLUMNS = ("file", "onset", "offset", "type", "confidence")
"""The columns of an event row (:func:`events_to_rows`; ``respira predict --events``)."""

_TOLERANCE = 1e-9
"""Seconds of floating-point slack when durations and gaps are compared with the settings."""
_TIME_DECIMALS = 6


class Event(NamedTuple):
    """One detected (or annotated) event: ``onset`` and ``offset`` in seconds, ``label`` (``crackle`` or
    ``wheeze``) and ``confidence`` (the peak posterior of the label inside the event; 1.0 for a reference)."""

    onset: float
    offset: float
    label: str
    confidence: float = 1.0


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return number


@dataclass(frozen=True)
class LabelEventSettings:
    """How one label's frame decisions become events (all in seconds, finite and ``>= 0``).

    ``median_filter_seconds``: width of the median filter (0: off; see :func:`median_filter_frames`);
    ``max_gap_seconds``: events separated by less are merged (0: never); ``min_duration_seconds``:
    events shorter than this are dropped (0: none).
    """

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
    """Per-label :class:`LabelEventSettings`; stored in a model's ``config.json`` via :meth:`to_dict`.

    Defaults follow the CORSA definitions of adventitious sounds (Sovijärvi et al., "Definition of terms
    for applications of respiratory sounds", Eur Respir Rev 2000;10(77):597-610): a crackle is a
    discontinuous, explosive sound shorter than 20 ms, a wheeze a continuous one lasting more than
    80-100 ms (texts quote either bound; the older ATS figure was 250 ms).

    - **crackle** — median filter off (0 s): one crackle is shorter than any frame of a hop >= 20 ms,
      so a filter wider than one frame would erase isolated crackles and short runs; minimum duration
      0 s (one frame may hold a whole crackle); gaps under 0.3 s merged: crackles are reported
      clinically as runs within a breath phase (e.g. "late inspiratory crackles"), and 0.3 s joins a
      run's crackles while keeping those of different phases (about 1-2 s each at rest) apart. The
      0.3 s is a heuristic, not a standard: tune it on annotated data.
    - **wheeze** — median filter 0.1 s (5 frames at a 0.02 s hop: it removes runs of 1-2 frames, 40 ms
      at most, far shorter than any wheeze the definitions admit); minimum duration 0.1 s (CORSA's
      100 ms, the stricter of the two bounds); gaps under 0.1 s merged (a dropout of the posterior
      within one wheeze, shorter than the pause between inspiration and expiration).
    """

    crackle: LabelEventSettings = field(default_factory=lambda: DEFAULT_CRACKLE)
    wheeze: LabelEventSettings = field(default_factory=lambda: DEFAULT_WHEEZE)

    def __post_init__(self) -> None:
        for label in MULTI_LABEL_NAMES:
            if not isinstance(getattr(self, label), LabelEventSettings):
                raise ValueError(f"event settings for {label} must be a LabelEventSettings")

    def for_label(self, label: str) -> LabelEventSettings:
        """The settings of ``label`` (``crackle`` or ``wheeze``)."""
        if label not in MULTI_LABEL_NAMES:
            raise ValueError(f"event labels are {list(MULTI_LABEL_NAMES)}, got {label!r}")
        return getattr(self, label)

    def to_dict(self) -> dict[str, dict[str, float]]:
        """``{label: {setting: seconds}}``, JSON-ready; :meth:`from_dict` gives back an equal object."""
        return {
            label: {
                item.name: getattr(self.for_label(label), item.name) for item in fields(LabelEventSettings)
            }
            for label in MULTI_LABEL_NAMES
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventSettings:
        """The settings :meth:`to_dict` wrote: exactly the two labels, each with exactly the three keys."""
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
    """The event settings a model detects with: its ``config.event_settings`` (written by
    :meth:`EventSettings.to_dict`), else the defaults."""
    stored = getattr(config, "event_settings", None)
    return EventSettings() if stored is None else EventSettings.from_dict(stored)


def median_filter_frames(seconds: float, frame_hop_seconds: float) -> int:
    """The median filter's width in frames: ``seconds / hop`` rounded to the nearest whole number,
    plus one when even (an odd window is centred on its frame). 0 s gives 1, no filtering."""
    frames = round(_seconds(seconds, "median_filter_seconds") / _hop(frame_hop_seconds))
    return int(frames + 1 if frames % 2 == 0 else frames)


def _hop(value: Any) -> float:
    hop = _seconds(value, "frame_hop_seconds")
    if hop == 0:
        raise ValueError(f"frame_hop_seconds must be > 0, got {value!r}")
    return hop


def validate_posteriors(posteriors: Any) -> np.ndarray:
    """``[frames, 2]`` (crackle, wheeze) probabilities as float64; otherwise a one-line ``ValueError``."""
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
    """``[start, stop)`` frame indices of each run of ones."""
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
    *,
    offset_seconds: float = 0.0,
) -> list[Event]:
    """The events of ``[frames, 2]`` (crackle, wheeze) posteriors on a grid of ``frame_hop_seconds``.

    ``thresholds`` are ``(crackle, wheeze)`` in [0, 1] (``None``: the decision rule's default, checked by
    :func:`respira.core.decision.validate_thresholds`); ``settings`` default to :class:`EventSettings`'s;
    ``offset_seconds`` is the start time of frame 0 (of a chunk of a longer recording). The steps are
    in the module's docstring. No frames give no events; bad input raises a one-line ``ValueError``.
    """
    array = validate_posteriors(posteriors)
    hop = _hop(frame_hop_seconds)
    start = _seconds(offset_seconds, "offset_seconds")
    chosen = validate_thresholds(thresholds)
    settings = EventSettings() if settings is None else settings
    if not isinstance(settings, EventSettings):
        raise ValueError(f"settings must be an EventSettings, got {type(settings).__name__}")
    decided = present(array, chosen)
    events = []
    for column, label in enumerate(MULTI_LABEL_NAMES):
        for first, stop in _label_runs(decided[:, column], hop, settings.for_label(label)):
            events.append(
                Event(
                    onset=round(start + first * hop, _TIME_DECIMALS),
                    offset=round(start + stop * hop, _TIME_DECIMALS),
                    label=label,
                    confidence=float(array[first:stop, column].max()),
                )
            )
    return sorted(events, key=lambda event: (event.onset, MULTI_LABEL_NAMES.index(event.label)))


def events_to_rows(events: Sequence[Event], *, file: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """CSV/JSON-ready rows ``{file, onset, offset, type, confidence}``, one per event, in their order."""
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

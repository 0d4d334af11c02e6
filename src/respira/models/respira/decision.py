"""The decision rule: how a model's probabilities become the four ICBHI classes.

Multi-label models: a flag is present when its probability is ``>=`` its threshold
(``config.decision_thresholds``, else :data:`DEFAULT_THRESHOLD`). Single-label: the most probable class.

Respiratory events (crackle and wheeze onsets and offsets) from frame posteriors.

Per label, frames are decided, median-filtered, merged across gaps shorter than ``max_gap_seconds`` and
kept when at least ``min_duration_seconds`` long, with the peak posterior as confidence.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy import ndimage

from .audio_decoding import is_real
from .labels import (
    CLASS_NAMES,
    MULTI_LABEL,
    MULTI_LABEL_NAMES,
    SINGLE_LABEL,
    classes_to_flags,
    flags_to_classes,
)
from .windows import DEFAULT_AGGREGATION, DEFAULT_TOP_K, aggregate_windows, check_aggregation

if TYPE_CHECKING:
    import torch

DEFAULT_THRESHOLD: float = 0.5


def validate_thresholds(values: Sequence[Any] | None) -> tuple[float, float]:
    """``(crackle, wheeze)`` thresholds as floats in ``[0, 1]`` (``None``: the default)."""
    if values is None:
        return DEFAULT_THRESHOLD, DEFAULT_THRESHOLD
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) != len(MULTI_LABEL_NAMES) or not all(0.0 <= value <= 1.0 for value in numbers):
        raise ValueError(f"decision thresholds must be [crackle, wheeze] in [0, 1], got {values!r}")
    return numbers[0], numbers[1]


def thresholds_of(config: Any) -> tuple[float, float]:
    """The ``(crackle, wheeze)`` thresholds of a config (object or dict), or the default."""
    return validate_thresholds(config_field(config, "decision_thresholds"))


def has_tuned_thresholds(config: Any) -> bool:
    """Whether the config carries thresholds of its own."""
    return config_field(config, "decision_thresholds") is not None


def config_field(config: Any, name: str) -> Any:
    """Field ``name`` of a config object or ``config.json`` mapping (``None`` when absent)."""
    return config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)


def is_multi_label(config: Any) -> bool:
    """Whether the model outputs the two flags rather than the four classes."""
    return (config_field(config, "problem_type") or SINGLE_LABEL) == MULTI_LABEL


def flag_order(config: Any) -> list[int]:
    """Output index of each flag (multi-label) or class (single-label), from the config's ``id2label``."""
    names = MULTI_LABEL_NAMES if is_multi_label(config) else CLASS_NAMES
    id2label = config_field(config, "id2label") or {}
    by_name = {str(label): int(index) for index, label in id2label.items()}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ValueError(f"the model's labels {sorted(by_name)} lack {missing}")
    return [by_name[name] for name in names]


def present(probabilities: Any, thresholds: Sequence[float]) -> np.ndarray:
    """Boolean flags ``[..., 2]``: each (crackle, wheeze) probability ``>=`` its threshold."""
    return np.asarray(probabilities, dtype=np.float64) >= np.asarray(validate_thresholds(thresholds))


@dataclass(frozen=True)
class Decision:
    """What a model decided for ``N`` inputs: (crackle, wheeze) probabilities ``flags`` ``[N, 2]``,
    ``present``, ``classes`` and the ``thresholds`` used (single-label: class sums, ``None``)."""

    flags: np.ndarray
    present: np.ndarray
    classes: np.ndarray
    thresholds: tuple[float, float] | None

    @property
    def labels(self) -> list[str]:
        """The class names of the decisions."""
        return [CLASS_NAMES[int(index)] for index in self.classes]


def decide_flags(flag_probabilities: Any, thresholds: Sequence[float] | None = None) -> Decision:
    """Decide ``[N, 2]`` (crackle, wheeze) probabilities at ``thresholds`` (``None``: the default)."""
    flags = np.atleast_2d(np.asarray(flag_probabilities, dtype=np.float64))
    chosen = validate_thresholds(thresholds)
    decided = present(flags, chosen)
    return Decision(flags, decided, np.atleast_1d(flags_to_classes(decided)).astype(np.int64), chosen)


def aggregation_of(config: Any) -> tuple[str, int | None]:
    """``(rule, top_k)`` a model's config gives for recording aggregation, or the default."""
    rule = config_field(config, "recording_aggregation") or DEFAULT_AGGREGATION
    top_k = config_field(config, "recording_top_k")
    if rule == "topk_mean" and top_k is None:
        top_k = DEFAULT_TOP_K
    check_aggregation(rule, top_k)
    return rule, (int(top_k) if rule == "topk_mean" else None)


def decide_recording(
    window_flags: Any, config: Any, aggregation: str = "max", top_k: int | None = None
) -> tuple[np.ndarray, Decision]:
    """A recording's ``(crackle, wheeze)`` probabilities and decision from its windows' ``[windows, 2]``."""
    aggregated = aggregate_windows(np.asarray(window_flags, dtype=np.float64), aggregation, top_k)
    return aggregated, decide_flags(aggregated[None, :], thresholds_of(config))


def decide_rows(
    rows: Sequence[Mapping[str, Any]], config: Any, aggregation: str | None = None, top_k: int | None = None
) -> tuple[np.ndarray, Decision]:
    """:func:`decide_recording` of a recording's :func:`decided_rows`: the verdict every runner gives."""
    if not rows:
        raise ValueError("no windows to decide")
    if aggregation is None:
        aggregation, top_k = aggregation_of(config)
    flags = [[float(row["crackle"]), float(row["wheeze"])] for row in rows]
    return decide_recording(flags, config, aggregation, top_k)


def decided_rows(
    probabilities: Any, spans: Sequence[tuple[float, float]], config: Any
) -> list[dict[str, Any]]:
    """One decided row per window (or cycle): ``start``, ``end``, ``crackle``, ``wheeze``, ``label``, ..."""
    array = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    decision = decide(array, config)
    rows: list[dict[str, Any]] = [
        {
            "start": start,
            "end": end,
            "crackle": float(decision.flags[index, 0]),
            "wheeze": float(decision.flags[index, 1]),
            "label": CLASS_NAMES[int(decision.classes[index])],
        }
        for index, (start, end) in enumerate(spans)
    ]
    if not is_multi_label(config):
        classes = array[:, flag_order(config)]
        for row, values in zip(rows, classes, strict=True):
            row.update({f"p_{name}": float(value) for name, value in zip(CLASS_NAMES, values, strict=True)})
    return rows


def decide(probabilities: Any, config: Any) -> Decision:
    """Decide a model's probabilities ``[N, outputs]`` (in the config's ``id2label`` order)."""
    array = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    order = flag_order(config)
    if is_multi_label(config):
        return decide_flags(array[:, order], thresholds_of(config))
    classes = array[:, order]
    indices = classes.argmax(axis=1).astype(np.int64)
    flags = np.stack([classes[:, 1] + classes[:, 3], classes[:, 2] + classes[:, 3]], axis=1)
    decided = classes_to_flags(indices).astype(bool)
    return Decision(flags, decided, indices, None)


def class_scores(probabilities: Any, config: Any) -> tuple[np.ndarray, Decision]:
    """A score per class ``[N, 4]`` that agrees with the decision, and the decision."""
    decision = decide(probabilities, config)
    array = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    if not is_multi_label(config):
        return array[:, flag_order(config)], decision
    return flag_class_scores(decision.flags, decision.thresholds), decision


def flag_class_scores(flag_probabilities: Any, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """Class scores ``[N, 4]`` of ``[N, 2]`` flag probabilities: each moved so its threshold maps to 0.5,
    then products of independent flags (they sum to 1; the decided class has the highest)."""
    flags = np.atleast_2d(np.asarray(flag_probabilities, dtype=np.float64))
    t = np.asarray(validate_thresholds(thresholds))
    below = 0.5 * np.divide(flags, t, out=np.ones_like(flags), where=t > 0)
    above = 0.5 + 0.5 * np.divide(flags - t, 1.0 - t, out=np.ones_like(flags), where=t < 1)
    crackle, wheeze = np.clip(np.where(flags >= t, above, below), 0.0, 1.0).T
    return np.stack(
        [(1 - crackle) * (1 - wheeze), crackle * (1 - wheeze), (1 - crackle) * wheeze, crackle * wheeze],
        axis=1,
    )


def decide_tensor(probabilities: torch.Tensor, config: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`decide` in torch, for the ONNX export: ``present`` ``[N, 2]`` and ``label`` ``[N]``."""
    import torch

    order = flag_order(config)
    selected = probabilities[:, order]
    if is_multi_label(config):
        limits = torch.tensor(thresholds_of(config), dtype=selected.dtype, device=selected.device)
        flags = selected >= limits
        label = flags[:, 0].long() + 2 * flags[:, 1].long()  # flags_to_classes
        return flags, label
    label = selected.argmax(dim=-1)
    crackle = (label == CLASS_NAMES.index("crackle")) | (label == CLASS_NAMES.index("both"))
    wheeze = (label == CLASS_NAMES.index("wheeze")) | (label == CLASS_NAMES.index("both"))
    return torch.stack([crackle, wheeze], dim=1), label


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

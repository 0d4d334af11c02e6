"""The rules that draw a recording's events from its frame posteriors, and what a detection holds.

:data:`FRAMES_RULE`: every frame event at the model's thresholds (what ``respira evaluate --task events``
scores). :data:`VERDICT_RULE` (:func:`gate_by_verdict`: ``predict --events``, the Detector, ``screen`` and the
app): an event of label L is kept only when the recording is decided L-present and the event overlaps a
window (or cycle) whose own label has L, so events never contradict the verdict. The events left out are
kept with their reason (:attr:`EventDetection.left_out`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.respira.decision import EVENT_COLUMNS, Event, EventSettings, decide_rows, events_to_rows
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL_NAMES, classes_to_flags

__all__ = [
    "DETECTION_COLUMNS",
    "FRAMES_RULE",
    "VERDICT_RULE",
    "EventDetection",
    "FramePosteriors",
    "gate_by_verdict",
]

VERDICT_RULE = "verdict"
FRAMES_RULE = "frames"
DETECTION_COLUMNS = (*EVENT_COLUMNS, "rule")
_RULE_WORDS = {
    VERDICT_RULE: "shown where the recording's verdict holds them (verdict rule: the recording decided "
    "present and a {unit} decided present around the event)",
    FRAMES_RULE: "every frame event at the model's thresholds, whatever the recording's verdict "
    "(frames rule)",
}


@dataclass(frozen=True)
class FramePosteriors:
    """``posteriors`` ``[frames, 2]`` (crackle, wheeze) on frames of ``hop_seconds``."""

    posteriors: np.ndarray
    hop_seconds: float
    duration: float

    @property
    def times(self) -> np.ndarray:
        """Each frame's centre, in seconds."""
        return (np.arange(self.posteriors.shape[0]) + 0.5) * self.hop_seconds


@dataclass(frozen=True)
class EventDetection:
    """What :meth:`respira.Detector.detect_events` found, what it was made of, and what the rule left out."""

    events: list[Event]
    frames: FramePosteriors
    thresholds: tuple[float, float]
    settings: EventSettings
    file: str | None = field(default=None)
    rule: str = FRAMES_RULE
    left_out: tuple[Event, ...] = ()
    recording_present: tuple[bool, bool] | None = None
    unit: str = "window"

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per event (:data:`DETECTION_COLUMNS`)."""
        return [{**row, "rule": self.rule} for row in events_to_rows(self.events, file=self.file or "")]

    def left_out_count(self, label: str) -> int:
        """How many frame events of ``label`` the rule left out."""
        return sum(event.label == label for event in self.left_out)

    def _why(self, label: str) -> str:
        if self.recording_present is not None and not self.recording_present[MULTI_LABEL_NAMES.index(label)]:
            return f"the recording is decided {label}-absent"
        return f"outside every {self.unit} decided {label}-present"

    def describe(self) -> str:
        """One line: the events of each label, the rule that drew them, and what it left out and why."""
        counts = ", ".join(f"{sum(e.label == n for e in self.events)} {n}" for n in MULTI_LABEL_NAMES)
        line = f"events: {counts}, {_RULE_WORDS[self.rule].format(unit=self.unit)}"
        dropped = [
            f"{count} {label} frame event{'s' if count != 1 else ''} ({self._why(label)})"
            for label in MULTI_LABEL_NAMES
            if (count := self.left_out_count(label))
        ]
        return line + (f"; left out {' and '.join(dropped)}" if dropped else "")

    def to_dict(self) -> dict[str, Any]:
        """The detection as plain JSON-ready values."""
        return {
            "file": self.file,
            "duration": self.frames.duration,
            "frame_hop_seconds": self.frames.hop_seconds,
            "thresholds": list(self.thresholds),
            "settings": self.settings.to_dict(),
            "rule": self.rule,
            "events": self.to_rows(),
            "left_out": {label: self.left_out_count(label) for label in MULTI_LABEL_NAMES},
        }


def gate_by_verdict(
    detection: EventDetection,
    rows: Sequence[Mapping[str, Any]],
    config: Any,
    *,
    aggregation: str | None = None,
    top_k: int | None = None,
) -> EventDetection:
    """``detection``'s frame events kept where the recording's verdict holds them, the others left out."""
    if not rows:
        raise ValueError("no windows to gate the events by")
    _, decision = decide_rows(rows, config, aggregation, top_k)
    recording = (bool(decision.present[0, 0]), bool(decision.present[0, 1]))
    labelled = classes_to_flags([CLASS_NAMES.index(str(row["label"])) for row in rows]).astype(bool)
    spans = [(float(row["start"]), float(row["end"])) for row in rows]
    candidates = [*detection.events, *detection.left_out]  # a detection gated before is gated afresh
    kept, left_out = [], []
    for event in sorted(candidates, key=lambda e: (e.onset, MULTI_LABEL_NAMES.index(e.label))):
        column = MULTI_LABEL_NAMES.index(event.label)
        held = recording[column] and any(
            labelled[i, column] and event.onset < end and event.offset > start
            for i, (start, end) in enumerate(spans)
        )
        (kept if held else left_out).append(event)
    unit = "cycle" if all("annotated_label" in row for row in rows) else "window"
    return dataclasses.replace(
        detection,
        events=kept,
        rule=VERDICT_RULE,
        left_out=tuple(left_out),
        recording_present=recording,
        unit=unit,
    )

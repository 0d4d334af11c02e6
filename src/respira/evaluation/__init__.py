"""Evaluation: what runs a model over a corpus and scores it, writing a report folder."""

from __future__ import annotations

from ..utils.lazy_exports import lazy_exports

_EXPORTS = {
    "evaluate_model": "cycles",
    "evaluate_recordings": "external_validation",
    "evaluate_event_corpus": "event_corpus",
    "evaluate_events": "event_detection_report",
}

__all__ = [
    "evaluate_event_corpus",
    "evaluate_events",
    "evaluate_model",
    "evaluate_recordings",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)

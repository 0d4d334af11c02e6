"""Screen an archive (``respira screen``): every recording of a SOURCE through a detector, resumable."""

from __future__ import annotations

from .results import EVENT_SCHEMA, RECORDING_SCHEMA
from .runner import Summary, screen
from .sources import AUDIO_SUFFIXES, Recording, Source, open_source

__all__ = [
    "AUDIO_SUFFIXES",
    "EVENT_SCHEMA",
    "RECORDING_SCHEMA",
    "Recording",
    "Source",
    "Summary",
    "open_source",
    "screen",
]

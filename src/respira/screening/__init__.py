"""Screen an archive (``respira screen``): every recording of a SOURCE through a detector, sharded over the
processes of an ``accelerate launch``, resumable, with Parquet (or CSV) tables of recordings and events.
"""

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

"""Screen an archive: every recording of a SOURCE through a detector, sharded over the processes of an
``accelerate launch``, resumable, with Parquet (or CSV) tables of recordings and events
(``respira screen``).

- :mod:`respira.screening.sources`: what a SOURCE is (a folder searched recursively, a ``.txt``/``.csv``
  list of paths, a ``datasets`` audio dataset) and its recordings, listed as a stream;
- :mod:`respira.screening.results`: the output folder (manifest, atomic chunks, merged tables) and the
  tables' columns, :data:`RECORDING_SCHEMA` and :data:`EVENT_SCHEMA`;
- :mod:`respira.screening.batches`: the engine: recordings decoded ahead of the model in a background
  thread, their windows batched across recordings (:func:`screen_rows`);
- :mod:`respira.screening.runner`: :func:`screen`, one process's share screened and, on the main process,
  the chunks merged into one :class:`Summary`.
"""

from __future__ import annotations

from .results import EVENT_SCHEMA, RECORDING_SCHEMA
from .runner import Summary, screen, screen_recording
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
    "screen_recording",
]

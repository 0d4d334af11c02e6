"""Errors raised while reading a corpus (ICBHI or KAUH): each names the file, line and offending value."""

from __future__ import annotations

from pathlib import Path


class CorpusFormatError(ValueError):
    """A corpus file is malformed; the message starts with ``path:line:`` (or ``path:``)."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        location = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{location}: {message}")


class ICBHIError(ValueError):
    """Base class for problems with an ICBHI corpus or with a requested split."""


class ICBHIFormatError(ICBHIError, CorpusFormatError):
    """An ICBHI corpus file is malformed; the message starts with ``path:line:``."""


class ICBHICountError(ICBHIError):
    """A complete corpus does not reproduce the published counts."""


class SplitError(ICBHIError):
    """A split cannot be made as requested (e.g. no official split file, or a class cannot be kept)."""


class KAUHError(ValueError):
    """Base class for problems with a KAUH lung-sound corpus."""


class KAUHFormatError(KAUHError, CorpusFormatError):
    """A KAUH file (its name or its audio) is malformed; the message starts with the file's path."""


class KAUHCountError(KAUHError):
    """A KAUH corpus breaks a published fact of its structure (e.g. a recording missing in a filter mode)."""

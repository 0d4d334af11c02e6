"""Errors raised while reading an ICBHI corpus: each names the file, line and offending value."""

from __future__ import annotations

from pathlib import Path


class ICBHIError(ValueError):
    """Base class for problems with an ICBHI corpus or with a requested split."""


class ICBHIFormatError(ICBHIError):
    """A corpus file is malformed; the message starts with ``path:line:``."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        location = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{location}: {message}")


class ICBHICountError(ICBHIError):
    """A complete corpus does not reproduce the published counts."""


class SplitError(ICBHIError):
    """A split cannot be made as requested (e.g. no official split file, or a class cannot be kept)."""

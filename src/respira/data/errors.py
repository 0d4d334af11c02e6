"""Errors raised while reading an ICBHI corpus: each names the file, line and offending value."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

__all__ = ["ICBHICountError", "ICBHIError", "ICBHIFormatError", "SplitError", "original_build_error"]


class ICBHIError(ValueError):
    """Base class for problems with an ICBHI corpus or with a requested split."""


class ICBHIFormatError(ICBHIError):
    """A corpus file is malformed; the message starts with ``path:line:``."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        location = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{location}: {message}")

    def __reduce__(self) -> tuple:
        return (_rebuild_format_error, (str(self.path), self.reason, self.line))


def _rebuild_format_error(path: str, message: str, line: int | None) -> ICBHIFormatError:
    return ICBHIFormatError(path, message, line=line)


class ICBHICountError(ICBHIError):
    """A complete corpus does not reproduce the published counts."""


class SplitError(ICBHIError):
    """A split cannot be made as requested (e.g. no official split file, or a class cannot be kept)."""


# An exception line of a formatted traceback: "package.module.ErrorName: message".
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception)): (?P<message>.+)$", re.MULTILINE)
_LOCATION = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+))?: (?P<message>.+)$")


def _from_remote_traceback(text: str) -> BaseException | None:
    """The first (root-cause) exception of a worker process's formatted traceback, rebuilt when known."""
    match = _EXCEPTION_LINE.search(text)
    if match is None:
        return None
    kind, message = match["type"].rsplit(".", 1)[-1], match["message"].strip()
    if kind == "ICBHIFormatError":
        location = _LOCATION.match(message)
        if location is not None:
            line = int(location["line"]) if location["line"] else None
            rebuilt = ICBHIFormatError(location["path"], location["message"], line=line)
            if str(rebuilt) == message:
                return rebuilt
    if kind == "DatasetGenerationError":
        return None
    number = errno.ENOSPC if "No space left on device" in message else None
    if number is not None:
        return OSError(number, os.strerror(number))
    return RuntimeError(f"{kind}: {message}")


def original_build_error(error: BaseException, cache_dir: str | Path) -> BaseException:
    """The error that a ``datasets`` ``DatasetGenerationError`` wraps, for the user to see.

    ``datasets`` reports any failure while examples are written as "An error occurred while
    generating the dataset" with the real error as its cause (or, from a ``num_proc`` worker, as the
    text of the worker's traceback). This returns that real error: an :class:`ICBHIFormatError`
    naming the file and line as it was raised, any other error as it was (rebuilt from a worker's
    traceback as a ``RuntimeError`` naming its type), and an ``OSError`` that names no path (a full
    disk) as one naming ``cache_dir``, where the dataset was being written. ``error`` itself when
    there is nothing better to say.
    """
    cause: BaseException | None = error
    while cause is not None and type(cause).__name__ == "DatasetGenerationError":
        cause = cause.__cause__ or cause.__context__
    if cause is not None and type(cause).__name__ == "RemoteTraceback":
        cause = _from_remote_traceback(str(cause))
    if cause is None:
        return error
    if isinstance(cause, OSError) and (not cause.filename or _is_within(cause.filename, cache_dir)):
        reason = os.strerror(cause.errno) if cause.errno else cause.strerror
        named = OSError(cause.errno, reason or " ".join(str(cause).split()), str(cache_dir))
        named.__cause__ = cause
        return named
    return cause


def _is_within(path: str | os.PathLike | int, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or inside it (a temporary file of the dataset cache)."""
    if isinstance(path, int):
        return False
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (TypeError, ValueError, OSError):
        return False

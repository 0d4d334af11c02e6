"""Errors raised while reading a corpus, each naming the file, line and value; and a build's real cause."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from ..utils.messages import one_line


class CorpusFormatError(ValueError):
    """A corpus file is malformed; the message starts with ``path:line:`` (or ``path:``)."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        location = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{location}: {message}")

    def __reduce__(self) -> tuple:  # picklable across processes (num_proc) although __init__ takes 3 args
        return (_rebuild_format_error, (type(self), str(self.path), self.reason, self.line))


def _rebuild_format_error(
    kind: type[CorpusFormatError], path: str, message: str, line: int | None
) -> CorpusFormatError:
    return kind(path, message, line=line)


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


class SPRSoundError(ValueError):
    """Base class for problems with an SPRSound paediatric respiratory-sound corpus."""


class SPRSoundFormatError(SPRSoundError, CorpusFormatError):
    """An SPRSound file (name, JSON annotation or audio) is malformed; the message starts with its path."""


class SPRSoundCountError(SPRSoundError):
    """An SPRSound corpus breaks a published fact of its structure."""


class LabelledError(ValueError):
    """Base class for problems with a folder of one's own labelled recordings (``labels.csv``)."""


class LabelledFormatError(LabelledError, CorpusFormatError):
    """A row of ``labels.csv`` (or its recording) cannot be read; the message starts with ``path:line:``."""


# ------------------------------------------------------------ errors raised while a dataset is written
# An exception line of a formatted traceback: "package.module.ErrorName: message".
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception)): (?P<message>.+)$", re.MULTILINE)
_LOCATION = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+))?: (?P<message>.+)$")
_FORMAT_ERRORS = {kind.__name__: kind for kind in (CorpusFormatError, *CorpusFormatError.__subclasses__())}


def _from_remote_traceback(text: str) -> BaseException | None:
    """The first (root-cause) exception of a worker process's formatted traceback, rebuilt when known."""
    match = _EXCEPTION_LINE.search(text)
    if match is None:
        return None
    kind, message = match["type"].rsplit(".", 1)[-1], match["message"].strip()
    if kind in _FORMAT_ERRORS:
        location = _LOCATION.match(message)
        if location is not None:
            line = int(location["line"]) if location["line"] else None
            rebuilt = _FORMAT_ERRORS[kind](location["path"], location["message"], line=line)
            if str(rebuilt) == message:
                return rebuilt
    if kind == "DatasetGenerationError":
        return None
    if "No space left on device" in message:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return RuntimeError(f"{kind}: {message}")


def original_build_error(error: BaseException, cache_dir: str | Path) -> BaseException:
    """The error that a ``datasets`` ``DatasetGenerationError`` wraps, for the user to see.

    A worker's traceback text becomes a ``RuntimeError`` naming its type; an ``OSError`` naming no path or a
    cache temporary file (a full disk) becomes one naming ``cache_dir``; ``error`` itself otherwise.
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
        named = OSError(cause.errno, reason or one_line(cause), str(cache_dir))
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

"""Errors raised while reading a corpus, each naming the file, line and value; and a build's real cause."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from ..utils.messages import one_line


class CorpusError(ValueError):
    """A corpus folder cannot be read as the corpus asked for; the message names it."""


class LayoutNotFoundError(CorpusError):
    """No folder of ``data_dir`` has the corpus's layout (its :class:`~respira.data.corpora.CorpusSpec` adds
    whose layout it has)."""


class CorpusFormatError(CorpusError):
    """A corpus file is malformed; the message starts with ``path:line:`` (or ``path:``)."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        location = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{location}: {message}")

    def __reduce__(self) -> tuple:  # picklable across processes (num_proc)
        return (type(self), (str(self.path), self.reason, self.line))


def read_text(path: Path) -> str:
    """The text of ``path`` (UTF-8, a byte-order mark kept); a :class:`CorpusFormatError` when it is not
    UTF-8 (naming the line) or cannot be read."""
    try:
        data = path.read_bytes()
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CorpusFormatError(path, "is not a UTF-8 text file", line=line) from None
    except OSError as error:
        raise CorpusFormatError(path, f"cannot be read: {error.strerror}") from None


class CorpusCountError(CorpusError):
    """A complete corpus breaks a published fact (ICBHI's counts, KAUH's filter modes, SPRSound's parts)."""


class SplitError(CorpusError):
    """A split cannot be made as asked (no official split file, a class that cannot be kept...)."""


# ------------------------------------------------------------ errors raised while a dataset is written
# An exception line of a formatted traceback: "package.module.ErrorName: message".
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception)): (?P<message>.+)$", re.MULTILINE)
_LOCATION = re.compile(r"^(?P<path>.+?)(?::(?P<line>\d+))?: (?P<message>.+)$")


def _from_remote_traceback(text: str) -> BaseException | None:
    """The first (root-cause) exception of a worker process's formatted traceback, rebuilt when known."""
    match = _EXCEPTION_LINE.search(text)
    if match is None:
        return None
    kind, message = match["type"].rsplit(".", 1)[-1], match["message"].strip()
    location = _LOCATION.match(message) if kind == "CorpusFormatError" else None
    if location is not None:
        line = int(location["line"]) if location["line"] else None
        rebuilt = CorpusFormatError(location["path"], location["message"], line=line)
        if str(rebuilt) == message:
            return rebuilt
    if kind == "DatasetGenerationError":
        return None
    if "No space left on device" in message:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return RuntimeError(f"{kind}: {message}")


def original_build_error(error: BaseException, cache_dir: str | Path) -> BaseException:
    """The error that a ``datasets`` ``DatasetGenerationError`` wraps, for the user to see (an ``OSError``
    of the cache, e.g. a full disk, names ``cache_dir``)."""
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
    if isinstance(path, int):
        return False
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (TypeError, ValueError, OSError):
        return False

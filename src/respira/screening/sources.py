"""What ``respira screen`` screens, listed as a stream: a folder's audio files, a ``.txt`` / ``.csv`` list
of paths, or a ``datasets`` audio dataset (a ``save_to_disk`` folder or a streamed Hub id)."""

from __future__ import annotations

import csv
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.corpus_files import AUDIO_SUFFIXES
from ..utils.messages import one_line

LIST_SUFFIXES: tuple[str, ...] = (".txt", ".csv")
_DATASET_MARKERS = ("dataset_info.json", "dataset_dict.json", "state.json")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class Recording:
    """One recording to screen: its name in the results, what to decode (a path or bytes), and the file's
    size and modification time (``None`` for a dataset row), which key a finished result."""

    path: str
    data: str | bytes | None
    size: int | None
    mtime_ns: int | None

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        return (self.path, self.size, self.mtime_ns)


def audio_files(root: Path) -> Iterator[Path]:
    """The :data:`AUDIO_SUFFIXES` files below ``root``, hidden names skipped, in name order."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES:
                yield Path(folder, name)


def _file(path: str) -> Recording:
    try:
        stat = Path(path).stat()
    except OSError:  # missing or unreadable: read_audio gives the row its reason
        return Recording(path, path, None, None)
    return Recording(path, path, stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class Source:
    """An opened SOURCE: :meth:`share` streams one process's recordings."""

    kind: str
    identity: str
    _root: Path | None = None
    _dataset: Any = None
    _split: str | None = None
    _audio_column: str | None = None

    def share(self, index: int = 0, count: int = 1) -> Iterator[Recording]:
        """Recordings ``index``, ``index + count``, ``index + 2 * count``..."""
        if self.kind == "dataset" and hasattr(self._dataset, "__len__"):
            return (self._row(i, self._dataset[i]) for i in range(index, len(self._dataset), count))
        return itertools.islice(self._listing(), index, None, count)

    def check_not_empty(self, source: str) -> None:
        """Refuse a ``source`` (as the user gave it) that lists no recording."""
        if next(iter(self.share()), None) is not None:
            return
        if self.kind == "folder":
            found = f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in the folder {source} or below it"
        elif self.kind == "list":
            found = f"the list {source} names no recordings"
        else:
            found = f"split {self._split} of {source} has no rows"
        raise ValueError(f"nothing to screen: {found}")

    def __len__(self) -> int:
        if self.kind == "dataset" and hasattr(self._dataset, "__len__"):
            return len(self._dataset)
        raise TypeError(f"a {self.kind} SOURCE is streamed: its length is not known in advance")

    def _listing(self) -> Iterator[Recording]:
        if self.kind == "folder":
            assert self._root is not None
            yield from (_file(str(path)) for path in audio_files(self._root))
        elif self.kind == "list":
            assert self._root is not None
            yield from (_file(path) for path in _list_paths(self._root))
        else:
            for index, row in enumerate(self._dataset):
                yield self._row(index, row)

    def _row(self, index: int, row: dict[str, Any]) -> Recording:
        value = row[self._audio_column] or {}
        data = value.get("bytes") or value.get("path")
        size = len(value["bytes"]) if value.get("bytes") else None
        return Recording(f"{self._split}[{index}]", data, size, None)


def _list_paths(path: Path) -> Iterator[str]:
    """The paths a ``.txt`` or ``.csv`` list names, relative ones joined to the list's folder."""
    folder = path.parent
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return
            names = [name.strip().lower() for name in header]
            column = next((names.index(name) for name in ("path", "file") if name in names), 0)
            entries: Iterator[str] = (row[column] for row in reader if len(row) > column)
        else:
            entries = (line for line in handle if not line.lstrip().startswith("#"))
        for entry in entries:
            name = entry.strip()
            if name:
                yield str(folder / name) if not Path(name).is_absolute() else name


def open_source(source: str, *, split: str | None = None, audio_column: str = "audio") -> Source:
    """Check and open a SOURCE."""
    path = Path(source).expanduser()
    if path.is_dir() and any((path / marker).is_file() for marker in _DATASET_MARKERS):
        from datasets import DatasetDict, load_from_disk

        dataset = load_from_disk(str(path))
        if isinstance(dataset, DatasetDict):
            split = _check_split(source, split, list(dataset))
            dataset = dataset[split]
        return _dataset_source(dataset, str(path.resolve()), split or "train", audio_column, source)
    if split is not None:
        raise ValueError(f"--split applies to a datasets SOURCE; {source} is not one")
    if path.is_dir():
        return Source("folder", str(path.resolve()), path)
    if path.is_file():
        if path.suffix.lower() not in LIST_SUFFIXES:
            raise ValueError(
                f"SOURCE {source} is a file, not a folder of audio or a list of paths (.txt or .csv); "
                "to screen one recording, use respira predict"
            )
        return Source("list", str(path.resolve()), path)
    if _HUB_ID.match(source):
        from datasets import load_dataset

        try:
            dataset = load_dataset(source, split=split or "train", streaming=True)
        except Exception as error:  # offline, no such repository or split: datasets' many error types
            reason = one_line(error)
            raise FileNotFoundError(
                f"SOURCE {source} is no local folder or list, and not a dataset on the Hub ({reason})"
            ) from None
        return _dataset_source(dataset, source, split or "train", audio_column, source)
    raise FileNotFoundError(f"SOURCE {source} not found (a folder, a .txt/.csv list, or a datasets folder)")


def _check_split(source: str, split: str | None, splits: list[str]) -> str:
    if split is None:
        if len(splits) != 1:
            raise ValueError(f"{source} holds the splits {', '.join(splits)}: choose one with --split")
        return splits[0]
    if split not in splits:
        raise ValueError(f"{source} has no split {split!r}; it has {', '.join(splits)}")
    return split


def _dataset_source(dataset: Any, identity: str, split: str, column: str, source: str) -> Source:
    from datasets import Audio

    columns = list(dataset.column_names or dataset.features or [])
    if column not in columns:
        raise ValueError(
            f"{source} has no audio column {column!r} (its columns: {', '.join(columns)}); "
            "name it with --audio_column"
        )
    dataset = dataset.select_columns([column]).cast_column(column, Audio(decode=False))
    return Source("dataset", f"{identity}:{split}:{column}", None, dataset, split, column)

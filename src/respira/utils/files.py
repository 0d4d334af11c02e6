"""Write files and folders so that a reader never sees them half-written (atomic renames)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .locking import FolderLock, is_held, lock_file

__all__ = [
    "atomic_path",
    "check_file_target",
    "check_folder_target",
    "is_occupied",
    "nan_to_none",
    "remove_path",
    "staged_folder",
    "swap_into_place",
    "write_json_atomic",
    "write_text_atomic",
]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; it replaces ``path`` on success."""
    path = Path(path)
    check_file_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    try:
        yield partial
        partial.replace(path)
    except OSError as error:
        if str(partial) not in (str(error.filename), str(error.filename2)):
            raise
        # the error names the user's path, not the temporary one
        raise type(error)(error.errno, error.strerror or str(error), str(path)) from None
    finally:
        with suppress(OSError):
            partial.unlink(missing_ok=True)


def check_file_target(path: str | Path) -> Path:
    """Return ``path``, or raise a one-line ``OSError`` when it is a folder or a parent is a file."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the name of a file to write")
    return _check_parents(path, path.parents, "write")


def check_folder_target(path: str | Path) -> Path:
    """Return ``path``, or raise a one-line ``NotADirectoryError`` when a parent is a file."""
    path = Path(path)
    return _check_parents(path, path.absolute().parents, "create")


def _check_parents(path: Path, parents: Sequence[Path], verb: str) -> Path:
    parent = next((parent for parent in parents if parent.exists()), None)
    if parent is not None and not parent.is_dir():
        raise NotADirectoryError(f"cannot {verb} {path}: {parent} is a file, not a folder")
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path`` as a ``Path``."""
    path = Path(path)
    with atomic_path(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return path


def nan_to_none(value: Any) -> Any:
    """``value`` with every NaN float (in nested dicts, lists and tuples) replaced by ``None``."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [nan_to_none(item) for item in value]
    return value


def write_json_atomic(path: str | Path, payload: Any, *, default: Callable[[Any], Any] | None = None) -> Path:
    """Write ``payload`` as JSON (indent 2, sorted keys, NaN as ``null``) to ``path`` atomically."""
    text = json.dumps(nan_to_none(payload), indent=2, sort_keys=True, allow_nan=False, default=default)
    return write_text_atomic(path, text + "\n")


def is_occupied(path: str | Path) -> bool:
    """Whether ``path`` is a file, a symlink or a non-empty folder (not missing, not an empty folder)."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        return True
    return path.is_dir() and any(path.iterdir())


def remove_path(path: str | Path) -> None:
    """Remove ``path``: a folder with its content, or a file or symlink (the link, not its target)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


_PARTIAL = ".partial-"


@contextmanager
def staged_folder(
    output_dir: str | Path, *, overwrite: bool, exists_message: str | None = None
) -> Iterator[Path]:
    """Yield a new hidden, locked staging folder next to ``output_dir``, swapped into place on success
    (:func:`swap_into_place`) and removed on any error."""
    output_dir = Path(output_dir)
    check_folder_target(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    stale = re.compile(rf"^\.{re.escape(output_dir.name)}{re.escape(_PARTIAL)}[0-9a-f]{{12}}$")
    for folder in output_dir.parent.iterdir():  # the staging folders of killed runs
        if stale.match(folder.name) and not folder.is_symlink() and folder.is_dir() and not is_held(folder):
            shutil.rmtree(folder, ignore_errors=True)
            lock_file(folder).unlink(missing_ok=True)
    staging = output_dir.with_name(f".{output_dir.name}{_PARTIAL}{uuid.uuid4().hex[:12]}")
    with FolderLock(staging, what="staging folder"):  # taken before the folder exists: never seen unheld
        staging.mkdir()  # with the umask's mode, like any folder the user creates
        try:
            yield staging
            swap_into_place(staging, output_dir, overwrite=overwrite, exists_message=exists_message)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def swap_into_place(
    staging: Path, output_dir: Path, *, overwrite: bool, exists_message: str | None = None
) -> None:
    """Rename ``staging`` to ``output_dir``, moving an occupied one aside (``overwrite``)."""
    if not output_dir.exists() and not output_dir.is_symlink():
        staging.rename(output_dir)
        return
    if is_occupied(output_dir) and not overwrite:
        raise FileExistsError(
            exists_message or f"{output_dir} exists and is not empty; pass overwrite=True to replace it"
        )
    old = output_dir.with_name(f".{output_dir.name}.old-{uuid.uuid4().hex[:12]}")
    output_dir.rename(old)
    try:
        staging.rename(output_dir)
    except BaseException:
        old.rename(output_dir)
        raise
    with suppress(OSError):
        remove_path(old)


def write_text_through(path: str | Path, text: str, *, new_mode: int | None = None) -> Path:
    """Write ``text`` (UTF-8, as given) atomically to ``path``, or to its target when ``path`` is a symlink
    (the link stays), keeping the file's mode; a new file gets ``new_mode`` (``None``: the umask's).
    Return the file written."""
    target = Path(path).resolve()
    try:
        mode: int | None = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = new_mode
    with atomic_path(target) as partial:
        # created private, then given the mode: the text is never readable more widely than the file was
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            if mode is not None:
                os.fchmod(fd, mode)
            stream.write(text)
    return target

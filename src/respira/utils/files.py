"""Write files and folders so that a reader never sees them half-written.

- :func:`atomic_path` yields a temporary sibling path to write a file to, then renames it over the
  target (removing it on failure); :func:`write_text_atomic` and :func:`write_json_atomic` use it.
- :func:`staged_folder` yields a hidden staging sibling folder to fill, then swaps it into place
  (keeping the old folder until the new one is there; removing the staging folder on failure). The
  staging folder is locked (:class:`~respira.utils.locking.FolderLock`) while it is filled, so a
  later run for the same target removes the ones a killed process left (:func:`remove_stale_partials`).

Temporary names start with ``.`` and live next to the target, so the final rename stays on one file
system (atomic on POSIX).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
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
    "remove_stale_partials",
    "staged_folder",
    "swap_into_place",
    "write_json_atomic",
    "write_text_atomic",
]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; on success it replaces ``path``.

    The parent folder is created if needed. The temporary file (``.<name>.<pid>-<random>.partial``)
    is renamed over ``path`` when the ``with`` block ends without error; on any error it is removed
    and ``path`` is left as it was.
    """
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
        # The user gave ``path``: an error about the temporary name must not show it.
        raise type(error)(error.errno, error.strerror or str(error), str(path)) from None
    finally:
        with suppress(OSError):
            partial.unlink(missing_ok=True)


def check_file_target(path: str | Path) -> Path:
    """Raise a one-line ``OSError`` naming ``path`` when a file cannot be written there; return it.

    Refused: ``path`` is a folder (``IsADirectoryError``), or one of its parents is a file
    (``NotADirectoryError``). Missing parents are fine (they are created when the file is written).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the name of a file to write")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot write {path}: {parent} is a file, not a folder")
            break
    return path


def check_folder_target(path: str | Path) -> Path:
    """Raise a one-line ``NotADirectoryError`` naming ``path`` when one of its parents is a file (a
    folder cannot be created there); return it. ``path`` itself is left to the caller."""
    path = Path(path)
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot create {path}: {parent} is a file, not a folder")
            break
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
    """Write ``payload`` as JSON to ``path`` atomically; return ``path`` as a ``Path``.

    NaN floats become ``null`` (recursively); the text is indented by 2 with sorted keys and a final
    newline. Infinite floats raise ``ValueError`` (``allow_nan=False``); ``default`` is passed to
    :func:`json.dumps` for objects it cannot serialise.
    """
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


def remove_stale_partials(output_dir: str | Path) -> list[Path]:
    """Remove the staging folders of ``output_dir`` (``.<name>.partial-<id>``) that no live process
    holds: left by a run killed before it could clean up. Returns the folders removed."""
    output_dir = Path(output_dir)
    pattern = re.compile(rf"^\.{re.escape(output_dir.name)}{re.escape(_PARTIAL)}[0-9a-f]{{12}}$")
    if not output_dir.parent.is_dir():
        return []
    removed = []
    for folder in output_dir.parent.iterdir():
        if not pattern.match(folder.name) or folder.is_symlink() or not folder.is_dir() or is_held(folder):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        lock_file(folder).unlink(missing_ok=True)
        removed.append(folder)
    return removed


@contextmanager
def staged_folder(
    output_dir: str | Path, *, overwrite: bool, exists_message: str | None = None
) -> Iterator[Path]:
    """Yield a new hidden staging folder next to ``output_dir``; on success swap it into place.

    When the ``with`` block ends without error, the staging folder becomes ``output_dir``:

    - a missing ``output_dir`` or an empty folder there is simply replaced;
    - anything else there (a non-empty folder, a file, a symlink) raises ``FileExistsError``
      (``exists_message``, else a generic one) unless ``overwrite``; with ``overwrite`` it is moved
      aside, the staging folder is renamed into place, and only then is the old one removed (it is
      put back if that rename fails).

    On any error (in the block or while swapping) the staging folder is removed and ``output_dir``
    is left as it was. Callers that want to refuse an occupied ``output_dir`` before doing the work
    check it themselves first (:func:`is_occupied`); this check runs again when the work is done.
    The parent folder is created if needed (a file in its place: ``NotADirectoryError`` naming it).
    Staging folders of ``output_dir`` that killed processes left are removed first
    (:func:`remove_stale_partials`); this one is locked until it is gone.
    """
    output_dir = Path(output_dir)
    check_folder_target(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(output_dir)
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
    """Rename the finished folder ``staging`` to ``output_dir`` (a sibling on the same file system).

    A missing or empty ``output_dir`` is replaced; anything else there raises ``FileExistsError``
    unless ``overwrite``, in which case it is moved aside, ``staging`` renamed into place, and only
    then the old one removed (it is put back if the rename fails).
    """
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
    # The new folder is in place: failing to delete the old one is no reason to fail.
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        with suppress(OSError):
            old.unlink()

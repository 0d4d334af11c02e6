"""Write files and folders so that a reader never sees them half-written (atomic renames)."""

from __future__ import annotations

import filecmp
import json
import math
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .locking import FolderLock, is_held, lock_file


@contextmanager
def atomic_path(path: str | Path, *, new_mode: int | None = None) -> Iterator[Path]:
    """Yield a private temporary sibling of ``path`` that replaces it on success: through a symlink, the
    file's mode kept (``new_mode`` for a new file)."""
    path = Path(path)
    check_file_target(path)
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else new_mode
    try:
        if mode is not None:  # created private: never readable more widely than the file it replaces
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        yield partial
        if mode is not None:
            partial.chmod(mode)
        partial.replace(target)
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


def write_text_atomic(path: str | Path, text: str, *, new_mode: int | None = None) -> Path:
    """Write ``text`` (UTF-8, line ends as given) to ``path`` as :func:`atomic_path` does (through a link,
    the file's mode kept, ``new_mode`` for a new file); return ``path`` as a ``Path``."""
    path = Path(path)
    with atomic_path(path, new_mode=new_mode) as partial:
        partial.write_text(text, encoding="utf-8", newline="")
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


def read_json_object(path: str | Path) -> dict[str, Any] | None:
    """The JSON object ``path`` holds; ``None`` where it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as lower-case hex."""
    from huggingface_hub.utils.sha import sha_fileobj

    with Path(path).open("rb") as handle:
        return sha_fileobj(handle).hex()


def is_occupied(path: str | Path) -> bool:
    """Whether ``path`` is a file, a symlink or a non-empty folder (not missing, not an empty folder)."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        return True
    return path.is_dir() and any(path.iterdir())


_PARTIAL = ".partial-"
WRITTEN_FILE = ".respira-written"
"""The record, in each folder respira writes, of every path it wrote there (a file with its SHA-256,
``sha256sum``'s form; a folder with a trailing ``/``: one respira wrote inside later too)."""

_WRITTEN_HEADER = (
    "# respira wrote these paths in this folder; --overwrite replaces them only while the folder holds"
    " nothing else and each file is as written\n"
)
_NOT_OURS = "was not written by respira"
_CHANGED = "was changed since respira wrote it"


def check_output_folder(
    output_dir: str | Path, *, overwrite: bool, exists_message: str | None = None, staging: Path | None = None
) -> Path:
    """``output_dir`` if missing or empty, or (``overwrite``) holding only files respira recorded writing
    (:data:`WRITTEN_FILE`), unchanged, or that ``staging`` carries over unchanged; else a one-line
    ``OSError`` that suggests only what would work (``exists_message`` where ``--overwrite`` would)."""
    output_dir = check_folder_target(output_dir)
    if output_dir.is_symlink():
        raise FileExistsError(
            f"{output_dir} is a symbolic link; respira does not replace links: give the folder itself or "
            "another output folder"
        )
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(
            f"{output_dir} is a file, not a folder: move it away or choose another output folder"
        )
    if not is_occupied(output_dir):
        return output_dir
    unowned = _unowned(output_dir)
    lost = [
        (path, why) for path, why in unowned if staging is None or not _carried(path, output_dir, staging)
    ]
    if lost and _written(output_dir) is None:
        raise FileExistsError(
            f"{output_dir} holds no record of what respira wrote in it ({WRITTEN_FILE}: not respira's "
            "output, or an older respira's), so respira does not replace it: move it away or choose "
            "another output folder"
        )
    if lost:
        (path, why), more = lost[0], f" (and {len(lost) - 1} more)" if len(lost) > 1 else ""
        raise FileExistsError(
            f"{output_dir / path.rstrip('/')} {why}{more}: move it away or choose another output folder"
        )
    if not overwrite:
        raise FileExistsError(
            exists_message or f"{output_dir} exists and is not empty; pass --overwrite to replace it"
        )
    return output_dir


def foreign_paths(folder: str | Path) -> list[str]:
    """The paths in ``folder`` (relative, POSIX, a folder with a trailing ``/``) respira did not record
    writing or that changed since (:func:`check_output_folder`); a foreign folder is named, not its
    content."""
    return [path for path, _ in _unowned(Path(folder))]


def _unowned(folder: Path) -> list[tuple[str, str]]:
    """Each path of :func:`foreign_paths` and why it is not respira's to replace. A record is honoured in
    ``folder`` and in the folders below that a record above lists (never in a copy put there)."""
    found: list[tuple[str, str]] = []

    def walk(directory: Path, records: list[tuple[Path, dict[str, str | None]]]) -> None:
        own = _written(directory)
        if own is not None:
            records = [*records, (directory, own)]
        for entry in sorted(directory.iterdir()):
            if own is not None and entry.name == WRITTEN_FILE and entry.is_file() and not entry.is_symlink():
                continue
            is_dir = entry.is_dir() and not entry.is_symlink()
            why = _why_unowned(entry, records)
            if why is not None:
                found.append((entry.relative_to(folder).as_posix() + ("/" if is_dir else ""), why))
            elif is_dir:
                walk(entry, records)

    walk(folder, [])
    return found


def _why_unowned(entry: Path, records: list[tuple[Path, dict[str, str | None]]]) -> str | None:
    """Why ``entry`` is not respira's by ``records`` (each a folder and its record); ``None`` when it is."""
    if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
        return _NOT_OURS
    suffix = "/" if entry.is_dir() else ""
    hashes = [
        paths[name]
        for base, paths in records
        if (name := entry.relative_to(base).as_posix() + suffix) in paths
    ]
    if not hashes:
        return _NOT_OURS
    if entry.is_dir() or None in hashes:  # a folder, or a file an older respira recorded without its hash
        return None
    return None if sha256_of(entry) in hashes else _CHANGED


def _written(directory: Path) -> dict[str, str | None] | None:
    """``directory``'s record: each path → its SHA-256 (``None`` for a folder, or a file an older respira
    recorded without one); ``None`` when there is none."""
    record = directory / WRITTEN_FILE
    if record.is_symlink() or not record.is_file():
        return None
    try:
        lines = record.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    paths: dict[str, str | None] = {}
    for line in lines:
        if line and not line.startswith("#"):
            digest, sep, name = line.partition("  ")
            paths.update({name: digest} if sep and re.fullmatch("[0-9a-f]{64}", digest) else {line: None})
    return paths


def _carried(path: str, old: Path, new: Path) -> bool:
    """Whether ``new`` holds ``path`` of ``old`` unchanged (a folder with the same content)."""
    before, after = old / path.rstrip("/"), new / path.rstrip("/")
    if before.is_symlink() or after.is_symlink():
        return before.is_symlink() and after.is_symlink() and before.readlink() == after.readlink()
    if before.is_dir():
        return after.is_dir() and _same_tree(before, after)
    return before.is_file() and after.is_file() and filecmp.cmp(before, after, shallow=False)


def _same_tree(before: Path, after: Path) -> bool:
    names = sorted(entry.name for entry in before.iterdir())
    return all(_carried(name + ("/" if (before / name).is_dir() else ""), before, after) for name in names)


def _record_written(staging: Path, skip: Sequence[str]) -> None:
    """Write ``staging``'s :data:`WRITTEN_FILE`: every path in it but ``skip`` (and what is under them),
    each file with its SHA-256."""
    paths = []
    for directory, folders, names in os.walk(staging):
        base = Path(directory).relative_to(staging)
        paths += [(base / name).as_posix() + "/" for name in folders]
        paths += [(base / name).as_posix() for name in names if not (Path(directory) / name).is_symlink()]
    skipped = tuple(path.rstrip("/") + "/" for path in skip)
    kept = [path for path in paths if path != WRITTEN_FILE and not (path + "/").startswith(skipped)]
    _write_record(staging, {path: None if path.endswith("/") else sha256_of(staging / path) for path in kept})


def _write_record(folder: Path, paths: dict[str, str | None]) -> None:
    lines = [
        f"{path}\n" if digest is None else f"{digest}  {path}\n" for path, digest in sorted(paths.items())
    ]
    write_text_atomic(folder / WRITTEN_FILE, _WRITTEN_HEADER + "".join(lines))


def check_loose_files(paths: Sequence[Path], *, overwrite: bool, elsewhere: str) -> None:
    """Refuse (one line) to write any of ``paths`` (files respira writes into a folder it does not write
    whole, e.g. predict's plots) that exists: respira's and unchanged (by its folder's record) only with
    ``overwrite``, never another; ``elsewhere``: how to write them elsewhere."""
    for path in paths:
        if not (path.exists() or path.is_symlink()):
            continue
        own = _written(path.parent)
        why = _why_unowned(path, [] if own is None else [(path.parent, own)])
        if why is not None:
            raise FileExistsError(
                f"{path} {why}, so respira does not replace it: move it away or {elsewhere}"
            )
        if not overwrite:
            raise FileExistsError(f"{path} exists: pass --overwrite to replace it, or {elsewhere}")


def record_loose_files(folder: Path, names: Sequence[str]) -> None:
    """Add ``names`` (files respira just wrote in ``folder``) to ``folder``'s record with their hashes."""
    paths = _written(folder) or {}
    paths.update({name: sha256_of(folder / name) for name in names})
    _write_record(folder, paths)


@contextmanager
def staged_folder(
    output_dir: str | Path, *, overwrite: bool, exists_message: str | None = None
) -> Iterator[Path]:
    """Yield a new hidden, locked staging folder next to ``output_dir``, moved into place on success
    (:func:`swap_into_place`) and removed on any error. ``output_dir`` is checked first
    (:func:`check_output_folder`), so nothing is done where the result could not go."""
    output_dir = Path(output_dir)
    check_output_folder(output_dir, overwrite=overwrite, exists_message=exists_message)
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
    """Record what ``staging`` holds (:data:`WRITTEN_FILE`) and move it to ``output_dir``, replacing an
    earlier output only as :func:`check_output_folder` allows (checked again now: it may have changed); a
    folder respira wrote around it records it too."""
    check_output_folder(output_dir, overwrite=overwrite, exists_message=exists_message, staging=staging)
    carried = foreign_paths(output_dir) if output_dir.is_dir() else []
    _record_written(staging, carried)
    replace_with(staging, output_dir)
    above = _written(output_dir.parent)  # a folder respira wrote: this one is respira's in it too
    if above is not None and f"{output_dir.name}/" not in above:
        _write_record(output_dir.parent, {**above, f"{output_dir.name}/": None})


def replace_with(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing ``target`` is moved aside first and removed once ``new`` is
    in place (restored if the rename fails). Unchecked: the caller has decided ``target`` may go."""
    if not target.exists() and not target.is_symlink():
        new.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
    target.rename(old)
    try:
        new.rename(target)
    except BaseException:
        old.rename(target)
        raise
    with suppress(OSError):
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()

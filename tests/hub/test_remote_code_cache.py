"""The shipped code's checks kept per process (:mod:`respira.hub.remote_code`): a file edited in place,
even to the same size and modification time, is checked and counted again, never served from before."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from respira.hub.remote_code import (
    REMOTE_CODE_AUTO_MAP,
    REMOTE_CODE_PIPELINES,
    check_remote_code,
    code_size,
    remote_code_files,
)


def _shipped_folder(folder: Path) -> Path:
    """A folder holding the shipped code and a config naming its classes (no weights: the checks read
    the code alone)."""
    folder.mkdir()
    for name, text in remote_code_files().files.items():
        (folder / name).write_text(text, encoding="utf-8")
    config = {"auto_map": REMOTE_CODE_AUTO_MAP, "custom_pipelines": REMOTE_CODE_PIPELINES}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def _edit_in_place(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` (as long) in ``path``, keeping its size and modification time."""
    assert len(old.encode()) == len(new.encode())
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size


def test_an_edited_shipped_file_is_checked_again(tmp_path: Path) -> None:
    folder = _shipped_folder(tmp_path / "folder")
    assert check_remote_code(folder) == sorted(remote_code_files().files)
    assert check_remote_code(folder) == sorted(remote_code_files().files)  # the second time from the cache
    featurizer = folder / "featurizer.py"
    line = "from __future__ import annotations"
    _edit_in_place(featurizer, line, "import respira".ljust(len(line)))
    with pytest.raises(ValueError, match=r"featurizer\.py imports respira"):
        check_remote_code(folder)


def test_an_edited_class_name_is_read_again(tmp_path: Path) -> None:
    folder = _shipped_folder(tmp_path / "folder")
    check_remote_code(folder)
    file, _, name = REMOTE_CODE_AUTO_MAP["AutoConfig"].partition(".")
    _edit_in_place(folder / f"{file}.py", f"class {name}(", f"class {name[:-1]}X(")
    with pytest.raises(ValueError, match=f"defines no {name}"):
        check_remote_code(folder)


def test_an_edited_text_is_counted_again() -> None:
    text = "X = 1\n\n\n\n\ndef f():\n    return X\n"
    edited = text.replace("\n\n\n\n\n", "\nY=1\n")
    assert len(edited) == len(text)
    assert code_size([text]) == (1, 3)
    assert code_size([edited]) == (1, 4)

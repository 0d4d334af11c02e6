"""respira.utils.files: files written atomically, folders staged and swapped into place."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from respira.utils import files
from respira.utils.files import (
    WRITTEN_FILE,
    atomic_path,
    check_file_target,
    is_occupied,
    nan_to_none,
    sha256_of,
    staged_folder,
    write_json_atomic,
    write_text_atomic,
)


def _names(folder: Path) -> list[str]:
    """The entries of ``folder`` but respira's record of what it wrote there."""
    return sorted(p.name for p in folder.iterdir() if p.name != WRITTEN_FILE)


# --------------------------------------------------------------------------------------------- files
def test_atomic_path_renames_on_success_and_creates_the_parent(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    with atomic_path(target) as partial:
        assert partial.parent == target.parent and partial.name.startswith(".")
        assert partial.name.endswith(".partial") and partial != target
        partial.write_bytes(b"data")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_bytes() == b"data"
    assert _names(target.parent) == ["out.bin"]


def test_atomic_path_failure_leaves_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), atomic_path(tmp_path / "new.txt") as partial:
        partial.write_text("half")
        raise RuntimeError("boom")
    assert _names(tmp_path) == []

    old = tmp_path / "old.txt"
    old.write_text("precious")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(old) as partial:
        partial.write_text("half")
        raise RuntimeError("boom")
    assert old.read_text() == "precious"
    assert _names(tmp_path) == ["old.txt"]


def test_write_text_atomic_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "out.csv"
    assert write_text_atomic(str(path), "x\n") == path
    assert write_text_atomic(path, "y,é\n") == path
    assert path.read_text(encoding="utf-8") == "y,é\n"
    assert _names(path.parent) == ["out.csv"]


def test_write_json_atomic_maps_nan_to_null_recursively(tmp_path: Path) -> None:
    nan = float("nan")
    payload = {"b": nan, "a": [1.5, nan, {"c": (nan, 2)}], "d": "text", "e": None}
    path = write_json_atomic(tmp_path / "m.json", payload)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == {"a": [1.5, None, {"c": [None, 2]}], "b": None, "d": "text", "e": None}
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"  # sorted, indent 2
    assert "NaN" not in text
    assert math.isnan(payload["b"])  # the payload itself is left alone


def test_write_json_atomic_refuses_infinity_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "m.json", {"x": float("inf")})
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "m.json", {"x": object()})
    assert _names(tmp_path) == []


def test_write_json_atomic_default(tmp_path: Path) -> None:
    path = write_json_atomic(tmp_path / "m.json", {"path": Path("a/b")}, default=str)
    assert json.loads(path.read_text()) == {"path": "a/b"}


def test_nan_to_none_keeps_other_values() -> None:
    assert nan_to_none({"a": 1, "b": [float("inf"), "nan"], "c": None}) == {
        "a": 1,
        "b": [float("inf"), "nan"],
        "c": None,
    }
    assert nan_to_none(float("nan")) is None


def test_is_occupied(tmp_path: Path) -> None:
    assert not is_occupied(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert not is_occupied(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    assert is_occupied(tmp_path / "full")
    (tmp_path / "file").write_text("x")
    assert is_occupied(tmp_path / "file")
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    assert is_occupied(tmp_path / "link")


# ------------------------------------------------------------------------------------------- folders
def _fill(staging: Path, name: str = "new.txt") -> None:
    assert staging.is_dir() and staging.name.startswith(".")
    (staging / name).write_text("new")


def test_staged_folder_creates_a_missing_folder(tmp_path: Path) -> None:
    out = tmp_path / "parent" / "out"
    with staged_folder(out, overwrite=False) as staging:
        assert staging.parent == out.parent
        _fill(staging)
        assert not out.exists()  # only swapped in once complete
    assert _names(out) == ["new.txt"]
    assert _names(out.parent) == ["out"]


def test_staged_folder_replaces_an_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with staged_folder(out, overwrite=False) as staging:
        _fill(staging)
    assert _names(out) == ["new.txt"]
    assert _names(tmp_path) == ["out"]


def test_staged_folder_refuses_an_occupied_target_without_overwrite(tmp_path: Path) -> None:
    out = _written(tmp_path / "out")
    before = _tree(out)
    with (
        pytest.raises(FileExistsError, match="custom message"),
        staged_folder(out, overwrite=False, exists_message="custom message"),
    ):
        pytest.fail("nothing is done where the result could not go")
    assert _names(tmp_path) == ["out"] and _tree(out) == before
    with (
        pytest.raises(FileExistsError, match="exists and is not empty; pass --overwrite"),
        staged_folder(out, overwrite=False),  # the default message
    ):
        pytest.fail("nothing is done where the result could not go")


def test_a_refusal_without_overwrite_suggests_it_only_where_it_would_work(tmp_path: Path) -> None:
    """A folder --overwrite would refuse is refused with that reason, never "pass --overwrite"."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with (
        pytest.raises(FileExistsError) as error,
        staged_folder(out, overwrite=False, exists_message="--overwrite"),
    ):
        pytest.fail("nothing is done where the result could not go")
    assert "--overwrite" not in str(error.value) and "move it away or choose another output folder" in str(
        error.value
    )
    _written(tmp_path / "ours")
    (tmp_path / "ours" / "notes.txt").write_text("the user's")
    with pytest.raises(FileExistsError, match=r"notes\.txt was not written by respira: move it away"):
        files.check_output_folder(tmp_path / "ours", overwrite=False, exists_message="pass --overwrite")
    assert (out / "keep.txt").read_text() == "precious"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _written(out: Path) -> Path:
    """``out`` as respira writes it: ``run.json`` and ``sub/weights.bin``."""
    with staged_folder(out, overwrite=True) as staging:
        (staging / "run.json").write_text("old")
        (staging / "sub").mkdir()
        (staging / "sub" / "weights.bin").write_bytes(b"old")
    return out


def test_a_staged_folder_records_what_respira_wrote_and_overwrite_replaces_it(tmp_path: Path) -> None:
    out = _written(tmp_path / "out")
    old = hashlib.sha256(b"old").hexdigest()
    assert (out / WRITTEN_FILE).read_text().splitlines()[1:] == [
        f"{old}  run.json",
        "sub/",
        f"{old}  sub/weights.bin",
    ]
    with staged_folder(out, overwrite=True) as staging:
        _fill(staging)
    assert _names(out) == ["new.txt"] and _names(tmp_path) == ["out"]  # no staging or old folder left


@pytest.mark.parametrize("planted", ["notes.txt", "sub/rec.wav", "mine/", "link"])
def test_overwrite_refuses_a_folder_holding_anything_respira_did_not_write(
    tmp_path: Path, planted: str
) -> None:
    out = _written(tmp_path / "out")
    if planted == "mine/":
        (out / "mine").mkdir()
    elif planted == "link":
        (out / "link").symlink_to(out / "run.json")
    else:
        (out / planted).write_bytes(b"the user's")
    before = _tree(out)
    with pytest.raises(FileExistsError) as error, staged_folder(out, overwrite=True):
        pytest.fail("nothing is done where the result could not go")
    assert str(error.value) == (
        f"{out / planted.rstrip('/')} was not written by respira: move it away or choose another output "
        "folder"
    )
    assert _tree(out) == before and _names(tmp_path) == ["out"]


def test_overwrite_checks_again_when_the_output_is_moved_into_place(tmp_path: Path) -> None:
    out = _written(tmp_path / "out")
    with (
        pytest.raises(FileExistsError, match=r"notes\.txt was not written by respira"),
        staged_folder(out, overwrite=True) as staging,
    ):
        _fill(staging)
        (out / "notes.txt").write_text("written while respira worked")
    assert (out / "notes.txt").read_text() == "written while respira worked"
    assert _names(out) == ["notes.txt", "run.json", "sub"] and _names(tmp_path) == ["out"]


def test_a_file_the_new_output_carries_over_unchanged_stays_the_users(tmp_path: Path) -> None:
    out = _written(tmp_path / "out")
    (out / "notes.txt").write_text("the user's")
    staging = tmp_path / ".out.resumed"  # a finished run trained more: a copy of it (training.run)
    shutil.copytree(out, staging)
    (staging / "run.json").write_text("new")
    files.swap_into_place(staging, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "the user's" and (out / "run.json").read_text() == "new"
    with (
        pytest.raises(FileExistsError, match=r"notes\.txt was not written by respira"),
        staged_folder(out, overwrite=True),  # still not respira's to delete
    ):
        pass


def test_a_folder_an_earlier_respira_wrote_without_a_record_is_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(FileExistsError) as error, staged_folder(out, overwrite=True):
        pytest.fail("nothing is done where the result could not go")
    assert str(error.value).startswith(f"{out} holds no record of what respira wrote in it ({WRITTEN_FILE}")
    assert _tree(out) == {"config.json": b"{}"}


def test_a_respira_folder_inside_another_counts_by_its_own_record(tmp_path: Path) -> None:
    out = _written(tmp_path / "out")
    _written(out / "evaluation_test")  # e.g. evaluate --record into a model folder
    assert "evaluation_test/" in (out / WRITTEN_FILE).read_text().splitlines()  # the folder around records it
    with staged_folder(out, overwrite=True) as staging:
        _fill(staging)
    assert _names(out) == ["new.txt"]


@pytest.mark.parametrize("nested", ["backup_v1", "deeper/backup_v1"])
def test_a_copy_of_an_earlier_output_inside_the_folder_is_not_respiras_to_delete(
    tmp_path: Path, nested: str
) -> None:
    """``cp -r exp_old exp/backup_v1``: the copy's record was written for exp_old, not for where it is."""
    out = _written(tmp_path / "exp")
    old = _written(tmp_path / "exp_old")
    (old / "run.json").write_text("the user's")  # the user's edit of the earlier output
    if "/" in nested:
        with staged_folder(out, overwrite=True) as staging:
            (staging / "deeper").mkdir()
    shutil.copytree(old, out / nested)
    shutil.rmtree(old)
    before = _tree(out)
    with pytest.raises(FileExistsError) as error, staged_folder(out, overwrite=True):
        pytest.fail("nothing is done where the result could not go")
    assert str(error.value) == (
        f"{out / nested} was not written by respira: move it away or choose another output folder"
    )
    assert _tree(out) == before and (out / nested / "run.json").read_text() == "the user's"
    shutil.copytree(out / nested, tmp_path / "moved")  # the copy is respira's once it is the folder written
    (tmp_path / "moved" / "run.json").write_text("old")
    with staged_folder(tmp_path / "moved", overwrite=True) as staging:
        _fill(staging)
    assert _names(tmp_path / "moved") == ["new.txt"]


@pytest.mark.parametrize("edited", ["run.json", "sub/weights.bin"])
def test_overwrite_refuses_a_file_changed_since_respira_wrote_it(tmp_path: Path, edited: str) -> None:
    """An edited model card, say: the record's hash no longer matches, so --overwrite keeps it."""
    out = _written(tmp_path / "out")
    (out / edited).write_bytes(b"edited by hand")
    before = _tree(out)
    for overwrite in (True, False):  # without --overwrite: the same reason, not "pass --overwrite"
        with pytest.raises(FileExistsError) as error, staged_folder(out, overwrite=overwrite):
            pytest.fail("nothing is done where the result could not go")
        assert str(error.value) == (
            f"{out / edited} was changed since respira wrote it: move it away or choose another output folder"
        )
    assert _tree(out) == before
    (out / edited).write_bytes(b"old")  # as respira wrote it again: replaced
    with staged_folder(out, overwrite=True) as staging:
        _fill(staging)
    assert _names(out) == ["new.txt"]


def test_a_record_of_an_older_respira_lists_paths_without_hashes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text("old")
    (out / WRITTEN_FILE).write_text("# respira wrote these paths in this folder\nrun.json\n")
    with staged_folder(out, overwrite=True) as staging:
        _fill(staging)
    assert _names(out) == ["new.txt"]


def test_loose_files_are_replaced_only_where_respira_wrote_them_unchanged(tmp_path: Path) -> None:
    """predict's plots in a folder respira does not write whole (the current one, say)."""
    ours, users = tmp_path / "r1.png", tmp_path / "recording.png"
    users.write_bytes(b"the user's picture")
    with pytest.raises(FileExistsError) as error:
        files.check_loose_files([users], overwrite=True, elsewhere="give another --plot_dir")
    assert str(error.value) == (
        f"{users} was not written by respira, so respira does not replace it: move it away or give another "
        "--plot_dir"
    )
    ours.write_bytes(b"png")
    files.record_loose_files(tmp_path, [ours.name])
    files.check_loose_files([ours, tmp_path / "missing.png"], overwrite=True, elsewhere="x")
    with pytest.raises(FileExistsError, match=r"r1\.png exists: pass --overwrite to replace it, or x$"):
        files.check_loose_files([ours], overwrite=False, elsewhere="x")
    ours.write_bytes(b"edited")
    with pytest.raises(FileExistsError, match=r"r1\.png was changed since respira wrote it"):
        files.check_loose_files([ours], overwrite=True, elsewhere="x")


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_file_or_a_link_where_the_folder_goes_is_refused(
    tmp_path: Path, kind: str, overwrite: bool
) -> None:
    out = tmp_path / "out"
    target = _written(tmp_path / "target")
    if kind == "file":
        out.write_text("precious")
    else:
        out.symlink_to(target)
    with pytest.raises(FileExistsError) as error, staged_folder(out, overwrite=overwrite):
        pytest.fail("nothing is done where the result could not go")
    assert str(error.value).startswith(
        f"{out} is a file, not a folder" if kind == "file" else f"{out} is a symbolic link"
    )
    assert out.is_symlink() if kind == "symlink" else out.read_text() == "precious"
    assert _names(tmp_path) == ["out", "target"] and _tree(target)["run.json"] == b"old"


def test_staged_folder_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"), staged_folder(out, overwrite=False) as staging:
        _fill(staging)
        raise RuntimeError("disk full")
    assert _names(tmp_path) == []

    _written(out)
    with pytest.raises(KeyboardInterrupt), staged_folder(out, overwrite=True) as staging:
        _fill(staging)
        raise KeyboardInterrupt
    assert _names(tmp_path) == ["out"]
    assert _tree(out)["run.json"] == b"old"


def test_staged_folder_puts_the_old_folder_back_when_the_swap_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _written(tmp_path / "out")
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if self.name.startswith(".out.partial-"):
            raise OSError("rename failed")
        return real_rename(self, target)

    monkeypatch.setattr(files.Path, "rename", rename)
    with pytest.raises(OSError, match="rename failed"), staged_folder(out, overwrite=True) as staging:
        _fill(staging)
    monkeypatch.undo()
    assert _names(tmp_path) == ["out"]
    assert _tree(out)["run.json"] == b"old"


def test_writing_onto_a_folder_or_under_a_file_names_the_users_path(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as error:
        write_text_atomic(folder, "x")
    assert str(error.value) == f"{folder} is a folder; give the name of a file to write"
    (tmp_path / "notes").write_text("a file\n")
    target = tmp_path / "notes" / "deeper" / "out.json"
    with pytest.raises(NotADirectoryError) as error:
        write_json_atomic(target, {})
    assert str(error.value) == f"cannot write {target}: {tmp_path / 'notes'} is a file, not a folder"
    assert check_file_target(tmp_path / "new" / "out.csv") == tmp_path / "new" / "out.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "results"]


def test_atomic_path_writes_through_a_link_and_keeps_the_files_mode(tmp_path: Path) -> None:
    real = tmp_path / "kept" / "labels.csv"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "labels.csv"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and link.resolve() == real  # the link is not replaced by a file
    assert real.read_text() == "new" and (real.stat().st_mode & 0o777) == 0o600
    assert _names(real.parent) == ["labels.csv"] and _names(tmp_path) == ["kept", "labels.csv"]


def test_an_error_about_the_temporary_file_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(PermissionError) as error, atomic_path(target) as partial:
        raise PermissionError(13, "Permission denied", str(partial))
    assert error.value.filename == str(target) and ".partial" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


_STAGE = """
import os, signal, sys
sys.argv[0] = "respira"  # a respira command's process: `import respira` registers no models (seconds)
from respira.utils.files import staged_folder
with staged_folder(sys.argv[1], overwrite=False) as staging:
    (staging / "part").write_text("half")
    print(staging, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()
"""


def test_staging_folders_of_killed_runs_are_removed_by_the_next_run_but_not_live_ones(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    from respira.utils.locking import lock_file

    target = tmp_path / "out"
    command = [sys.executable, "-c", _STAGE, str(target)]
    killed = subprocess.run([*command, "kill"], capture_output=True, text=True, timeout=120, check=False)
    stale = Path(killed.stdout.strip())
    assert stale.parent == tmp_path and stale.name.startswith(".out.partial-") and stale.is_dir()
    old = tmp_path / ".out.partial-0123456789ab"  # an older run's, without a lock
    old.mkdir()
    other = tmp_path / ".outer.partial-0123456789ab"  # another target's: not ours to remove
    other.mkdir()
    live = subprocess.Popen([*command, "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = Path(live.stdout.readline().strip())
        assert held.is_dir()
        with staged_folder(target, overwrite=False) as staging:
            (staging / "done").write_text("1")
        assert not stale.exists() and not lock_file(stale).exists() and not old.exists()
        assert held.is_dir() and other.is_dir()
    finally:
        live.communicate("", timeout=120)  # it finds the target taken and removes its own staging folder
    assert _names(tmp_path) == [".outer.partial-0123456789ab", "out"]
    assert _names(target) == ["done"]


def test_a_staged_folder_under_a_file_is_one_line_naming_both(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError) as error, staged_folder(blocker / "out", overwrite=False):
        pass
    assert str(error.value) == f"cannot create {blocker / 'out'}: {blocker} is a file, not a folder"
    assert _names(tmp_path) == ["file.txt"]


def test_sha256_of_is_the_hex_digest_of_the_files_bytes(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"respira" * 100_000)
    assert sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()

"""Every command that writes a folder or file the user names keeps to what respira wrote there: with
``--overwrite`` a folder holding anything else is refused in one line naming it, nothing touched; a plain
file where a folder goes is refused; a respira-written output is replaced (:mod:`respira.utils.files`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from respira.app.web_page import ORT_WEB_FILES, ort_web_folder
from respira.cli import main
from respira.utils.files import WRITTEN_FILE, staged_folder

Command = Callable[[dict[str, Path], Path], list[str]]

FOLDER_COMMANDS: dict[str, Command] = {
    "export": lambda f, out: ["export", str(f["model"]), str(out)],
    "export --onnx": lambda f, out: ["export", str(f["model"]), str(out), "--onnx"],
    "export --with_code": lambda f, out: ["export", str(f["model"]), str(out), "--with_code"],
    "export --web": lambda f, out: ["export", str(f["onnx_model"]), str(out), "--web"],
    "fit-site": lambda f, out: [
        "fit-site",
        str(f["model"]),
        "--data_dir",
        str(f["corpus"]),
        "--output_dir",
        str(out),
    ],
    "train": lambda f, out: [
        "train",
        "--encoder",
        "cnn",
        "--data_dir",
        str(f["corpus"]),
        "--output_dir",
        str(out),
    ],
    "prepare": lambda f, out: ["prepare", "--data_dir", str(f["corpus"]), "--output_dir", str(out)],
    "evaluate": lambda f, out: [
        "evaluate",
        str(f["model"]),
        "--data_dir",
        str(f["corpus"]),
        "--output_dir",
        str(out),
    ],
    "convert": lambda f, out: ["convert", "beats", str(f["model"] / "model.safetensors"), str(out)],
    "demo": lambda f, out: ["demo", "--output_dir", str(out.parent)],  # its parts: out is demo's run/
}
"""Each command's cheapest call writing the folder ``out`` (with ``--overwrite`` added where asked)."""


def _overwrite(name: str) -> list[str]:
    return [] if name == "evaluate" else ["--overwrite"]  # evaluate replaces an earlier report unasked


REPLACED = ("export", "export --with_code", "export --web")
"""The commands run to the end on a respira-written ``out``. The others' writer is the same ``staged_folder``
(export --onnx: export's own), run to the end in tests/utils/test_files.py: a fit, a training, a demo or an
ONNX export twice over is too slow here."""


@pytest.fixture(scope="module")
def fixtures(
    detector_dir: Path, synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The detector, the corpus, and the detector with a ``model.onnx`` (its page needs no conversion:
    tests/app/test_web_page.py converts one; here a graph that passes audio through, which the page writer
    copies)."""
    import onnx
    from onnx import TensorProto, helper

    onnx_model = Path(shutil.copytree(detector_dir, tmp_path_factory.mktemp("onnx") / "model"))
    audio = helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["batch", "samples"])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "samples"])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input_values"], ["logits"])], "g", [audio], [logits]
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), onnx_model / "model.onnx"
    )
    return {"model": detector_dir, "corpus": synthetic_corpus, "onnx_model": onnx_model}


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _written_by_respira(out: Path) -> Path:
    with staged_folder(out, overwrite=False) as staging:
        (staging / "config.json").write_text("{}")
    return out


def _skip_without_web(name: str) -> None:
    if "--web" in name and not all((ort_web_folder() / file).is_file() for file in ORT_WEB_FILES):
        pytest.skip(f"onnxruntime-web is not at {ort_web_folder()} (`make web-deps` fetches it with npm)")


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_overwrite_refuses_a_folder_holding_a_users_file_and_touches_nothing(
    name: str, fixtures: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _skip_without_web(name)
    out = _written_by_respira(tmp_path / "work" / "run")
    (out / "notes.txt").write_text("the clinician's notes")
    (out / "rec.wav").write_bytes(b"RIFF a recording")
    before, beside = _tree(out), sorted(p.name for p in out.parent.iterdir())
    assert main([*FOLDER_COMMANDS[name](fixtures, out), *_overwrite(name)]) == 2
    assert _one_line(capsys).endswith(
        f"{out / 'notes.txt'} was not written by respira (and 1 more): move it away or choose another "
        "output folder"
    )
    assert _tree(out) == before and sorted(p.name for p in out.parent.iterdir()) == beside


@pytest.mark.parametrize("overwrite", [False, True], ids=["", "--overwrite"])
@pytest.mark.parametrize("name", FOLDER_COMMANDS)
def test_a_plain_file_where_the_folder_goes_is_refused_and_kept(
    name: str, overwrite: bool, fixtures: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _skip_without_web(name)
    out = tmp_path / "work" / "run"
    out.parent.mkdir()
    out.write_bytes(b"the user's file")
    assert main([*FOLDER_COMMANDS[name](fixtures, out), *(_overwrite(name) if overwrite else [])]) == 2
    assert str(out) in _one_line(capsys)
    assert out.read_bytes() == b"the user's file" and [p.name for p in out.parent.iterdir()] == ["run"]


@pytest.mark.parametrize("name", REPLACED)
def test_overwrite_replaces_what_respira_wrote(
    name: str, fixtures: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _skip_without_web(name)
    out = tmp_path / "out"
    assert main(FOLDER_COMMANDS[name](fixtures, out)) == 0
    first = _tree(out)
    card = (out / "README.md").read_bytes()
    (out / "README.md").write_text("edited")  # respira's file, changed since: the user's now
    assert main([*FOLDER_COMMANDS[name](fixtures, out), "--overwrite"]) == 2
    assert _one_line(capsys).endswith(
        f"{out / 'README.md'} was changed since respira wrote it: move it away or choose another output "
        "folder"
    )
    assert (out / "README.md").read_text() == "edited"
    (out / "README.md").write_bytes(card)  # as respira wrote it: respira's to replace
    assert main([*FOLDER_COMMANDS[name](fixtures, out), "--overwrite"]) == 0, capsys.readouterr().err
    assert _tree(out) == first and WRITTEN_FILE in first
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging or old folder left


def test_screen_keeps_a_users_file_and_refuses_its_own_names_taken(
    fixtures: dict[str, Path], archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "screened"
    out.mkdir()
    (out / "notes.txt").write_text("the clinician's notes")
    command = ["screen", str(fixtures["model"]), str(archive), "--output_dir", str(out), "--format", "csv"]
    assert main(command) == 0
    assert (out / "notes.txt").read_text() == "the clinician's notes"
    capsys.readouterr()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "recordings.csv").write_text("the user's table")
    assert main([*command[:-4], "--output_dir", str(taken), "--format", "csv"]) == 2
    assert _one_line(capsys).endswith(
        f"{taken / 'recordings.csv'} was not written by respira screen: move it away or choose another "
        "--output_dir"
    )
    assert _tree(taken) == {"recordings.csv": b"the user's table"}
    plain = tmp_path / "plain"
    plain.write_bytes(b"the user's file")
    assert main([*command[:-4], "--output_dir", str(plain)]) == 2
    assert str(plain) in _one_line(capsys) and plain.read_bytes() == b"the user's file"


def test_predict_writes_its_file_through_a_link_keeping_its_mode_and_refuses_a_folder(
    fixtures: dict[str, Path], archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "kept" / "out.csv"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "out.csv"
    link.symlink_to(real)
    recording = str(archive / "r000.wav")
    assert main(["predict", str(fixtures["model"]), recording, "--output", str(link)]) == 0
    assert link.is_symlink() and real.read_text().startswith("file,")  # the link's target got the table
    assert (real.stat().st_mode & 0o777) == 0o600 and [p.name for p in real.parent.iterdir()] == ["out.csv"]
    capsys.readouterr()
    folder = tmp_path / "results.csv"
    folder.mkdir()
    assert main(["predict", str(fixtures["model"]), recording, "--output", str(folder)]) == 2
    assert str(folder) in _one_line(capsys) and list(folder.iterdir()) == []

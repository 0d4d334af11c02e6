"""``respira predict --plot``: one PNG per predicted file, nothing when the plot folder is bad; progress
bars (predict over several files, the dataset build inside ``train``); the demo's recordings to draw."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from matplotlib.figure import Figure

from respira.cli import main
from respira.commands.demo import plot_recordings
from respira.commands.predict import progress
from respira.reports import recording_plot
from respira.utils.files import WRITTEN_FILE

from ..conftest import THRESHOLDS


def _files(folder: Path) -> list[str]:
    """The files under ``folder`` but respira's record of what it wrote there."""
    found = (path for path in folder.rglob("*") if path.is_file() and path.name != WRITTEN_FILE)
    return sorted(str(path.relative_to(folder)) for path in found)


def test_one_png_per_file_named_after_it(
    single_label_dir: Path,
    noise_recording: Path,
    annotated_recording: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav, _ = annotated_recording
    twin = tmp_path / "elsewhere" / noise_recording.name  # same name in another folder
    twin.parent.mkdir()
    shutil.copy(noise_recording, twin)
    plots = tmp_path / "plots" / "new"
    files = [str(noise_recording), str(wav), str(twin)]
    assert main(["predict", str(single_label_dir), *files, "--plot_dir", str(plots)]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)  # the plots' message is on stderr, the JSON alone on stdout
    assert {row["file"] for row in rows} == set(files)
    assert f"wrote 3 plot(s) to {plots}" in captured.err
    assert _files(plots) == sorted(["noise.png", f"{wav.stem}.png", "noise-2.png"])


def test_default_folder_is_the_output_folder_and_annotations_are_drawn(
    single_label_dir: Path, annotated_recording: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    wav, annotation = annotated_recording
    output = tmp_path / "out" / "cycles.csv"
    arguments = [str(wav), "--annotations", str(annotation), "--output", str(output), "--plot"]
    assert main(["predict", str(single_label_dir), *arguments]) == 0
    assert f"wrote 1 plot(s) to {output.parent}" in capsys.readouterr().out
    assert _files(output.parent) == sorted(["cycles.csv", f"{wav.stem}.png"])


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_a_bad_plot_folder_is_one_line_and_nothing_is_written(
    single_label_dir: Path, noise_recording: Path, tmp_path: Path, capsys, where: str
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    plot_dir = blocker if where == "a file" else blocker / "plots"
    output = tmp_path / "out.json"
    arguments = [str(noise_recording), "--plot_dir", str(plot_dir), "--output", str(output)]
    assert main(["predict", str(single_label_dir), *arguments]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("respira predict: error: ")
    assert str(plot_dir) in error
    assert _files(tmp_path) == ["taken"]


def test_a_png_respira_did_not_write_is_never_replaced(
    single_label_dir: Path, noise_recording: Path, tmp_path: Path, capsys
) -> None:
    """A user's noise.png where the plot goes: refused, --overwrite or not; respira's own only with
    --overwrite, and not once it was changed."""
    plots = tmp_path / "plots"
    plots.mkdir()
    users = plots / "noise.png"
    users.write_bytes(b"the user's picture")
    arguments = ["predict", str(single_label_dir), str(noise_recording), "--plot_dir", str(plots)]
    for extra in ([], ["--overwrite"]):
        assert main([*arguments, *extra]) == 2
        error = capsys.readouterr().err
        assert error == (
            f"respira predict: error: {users} was not written by respira, so respira does not replace it: "
            "move it away or give another --plot_dir\n"
        )
        assert users.read_bytes() == b"the user's picture"
    users.unlink()
    assert main(arguments) == 0 and users.read_bytes().startswith(b"\x89PNG")
    assert main(arguments) == 2
    assert (
        f"{users} exists: pass --overwrite to replace it, or give another --plot_dir"
        in capsys.readouterr().err
    )
    drawn = users.stat().st_mtime_ns
    assert main([*arguments, "--overwrite"]) == 0 and users.stat().st_mtime_ns != drawn
    users.write_bytes(users.read_bytes() + b"edited")
    assert main([*arguments, "--overwrite"]) == 2
    assert f"{users} was changed since respira wrote it" in capsys.readouterr().err
    assert users.read_bytes().endswith(b"edited")


def test_files_that_fail_get_no_png(
    single_label_dir: Path, noise_recording: Path, tmp_path: Path, capsys
) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    plots = tmp_path / "plots"
    arguments = [str(noise_recording), str(broken), "--plot_dir", str(plots)]
    assert main(["predict", str(single_label_dir), *arguments]) == 1
    assert str(broken) in capsys.readouterr().err
    assert _files(plots) == ["noise.png"]


def test_onnx_folders_are_drawn_with_their_thresholds(
    multi_label_onnx_dir: Path, noise_recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = multi_label_onnx_dir  # model.onnx and config.json: predict runs onnxruntime
    figures: list[Figure] = []
    save = recording_plot.save_figure
    monkeypatch.setattr(
        recording_plot, "save_figure", lambda figure, path: figures.append(figure) or save(figure, path)
    )
    plots = tmp_path / "plots"
    assert main(["predict", str(folder), str(noise_recording), "--plot_dir", str(plots)]) == 0
    assert _files(plots) == ["noise.png"]
    (probabilities,) = [ax for ax in figures[0].axes if ax.get_label() == "probabilities"]
    levels = sorted(
        line.get_ydata()[0] for line in probabilities.get_lines() if "threshold" in line.get_label()
    )
    assert levels == THRESHOLDS


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_for_several_files_a_bar_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, progress_bars_on: None
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert list(progress(["a.wav", "b.wav"])) == ["a.wav", "b.wav"]
    assert "predicting" in terminal.getvalue() and "2/2" in terminal.getvalue()
    shown = terminal.getvalue()
    assert list(progress(["a.wav"])) == ["a.wav"]  # one file: no bar
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert list(progress(["a.wav", "b.wav"])) == ["a.wav", "b.wav"]
    assert terminal.getvalue() == shown
    monkeypatch.delenv("TQDM_DISABLE")
    log = io.StringIO()  # not a terminal (a log file, CI): one line
    monkeypatch.setattr(sys, "stderr", log)
    assert list(progress(["a.wav", "b.wav"])) == ["a.wav", "b.wav"]
    assert log.getvalue() == "predicting (2 files)\n"


@pytest.mark.parametrize("disable_tqdm", [False, True])
def test_train_builds_the_dataset_with_progress_bars_unless_disabled(
    monkeypatch: pytest.MonkeyPatch, disable_tqdm: bool
) -> None:
    import datasets
    from transformers.utils import logging as transformers_logging

    import respira.training.run

    seen = []
    training_args = SimpleNamespace(disable_tqdm=disable_tqdm, resume_from_checkpoint=None, output_dir="run")

    def first_step(*_, **__):  # run_training's first step after its progress switches
        seen.append(datasets.is_progress_bar_enabled())
        raise ValueError("stopped before the dataset build")

    monkeypatch.setattr(
        respira.training.run, "parse_recipe", lambda *_, **__: (None, None, None, training_args)
    )
    monkeypatch.setattr(respira.training.run, "resolve_resume", first_step)
    transformers_bars = transformers_logging.is_progress_bar_enabled()
    datasets.enable_progress_bars()
    try:
        assert main(["train", "recipe.yaml"]) == 2
    finally:
        datasets.enable_progress_bars()
        if transformers_bars:
            transformers_logging.enable_progress_bar()
    assert seen == [not disable_tqdm]


def test_the_demo_draws_test_recordings_with_adventitious_cycles(synthetic_corpus: Path) -> None:
    split = dict(
        line.split()
        for line in (synthetic_corpus / "ICBHI_challenge_train_test.txt").read_text().splitlines()
    )
    chosen = plot_recordings(synthetic_corpus)
    assert len(chosen) == 2 and len(set(chosen)) == 2
    for wav in chosen:
        assert wav.is_file() and split[wav.stem] == "test"
        flags = [
            line.split()[2:] for line in wav.with_suffix(".txt").read_text().splitlines() if line.strip()
        ]
        assert any(flag != ["0", "0"] for flag in flags)

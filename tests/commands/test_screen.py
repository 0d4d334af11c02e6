"""``respira screen``: the command's outputs, its one-line refusals, a datasets SOURCE and --onnx."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from respira.cli import main

from ..screening.conftest import BAD, GOOD


def test_screen_writes_csv_tables_and_says_what_it_did(
    detector_dir: Path, archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["screen", str(detector_dir), str(archive), "--output_dir", str(out), "--format", "csv"])
    printed = capsys.readouterr().out
    assert code == 0  # the job finished; some recordings are error rows
    assert f"screened {GOOD} recording(s), {len(BAD)} failed, 0 skipped" in printed
    assert "× real time" in printed and f"wrote {out / 'recordings.csv'}" in printed
    table = pd.read_csv(out / "recordings.csv")
    assert len(table) == GOOD + len(BAD) and table["error"].notna().sum() == len(BAD)
    assert not (out / "events.csv").exists()


def test_other_options_or_bad_ones_are_refused_in_one_line(
    detector_dir: Path, archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert (
        main(["screen", str(detector_dir), str(archive), "--output_dir", str(out), "--chunk_size", "0"]) == 2
    )
    assert (
        capsys.readouterr().err.strip()
        == "respira screen: error: --chunk_size must be a whole number >= 1, got 0"
    )
    assert not out.exists()  # checked before anything is written
    assert main(["screen", str(detector_dir), str(archive / "missing"), "--output_dir", str(out)]) == 2
    assert "missing not found" in capsys.readouterr().err and not out.exists()
    assert main(["screen", str(detector_dir), str(archive), "--output_dir", str(out)]) == 0
    before = sorted(path.name for path in (out / "chunks").iterdir())
    capsys.readouterr()
    assert main(["screen", str(detector_dir), str(archive), "--output_dir", str(out), "--window", "2"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "other settings (--window (4.0 → 2.0))" in error
    assert sorted(path.name for path in (out / "chunks").iterdir()) == before


def test_a_saved_dataset_is_screened_as_its_files_are(
    detector_dir: Path, archive: Path, tmp_path: Path
) -> None:
    from datasets import Audio, Dataset

    files = [str(archive / "r000.wav"), str(archive / "sub" / "r001.wav"), str(archive / "broken.wav")]
    Dataset.from_dict({"audio": files}).cast_column("audio", Audio()).save_to_disk(str(tmp_path / "saved"))
    assert (
        main(["screen", str(detector_dir), str(tmp_path / "saved"), "--output_dir", str(tmp_path / "a")]) == 0
    )
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(files))
    assert main(["screen", str(detector_dir), str(listing), "--output_dir", str(tmp_path / "b")]) == 0
    from_dataset = pd.read_parquet(tmp_path / "a" / "recordings.parquet").sort_values("path")
    from_files = pd.read_parquet(tmp_path / "b" / "recordings.parquet").set_index("path").loc[files]
    assert from_dataset["path"].tolist() == ["train[0]", "train[1]", "train[2]"]
    assert from_dataset["mtime_ns"].isna().all()
    for column in ("duration", "sampling_rate", "channels", "verdict", "crackle", "wheeze", "error"):
        assert from_dataset[column].tolist()[:2] == from_files[column].tolist()[:2], column
    assert from_files["error"].iloc[2].startswith("cannot be decoded as audio")
    assert from_dataset["error"].iloc[2].startswith("cannot be decoded as audio")


def test_onnx_runs_the_models_onnx_graph(
    multi_label_dir: Path, multi_label_onnx_dir: Path, archive: Path, tmp_path: Path
) -> None:
    """The session's tiny multi-label model screened by torch and by its ONNX graph (converted once per
    run)."""
    pytest.importorskip("onnxruntime")
    common = [str(archive), "--device", "cpu"]
    assert main(["screen", str(multi_label_dir), *common, "--output_dir", str(tmp_path / "torch")]) == 0
    onnx = ["screen", str(multi_label_onnx_dir), *common, "--onnx", "--output_dir", str(tmp_path / "onnx")]
    assert main(onnx) == 0
    torch_rows = pd.read_parquet(tmp_path / "torch" / "recordings.parquet").sort_values("path")
    onnx_rows = pd.read_parquet(tmp_path / "onnx" / "recordings.parquet").sort_values("path")
    assert onnx_rows["crackle"].to_numpy() == pytest.approx(
        torch_rows["crackle"].to_numpy(), abs=1e-4, nan_ok=True
    )
    assert onnx_rows["verdict"].tolist() == torch_rows["verdict"].tolist()


def test_screen_runs_small_batches_on_the_cpu_unless_told(
    detector_dir: Path, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from respira.inference import forward

    real, sizes = forward.forward, []

    def counting(model, windows, output):
        sizes.append(len(windows))
        return real(model, windows, output)

    monkeypatch.setattr(forward, "forward", counting)
    common = [str(detector_dir), str(archive), "--device", "cpu"]
    assert main(["screen", *common, "--output_dir", str(tmp_path / "a")]) == 0
    assert max(sizes) == forward.CPU_BATCH_SIZE == 8
    sizes.clear()
    assert main(["screen", *common, "--batch_size", "3", "--output_dir", str(tmp_path / "b")]) == 0
    assert max(sizes) == 3


def test_a_source_with_nothing_to_screen_is_refused_in_one_line(
    detector_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "no audio"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a recording\n")
    listing = tmp_path / "list.txt"
    listing.write_text("# nothing yet\n\n")
    out = tmp_path / "out"
    assert main(["screen", str(detector_dir), str(empty), "--output_dir", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "nothing to screen: no audio files (.wav, " in error
    assert f"in the folder {empty} or below it" in error
    assert main(["screen", str(detector_dir), str(listing), "--output_dir", str(out)]) == 2
    assert f"nothing to screen: the list {listing} names no recordings" in capsys.readouterr().err
    assert not out.exists()  # refused before anything is written


@pytest.mark.real_data
def test_screen_marks_the_audits_recordings_in_its_table(
    audit_recordings: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Silence, a clipped recording and 0.2 s get their verdict and, in the table, why it is not to be
    trusted (not only on standard error)."""
    out = tmp_path / "out"
    folder = audit_recordings["silent"].parent
    assert main(["screen", str(folder), "--output_dir", str(out)]) == 0
    table = pd.read_parquet(out / "recordings.parquet")
    warning = {Path(path).stem: text for path, text in zip(table["path"], table["warning"], strict=True)}
    assert "is silent" in warning["silence"]
    assert "is clipped (42.0 % of its samples at full scale" in warning["clipped"]  # 41.5 % at 4 kHz
    assert "is 0.2 s long, shorter than one 4-s window" in warning["short"]
    assert table["verdict"].notna().all() and table["error"].isna().all()

"""The respira command line: prepare, demo, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from respira.cli import main


def test_prepare_prints_a_summary_and_writes_parquet(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "parquet"
    code = main(
        [
            "prepare",
            "--data_dir",
            str(synthetic_corpus),
            "--validation_size",
            "0.25",
            "--output_dir",
            str(output),
            "--cache_dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for word in ("train", "validation", "test", "normal", "crackle", "wheeze", "both", "minutes"):
        assert word in printed
    assert sorted(p.name for p in output.iterdir()) == ["test.parquet", "train.parquet", "validation.parquet"]
    reloaded = datasets.load_dataset(
        "parquet", data_files=str(output / "test.parquet"), cache_dir=str(tmp_path / "pq")
    )["train"]
    assert isinstance(reloaded.features["audio"], datasets.Audio)


def test_errors_are_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["prepare", "--data_dir", str(tmp_path / "nowhere")])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("respira prepare: error:")
    assert str(tmp_path / "nowhere") in error
    assert len(error.splitlines()) == 1


def test_patient_split_is_suggested_for_copies_without_split_file(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "kaggle"
    corpus.mkdir()
    (corpus / "audio_and_txt_files").symlink_to(synthetic_corpus / "ICBHI_final_database")
    code = main(["prepare", "--data_dir", str(corpus), "--cache_dir", str(tmp_path / "cache")])
    assert code == 2
    assert "split_strategy='patient'" in capsys.readouterr().err
    code = main(
        [
            "prepare",
            "--data_dir",
            str(corpus),
            "--split_strategy",
            "patient",
            "--cache_dir",
            str(tmp_path / "c"),
        ]
    )
    assert code == 0


def test_python_dash_m_runs_the_demo(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "respira", "demo", "--output_dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "synthetic ICBHI-format corpus" in result.stdout
    assert "validation" in result.stdout
    assert (tmp_path / "demo" / "synthetic_icbhi" / "ICBHI_challenge_train_test.txt").is_file()

"""The evaluation protocol: its dataset check, its run over recordings and the one report writer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import numpy as np
import pytest

from respira.evaluation.cycles import CYCLES
from respira.evaluation.event_corpus import EVENT_CORPUS
from respira.evaluation.event_detection_report import EVENTS
from respira.evaluation.external_validation import RECORDINGS
from respira.evaluation.protocol import Protocol, write_report
from respira.inference.detector import Detector

REPORT = Protocol(
    name="test",
    columns=("audio",),
    needs="the test needs audio",
    unit="recording",
    runs="predict",
    grouping="every recording",
    files=("metrics.json", "rows.csv"),
)


def test_every_runner_is_a_protocol_whose_report_starts_with_its_metrics() -> None:
    for protocol in (CYCLES, RECORDINGS, EVENTS, EVENT_CORPUS):
        assert protocol.files[0] == "metrics.json" and len(set(protocol.files)) == len(protocol.files)
        assert all(hasattr(Detector, runs) for runs in protocol.runs.split(", ")), protocol.name
    assert (CYCLES.runs, RECORDINGS.runs, EVENTS.runs) == ("run_dataset", "predict", "detect_events")
    # the event corpus: its events as cycles, its recordings by their windows, each part's report inside
    assert EVENT_CORPUS.runs == f"{CYCLES.runs}, {RECORDINGS.runs}"
    assert EVENT_CORPUS.files == ("metrics.json", "events/", "records/")


def test_no_evaluation_but_the_protocol_writes_a_report_folder_or_its_metrics() -> None:
    """Every report goes through write_report: no other module of respira.evaluation stages a folder or
    writes its metrics JSON itself."""
    writes = re.compile(r"\b(staged_folder|write_json(_atomic)?)\(")
    folder = Path(write_report.__code__.co_filename).parent
    writers = {path.name for path in folder.glob("*.py") if writes.search(path.read_text(encoding="utf-8"))}
    assert writers == {"protocol.py"}


def test_the_metrics_may_come_from_the_files_written_before_them(tmp_path: Path) -> None:
    """A report whose metrics are read from its files (the event corpus's from its parts' reports)."""
    written: dict[str, Path] = {}

    def rows(path: Path) -> None:
        path.write_text("a\nb\n")
        written["rows"] = path

    def metrics() -> dict[str, int]:
        return {"rows": len(written["rows"].read_text().splitlines())}

    assert write_report(REPORT, tmp_path / "report", metrics, {"rows.csv": rows}) == [
        "metrics.json",
        "rows.csv",
    ]
    assert json.loads((tmp_path / "report" / "metrics.json").read_text()) == {"rows": 2}


def test_the_check_names_the_missing_column_and_what_needs_it() -> None:
    with pytest.raises(ValueError, match=r"lacks column\(s\) audio, patient_id .*the test needs audio"):
        REPORT.check(datasets.Dataset.from_dict({"other": [1]}), ("patient_id",))
    with pytest.raises(ValueError, match="the dataset is empty"):
        REPORT.check(datasets.Dataset.from_dict({"audio": []}))


def test_the_run_gives_each_recording_with_what_the_detector_returns_for_it() -> None:
    class Detector:
        sampling_rate = 4000

        def predict(self, waveform: np.ndarray, rate: int, **options) -> tuple:
            return waveform.size, rate, options

    dataset = datasets.Dataset.from_dict(
        {"audio": [{"array": np.zeros(n), "sampling_rate": 4000} for n in (3, 5)], "name": ["a", "b"]}
    )
    ran = list(REPORT.run(Detector(), dataset, "testing", lambda example: {"name": example["name"]}))
    assert [output for _, output in ran] == [(3, 4000, {"name": "a"}), (5, 4000, {"name": "b"})]


def test_the_report_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    files = write_report(REPORT, tmp_path / "report", {"score": np.float64(0.5), "nan": float("nan")},
                         {"rows.csv": lambda path: path.write_text("a\n")})  # fmt: skip
    assert files == ["metrics.json", "rows.csv"]
    assert json.loads((tmp_path / "report" / "metrics.json").read_text()) == {"nan": None, "score": 0.5}
    assert (tmp_path / "report" / "rows.csv").read_text() == "a\n"

    def fails(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_report(REPORT, tmp_path / "other", {}, {"rows.csv": fails})
    assert not any(path.name.startswith((".other", "other")) for path in tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"protocol test: no writer for rows\.csv"):
        write_report(REPORT, tmp_path / "third", {}, {})
    assert not (tmp_path / "third").exists()


def test_a_report_whose_files_hold_its_scores_has_no_metrics_file(tmp_path: Path) -> None:
    board = Protocol("board", (), "", "recording", "embed", "patients", ("rows.csv",))
    written = write_report(board, tmp_path / "board", None, {"rows.csv": lambda path: path.write_text("a\n")})
    assert written == ["rows.csv"] and sorted(p.name for p in (tmp_path / "board").iterdir()) == [
        ".respira-written", "rows.csv",
    ]  # fmt: skip
    with pytest.raises(FileExistsError):
        write_report(board, tmp_path / "board", None, {"rows.csv": print}, overwrite=False)

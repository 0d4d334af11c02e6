"""respira.screening.runner: rows of good and bad recordings, resuming after a crash, two processes."""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from respira.cli import main
from respira.inference import streaming
from respira.inference.detector import Detector
from respira.screening import open_source, screen
from respira.screening import runner as screening_run
from respira.screening.runner import screen_rows

from ..forked import exit_status, fork_command, fork_launch
from .conftest import BAD, GOOD, ONE_PROCESS, write_archive

REPOSITORY = Path(__file__).resolve().parents[2]
OPTIONS = {"window": 4.0}


def _screen(detector: Detector, archive: Path, out: Path, **kwargs):
    return screen(detector, open_source(str(archive)), out, options=OPTIONS, state=ONE_PROCESS, **kwargs)


def _table(out: Path, name: str = "recordings") -> pd.DataFrame:
    table = pd.read_parquet(out / f"{name}.parquet")
    keys = ["path", "onset", "type"] if name == "events" else ["path"]
    return table.sort_values(keys).reset_index(drop=True)


def test_rows_hold_the_detectors_verdicts_events_and_one_line_reasons(
    detector_dir: Path, archive: Path, tmp_path: Path
) -> None:
    detector = Detector.from_pretrained(detector_dir, device="cpu")
    summary = _screen(detector, archive, tmp_path / "out", events=True, chunk_size=4)
    assert (summary.done, summary.failed, summary.skipped) == (GOOD, len(BAD), 0)
    table = _table(tmp_path / "out").set_index("path")
    reasons = {Path(path).name: error for path, error in table["error"].dropna().items()}
    assert set(reasons) == BAD
    assert reasons["broken.wav"].startswith("cannot be decoded as audio")
    assert reasons["empty.wav"] == "holds no audio samples (empty recording)"
    assert "10 samples" in reasons["short.wav"] and str(archive) not in reasons["short.wav"]
    events = _table(tmp_path / "out", "events")
    for path in sorted(table.index[table["error"].isna()]):
        expected = detector.predict_file(path)
        row = table.loc[path]
        # batched with other recordings' windows: equal to the last float bits
        assert row["verdict"] == expected.label
        assert (row["crackle"], row["wheeze"]) == pytest.approx((expected.crackle, expected.wheeze), abs=1e-6)
        info = sf.info(path)
        assert (row["duration"], row["sampling_rate"], row["channels"]) == (
            info.duration,
            8000,
            info.channels,
        )
        assert row["size"] == Path(path).stat().st_size
        found = events[events["path"] == path].drop(columns="path").to_dict("records")
        rows = detector.detect_events(path).to_rows()
        expected_events = [{k: v for k, v in event.items() if k != "file"} for event in rows]
        assert [{**e, "confidence": None} for e in found] == [
            {**e, "confidence": None} for e in expected_events
        ]
        assert [e["confidence"] for e in found] == pytest.approx([e["confidence"] for e in expected_events])
    assert summary.audio_seconds == pytest.approx(table["duration"][table["error"].isna()].sum())


def test_a_recording_too_long_for_max_windows_is_refused_before_it_is_decoded(
    detector_dir: Path, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = Detector.from_pretrained(detector_dir, device="cpu", max_windows=2)
    decoded = []
    monkeypatch.setattr(streaming, "read_audio", lambda data, *a, **k: decoded.append(data))
    recording = next(r for r in open_source(str(archive)).share() if r.path.endswith("r005.wav"))
    row, _ = next(screen_rows(detector, [recording], prefetch=0))
    assert row["error"] == (
        "4 s windows every 2 s over 8.0 s of audio make 3 windows, more than the limit of 2 per "
        "recording; use a longer hop (or raise max_windows)"
    )
    assert decoded == [] and row["duration"] == 8.0


def test_a_crashed_run_resumes_to_the_uninterrupted_result(
    detector_dir: Path, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = Detector.from_pretrained(detector_dir, device="cpu")
    _screen(detector, archive, tmp_path / "whole", events=True, chunk_size=2)
    real = screening_run.screen_rows

    def crashing(*args, **kwargs):
        for number, rows in enumerate(real(*args, **kwargs), start=1):
            if number == 6:  # two chunks of two written, the third half done
                raise RuntimeError("power cut")
            yield rows

    monkeypatch.setattr(screening_run, "screen_rows", crashing)
    out = tmp_path / "resumed"
    with pytest.raises(RuntimeError, match="power cut"):
        _screen(detector, archive, out, events=True, chunk_size=2)
    monkeypatch.setattr(screening_run, "screen_rows", real)
    assert len(list((out / "chunks").glob("recordings-*.parquet"))) == 2
    (out / "chunks" / ".recordings-0001-0000-000003.parquet.1-ab.partial").write_bytes(b"half a chunk")
    (out / "chunks" / "events-0001-0000-000003.parquet").write_bytes(b"killed before its recordings")
    summary = _screen(detector, archive, out, events=True, chunk_size=2)
    assert (summary.skipped, summary.done + summary.failed) == (4, GOOD + len(BAD) - 4)
    for name in ("recordings", "events"):
        pd.testing.assert_frame_equal(_table(out, name), _table(tmp_path / "whole", name))
    assert not list((out / "chunks").glob(".*.partial"))
    again = _screen(detector, archive, out, events=True, chunk_size=2)
    assert (again.done, again.failed, again.skipped) == (0, 0, GOOD + len(BAD))


def test_a_changed_file_is_screened_again_and_its_new_row_replaces_the_old(
    detector_dir: Path, archive: Path, tmp_path: Path
) -> None:
    detector = Detector.from_pretrained(detector_dir, device="cpu")
    out = tmp_path / "out"
    _screen(detector, archive, out)
    (archive / "broken.wav").write_bytes((archive / "r000.wav").read_bytes())
    summary = _screen(detector, archive, out)
    assert (summary.done, summary.skipped) == (1, GOOD + len(BAD) - 1)
    table = _table(out).set_index("path")
    assert len(table) == GOOD + len(BAD)
    assert pd.isna(table.loc[str(archive / "broken.wav"), "error"])
    assert table.loc[str(archive / "broken.wav"), "crackle"] == pytest.approx(
        table.loc[str(archive / "r000.wav"), "crackle"], abs=1e-6
    )


def test_two_accelerate_processes_give_the_rows_of_one(
    detector_dir: Path, archive: Path, tmp_path: Path
) -> None:
    common = [str(detector_dir), str(archive), "--events", "--chunk_size", "2", "--device", "cpu"]
    assert (
        main(["screen", *common, "--output_dir", str(tmp_path / "one")]) == 0
    )  # error rows do not fail the job
    # the two gloo processes of the recipe's launcher (`--cpu --num_processes 2` would start one), forked
    # with the environment accelerate launch gives each
    command = ["screen", *common, "--debug", "--output_dir", str(tmp_path / "two")]
    fork_launch(REPOSITORY / "recipes/accelerate/cpu_ddp.yaml", partial(main, command), tmp_path / "two.log")
    printed = (tmp_path / "two.log").read_text()
    assert "3 failed" in printed, printed[-6000:]
    chunks = {tuple(path.name.split("-")[1:3]) for path in (tmp_path / "two" / "chunks").glob("recordings-*")}
    assert chunks == {("0001", "0000"), ("0001", "0001")}  # both processes screened their share in run 1
    for name in ("recordings", "events"):
        pd.testing.assert_frame_equal(_table(tmp_path / "two", name), _table(tmp_path / "one", name))


def test_a_process_killed_with_sigkill_resumes_to_the_uninterrupted_result(
    detector_dir: Path, tmp_path: Path
) -> None:
    archive = write_archive(tmp_path / "archive", good=40)
    common = [str(detector_dir), str(archive), "--chunk_size", "3", "--device", "cpu"]
    assert main(["screen", *common, "--output_dir", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    pid = fork_command(["screen", *common, "--output_dir", str(out)], tmp_path / "killed.log")
    deadline = time.monotonic() + 300
    while not list((out / "chunks").glob("recordings-*")) and time.monotonic() < deadline:
        assert exit_status(pid, block=False) is None, (tmp_path / "killed.log").read_text()[-2000:]
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    assert exit_status(pid) == -signal.SIGKILL
    finished = len(list((out / "chunks").glob("recordings-*")))
    assert 1 <= finished < 15 and not (out / "recordings.parquet").exists()
    assert main(["screen", *common, "--output_dir", str(out)]) == 0
    pd.testing.assert_frame_equal(_table(out), _table(tmp_path / "whole"))

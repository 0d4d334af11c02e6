"""The labelling page's session and server (``respira label``), over HTTP in-process with a tiny model:
what the page is given, answers and events written at once into labels.csv and events.csv (nothing else
of the file changed), skips, progress towards fit-site's minimum, refusals in one line."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from respira import Detector
from respira.app.label_server import LabelServer
from respira.app.labelling import LabelSession
from respira.cli import main

RATE = 16000
LABELS = (
    "file,patient,crackle,wheeze,reason\n"
    "r0.wav,p1,,,most uncertain\n"
    'r1.wav,p1,,,"far, from the others"\n'
    "r2.wav,p2,1,0,\n"
    "r3.wav,p3,,,\n"
    "r4.wav,p4,,,\n"
)


def write_site(folder: Path, seconds: float = 3.0) -> Path:
    """A site folder: five noise recordings of ``seconds`` and a labels.csv, one of them labelled."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(5):
        noise = 0.1 * rng.standard_normal(int(RATE * seconds)).astype(np.float32)
        sf.write(folder / f"r{index}.wav", noise, RATE, subtype="PCM_16")
    labels = folder / "labels.csv"
    labels.write_text(LABELS, encoding="utf-8")
    return labels


@pytest.fixture
def served(run_dir: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    labels = write_site(tmp_path / "site")
    detector = Detector.from_pretrained(run_dir)
    server = LabelServer(LabelSession(labels, detector, model="tiny", minimum_units=4), port=0).start()
    try:
        yield server.url, labels
    finally:
        server.close()


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}  # the server takes nothing else
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=60) as response:
        kind = response.headers["Content-Type"]
        content = response.read()
    return json.loads(content) if kind == "application/json" else content


def test_answers_and_events_are_written_at_once(served: tuple[str, Path]) -> None:
    url, labels = served
    state = call(f"{url}api/state")
    recording = state["recording"]
    assert (recording["index"], recording["file"], recording["line"]) == (0, "r0.wav", 2)
    assert (recording["patient"], recording["reason"]) == ("p1", "most uncertain")
    assert recording["duration"] == pytest.approx(3.0)
    assert [set(window) for window in recording["windows"]] == [{"start", "end", "crackle", "wheeze"}]
    assert call(f"{url}spectrogram/0.png").startswith(b"\x89PNG")
    assert call(f"{url}audio/0.wav")[:4] == b"RIFF"
    assert b"label.js" in call(url)

    event = {"onset": 0.5, "offset": 1.25, "type": "wheeze"}
    state = call(f"{url}api/events", {"index": 0, "events": [event]})
    assert state["recording"]["events"] == [event]
    assert (labels.parent / "events.csv").read_text() == "file,onset,offset,type\nr0.wav,0.500,1.250,wheeze\n"
    state = call(f"{url}api/answer", {"index": 0, "answer": "wheeze"})
    assert state["recording"]["file"] == "r1.wav"
    assert labels.read_text() == LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,0,1,")
    state = call(f"{url}api/answer", {"index": 1, "answer": "skip"})
    # the suggested batch (rows with a reason) holds only r1: skipped, it comes back; the skip is not written
    assert state["recording"]["file"] == "r1.wav"
    assert labels.read_text() == LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,0,1,")
    call(f"{url}api/answer", {"index": 3, "answer": "normal"})
    state = call(f"{url}api/answer", {"index": 4, "answer": "poor"})
    assert state["recording"]["file"] == "r1.wav"
    progress = state["progress"]
    assert (progress["units_done"], progress["units"], progress["recordings_done"]) == (3, 4, 4)
    assert not progress["minimum_reached"]  # p4's recording is too poor: 3 patients labelled
    assert progress["lacking"] == ["1 more patient"]
    state = call(f"{url}api/answer", {"index": 1, "answer": "normal"})
    assert state["recording"] is None
    # fit-site would refuse 3 patients: the page offers no command that fails
    assert state["done"] == {
        "text": "Every recording is answered. fit-site's minimum is not reached (1 more patient): no "
        "recording is left.",
        "next": "",
    }
    assert not state["progress"]["minimum_reached"]
    folder = labels.parent.resolve()  # fit-site's output beside the recordings' folder, never in it
    assert state["progress"]["fit_site"] == (
        f"respira fit-site tiny --data_dir {folder} --output_dir {folder.parent / 'site-site-model'}"
    )
    assert labels.read_text().splitlines() == [
        "file,patient,crackle,wheeze,reason,quality",
        "r0.wav,p1,0,1,most uncertain,",
        'r1.wav,p1,0,0,"far, from the others",',
        "r2.wav,p2,1,0,,",
        "r3.wav,p3,0,0,,",
        "r4.wav,p4,,,,poor",
    ]


def test_the_minimum_is_reached_with_four_patients_normal_and_abnormal(served: tuple[str, Path]) -> None:
    url, _ = served
    for index, answer in ((0, "normal"), (1, "both"), (3, "crackle")):
        state = call(f"{url}api/answer", {"index": index, "answer": answer})
        assert not state["progress"]["minimum_reached"]
    state = call(f"{url}api/answer", {"index": 4, "answer": "normal"})
    assert state["progress"]["minimum_reached"] and state["progress"]["lacking"] == []


def test_one_progress_line_and_the_batch_done_with_the_next_command(served: tuple[str, Path]) -> None:
    """One count of patients (those fit-site counts: a recording labelled, not poor); once the rows suggest
    chose (a reason) are answered, no other row is shown: the batch is done, and the next command is
    suggest's while fit-site's minimum is not reached, fit-site's once it is."""
    url, labels = served
    folder = labels.parent
    progress = call(f"{url}api/state")["progress"]
    assert progress["line"] == (
        "1 of 4 patients labelled (1 of 5 recordings answered); fit-site needs 4 patients with a normal "
        "and an abnormal recording: 3 more patients, no normal recording yet."
    )
    call(f"{url}api/answer", {"index": 0, "answer": "normal"})  # p1 has r1 open: labelled all the same
    assert call(f"{url}api/state")["progress"]["line"].startswith("2 of 4 patients labelled (2 of 5 ")
    state = call(f"{url}api/answer", {"index": 1, "answer": "crackle"})
    assert state["recording"] is None  # r3 and r4 wait: suggest did not choose them
    assert state["progress"]["line"] == (
        "2 of 4 patients labelled (3 of 5 recordings answered); fit-site needs 4 patients with a normal "
        "and an abnormal recording: 2 more patients."
    )
    assert state["done"] == {
        "text": "The suggested batch is done; 2 other recordings were not suggested. fit-site's minimum "
        "is not reached: suggest the next batch.",
        "next": f"respira suggest tiny --data_dir {folder} --budget 2 --output {labels}",
    }
    for index, answer in ((3, "normal"), (4, "wheeze")):
        call(f"{url}api/answer", {"index": index, "answer": answer})
    state = call(f"{url}api/state")
    assert state["progress"]["line"] == (
        "4 of 4 patients labelled (5 of 5 recordings answered); fit-site's minimum (4 patients with a "
        "normal and an abnormal recording) is reached."
    )
    assert state["done"] == {"text": "Every recording is answered.", "next": state["progress"]["fit_site"]}


def test_the_spectrogram_spans_what_the_recording_holds_with_its_axis(run_dir: Path, tmp_path: Path) -> None:
    """A 4-kHz recording's spectrogram ends at 2 kHz (half its rate), a 16-kHz one's at 4 kHz (the cap):
    fewer mel bands, and the frequency ticks the page draws, placed on those bands."""
    import soundfile as sf
    from PIL import Image

    from respira.app.labelling import SPECTROGRAM_TOP, spectrogram_png, spectrogram_top

    assert (spectrogram_top(4000), spectrogram_top(16000), spectrogram_top(None)) == (2000, 4000, 4000)
    assert SPECTROGRAM_TOP == 4000
    labels = write_site(tmp_path / "site")
    noise = 0.1 * np.random.default_rng(1).standard_normal(4000 * 3).astype(np.float32)
    sf.write(labels.parent / "r0.wav", noise, 4000, subtype="PCM_16")  # 4 kHz: sound up to 2 kHz only
    session = LabelSession(labels, Detector.from_pretrained(run_dir), model="tiny", minimum_units=4)
    try:
        low = session.state()["recording"]["frequencies"]
        session.answer(0, "normal")
        high = session.state()["recording"]["frequencies"]
    finally:
        session.close()
    assert [tick["label"] for tick in low] == ["0 Hz", "500 Hz", "1 kHz", "1.5 kHz", "2 kHz"]
    assert [tick["label"] for tick in high] == ["0 Hz", "1 kHz", "2 kHz", "3 kHz", "4 kHz"]
    for ticks in (low, high):
        at = [tick["at"] for tick in ticks]
        assert at[0] == 0 and at == sorted(at) and 0.9 < at[-1] <= 1  # mel bands: 1 kHz above a quarter
        assert at[2] > 0.4 if ticks is low else at[1] > 0.3
    waveform = 0.1 * np.random.default_rng(2).standard_normal(16000 * 2)
    heights = [
        Image.open(io.BytesIO(spectrogram_png(waveform, 16000, top)[0])).height for top in (2000, 4000)
    ]
    assert heights[0] < heights[1]


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("api/answer", {"index": 0, "answer": "maybe"}, "answer 'maybe' is not one of crackle, wheeze"),
        ("api/answer", {"index": 9, "answer": "normal"}, "index must be a whole number in [0, 4], got 9"),
        (
            "api/events",
            {"index": 0, "events": [{"onset": 2, "offset": 1, "type": "crackle"}]},
            "need 0 <= onset",
        ),
        (
            "api/events",
            {"index": 0, "events": [{"onset": 0, "offset": 1, "type": "rale"}]},
            "need 0 <= onset",
        ),
    ],
)
def test_a_bad_request_is_refused_in_one_line_and_nothing_is_written(
    served: tuple[str, Path], path: str, body: dict[str, Any], expected: str
) -> None:
    url, labels = served
    with pytest.raises(urllib.error.HTTPError) as caught:
        call(f"{url}{path}", body)
    assert caught.value.code == 400
    assert expected in caught.value.read().decode()
    assert labels.read_text() == LABELS and not (labels.parent / "events.csv").exists()


def test_a_recording_that_does_not_decode_is_said_and_can_be_answered(served: tuple[str, Path]) -> None:
    url, labels = served
    (labels.parent / "r0.wav").write_bytes(b"not audio")
    state = call(f"{url}api/state")
    assert state["recording"]["file"] == "r0.wav" and "r0.wav" in state["recording"]["error"]
    assert "\n" not in state["recording"]["error"]
    state = call(f"{url}api/answer", {"index": 0, "answer": "poor"})
    assert state["recording"]["file"] == "r1.wav" and "error" not in state["recording"]


def test_events_beyond_the_recording_are_refused_before_serving(tmp_path: Path, run_dir: Path) -> None:
    labels = write_site(tmp_path / "site")
    (labels.parent / "events.csv").write_text("file,onset,offset,type\nr0.wav,2.5,3.5,crackle\n")
    detector = Detector.from_pretrained(run_dir)
    with pytest.raises(
        ValueError, match=r"events\.csv:2: offset 3\.5 is past the end of r0\.wav \(3\.000 s\)"
    ):
        LabelSession(labels, detector, model="tiny", minimum_units=4)


def test_the_command_refuses_a_missing_labels_file_in_one_line(
    tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["label", str(run_dir), str(tmp_path), "--port", "7869"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(
        f"respira label: error: no labels file {tmp_path / 'labels.csv'}: list the recordings"
    )
    assert "\n" not in error


def test_the_command_refuses_an_archive_that_is_no_folder_in_one_line(
    tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.wav").write_bytes(b"")
    for archive, problem in (
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "file.wav", "is not a folder"),
    ):
        assert main(["label", str(run_dir), str(archive), "--port", "7869"]) == 2
        error = capsys.readouterr().err.strip()
        assert error == f"respira label: error: ARCHIVE {str(archive)!r} {problem}"


def test_the_python_api_serves_the_page_in_the_background(tmp_path: Path, run_dir: Path) -> None:
    import respira

    labels = write_site(tmp_path / "site")
    server = respira.label(labels.parent, run_dir, port=0)
    try:
        state = call(f"{server.url}api/state")
        assert state["recording"]["file"] == "r0.wav"
        assert state["progress"]["fit_site"].startswith(f"respira fit-site {run_dir} --data_dir")
    finally:
        server.close()
    with pytest.raises(respira.api.OptionError, match="--prot"):
        respira.label(labels.parent, run_dir, prot=0)


# ------------------------------------------------------------------ labels.csv is the clinician's
@pytest.fixture(scope="module")
def detector(run_dir: Path) -> Detector:
    return Detector.from_pretrained(run_dir)


@pytest.fixture
def session(detector: Detector, tmp_path: Path) -> Iterator[LabelSession]:
    opened = LabelSession(write_site(tmp_path / "site"), detector, model="tiny", minimum_units=4)
    try:
        yield opened
    finally:
        opened.close()


def test_a_second_session_on_the_same_labels_is_refused_naming_the_first_until_it_closes(
    session: LabelSession, detector: Detector
) -> None:
    import os

    from respira.data.labels_csv import LabelsBusyError

    session.serving("http://127.0.0.1:7861/")
    link = session.labels_file.with_name("link.csv")  # the same file by another name: the same lock
    link.symlink_to(session.labels_file)
    for name in (session.labels_file, link):
        with pytest.raises(LabelsBusyError) as refused:
            LabelSession(name, detector, model="tiny", minimum_units=4)
        message = str(refused.value)
        assert message.startswith(f"{name} is being written by another process (pid {os.getpid()} on ")
        assert "serving http://127.0.0.1:7861/" in message and "\n" not in message
    session.answer(0, "normal")
    assert session.labels_file.read_text() == LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,0,0,")
    session.close()
    LabelSession(session.labels_file, detector, model="tiny", minimum_units=4).close()


def test_a_session_killed_leaves_no_lock_that_keeps_the_next_out(
    run_dir: Path, detector: Detector, tmp_path: Path
) -> None:
    """``respira label`` in a process of its own (a fork of this one: no start-up to pay) holds labels.csv:
    another session is refused naming its pid; killed (SIGKILL), it leaves no lock behind."""
    import os
    import signal
    import time

    from respira.data.labels_csv import LabelsBusyError
    from tests.forked import exit_status, fork_command

    labels = write_site(tmp_path / "site")
    log = tmp_path / "label.log"
    pid = fork_command(["label", str(run_dir), str(labels.parent), "--port", "0"], log)
    try:
        deadline = time.monotonic() + 120
        while "labelling " not in log.read_text():
            assert time.monotonic() < deadline, f"respira label did not serve:\n{log.read_text()}"
            time.sleep(0.02)
        with pytest.raises(LabelsBusyError, match=rf"another process \(pid {pid} on "):
            LabelSession(labels, detector, model="tiny", minimum_units=4)
    finally:
        os.kill(pid, signal.SIGKILL)
        assert exit_status(pid) == -signal.SIGKILL, log.read_text()
    LabelSession(labels, detector, model="tiny", minimum_units=4).close()


def test_a_hand_edit_is_merged_with_the_next_answer_or_refuses_it_when_on_its_row(
    session: LabelSession,
) -> None:
    from respira.app.labelling import LabelsEditedError

    labels = session.labels_file
    edited = LABELS.replace("r4.wav,p4,,,", "r4.wav,p4,1,1,heard by hand")
    labels.write_text(edited)
    assert session.answer(0, "wheeze") is None
    assert labels.read_text() == edited.replace("r0.wav,p1,,,", "r0.wav,p1,0,1,")  # merged, kept

    edited = labels.read_text().replace('"far, from the others"', "re-recorded")
    labels.write_text(edited)
    with pytest.raises(LabelsEditedError) as refused:
        session.answer(1, "crackle")
    assert str(refused.value) == "labels.csv line 3 was edited by hand since the page read it: reload"
    assert labels.read_text() == edited  # the hand edit stands
    recording = session.state()["recording"]  # the session follows the file
    assert (recording["file"], recording["reason"]) == ("r1.wav", "re-recorded")
    assert session.answer(1, "crackle") is None  # after the reload
    assert labels.read_text() == edited.replace("r1.wav,p1,,,re-recorded", "r1.wav,p1,1,0,re-recorded")

    labels.write_text("file,patient,crackle,wheeze\nr2.wav,p2,1,0\nr3.wav,p3,,\n")  # rows moved and gone
    with pytest.raises(LabelsEditedError, match=r"^labels\.csv no longer lists r0\.wav .*: reload$"):
        session.answer(0, "normal")
    assert session.answer(1, "normal") is None  # r3, now the second row
    assert labels.read_text() == "file,patient,crackle,wheeze\nr2.wav,p2,1,0\nr3.wav,p3,0,0\n"


def test_a_symlinked_labels_file_is_written_through_and_every_mode_is_kept(
    detector: Detector, tmp_path: Path
) -> None:
    import stat

    site = write_site(tmp_path / "site").parent
    store = tmp_path / "store"
    store.mkdir()
    target = store / "kept.csv"
    (site / "labels.csv").rename(target)
    target.chmod(0o600)
    (site / "labels.csv").symlink_to(target)
    session = LabelSession(site / "labels.csv", detector, model="tiny", minimum_units=4)
    try:
        session.answer(0, "both")
        assert (site / "labels.csv").is_symlink() and (site / "labels.csv").resolve() == target
        assert target.read_text() == LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,1,1,")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        events = site / "events.csv"
        session.set_events(1, [{"onset": 0.5, "offset": 1.0, "type": "crackle"}])
        assert stat.S_IMODE(events.stat().st_mode) == 0o600  # created with the labels file's mode
        events.chmod(0o640)
        session.set_events(1, [])
        assert stat.S_IMODE(events.stat().st_mode) == 0o640  # then keeps its own
        assert events.read_text() == "file,onset,offset,type\n"
    finally:
        session.close()
    assert sorted(p.name for p in store.iterdir()) == ["kept.csv"]  # no temporary file, no lock left


def test_an_answer_given_in_another_tab_meanwhile_is_told(session: LabelSession) -> None:
    shown = session.state()["recording"]  # both tabs show r0, unanswered
    assert (shown["index"], shown["answer"]) == (0, None)
    assert session.answer(0, "crackle", seen=shown["answer"]) is None  # the first tab
    told = session.answer(0, "normal", seen=shown["answer"])  # the second
    assert told == "r0.wav was answered 'crackle' in another tab; now 'normal'"
    assert session.labels_file.read_text() == LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,0,0,")
    assert session.answer(0, "normal", seen="crackle") is None  # what it saw: nothing to tell
    with pytest.raises(ValueError, match="seen 'maybe' is not one of"):
        session.answer(0, "normal", seen="maybe")


def test_saving_a_recordings_events_again_replaces_them(session: LabelSession, detector: Detector) -> None:
    """An event removed on the page stays removed: in the session, in events.csv and when read again."""
    kept = {"onset": 0.5, "offset": 1.0, "type": "crackle"}
    removed = {"onset": 1.5, "offset": 2.25, "type": "wheeze"}
    other = {"onset": 0.25, "offset": 0.75, "type": "wheeze"}
    session.set_events(3, [other])
    session.set_events(0, [kept, removed])
    session.set_events(0, [kept])
    assert session.state()["recording"]["events"] == [kept]
    events = session.labels_file.parent / "events.csv"
    assert events.read_text() == (
        "file,onset,offset,type\nr0.wav,0.500,1.000,crackle\nr3.wav,0.250,0.750,wheeze\n"
    )
    session.close()
    again = LabelSession(session.labels_file, detector, model="tiny", minimum_units=4)
    try:
        assert again.state()["recording"]["events"] == [kept]
        assert [(e.file, e.onset, e.offset, e.type) for e in again.events] == [
            ("r0.wav", 0.5, 1.0, "crackle"),
            ("r3.wav", 0.25, 0.75, "wheeze"),
        ]
    finally:
        again.close()


def test_blank_patient_cells_are_refused_not_counted_as_patients(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As suggest, fit-site and evaluate refuse them (tests/data/test_labels_table.py), before the model."""
    monkeypatch.setattr(Detector, "from_pretrained", lambda *a, **k: pytest.fail("model loaded"))
    labels = write_site(tmp_path / "site")
    labels.write_text(LABELS.replace("r3.wav,p3", "r3.wav,").replace("r4.wav,p4", "r4.wav,"))
    assert main(["label", str(run_dir), str(labels.parent), "--port", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"respira label: error: {labels}:5: file 'r3.wav' has no patient: give every row one, or drop the "
        "patient column"
    )


def test_the_page_is_told_of_another_tabs_answer_and_a_hand_edit_is_a_conflict(
    served: tuple[str, Path],
) -> None:
    """The route passes what the page saw and gives back the session's line; a hand edit of the answered row
    is 409 with its one line, the file as edited."""
    url, labels = served
    shown = call(f"{url}api/state")["recording"]
    first = call(f"{url}api/answer", {"index": shown["index"], "answer": "crackle", "seen": shown["answer"]})
    assert first["notice"] is None
    second = call(f"{url}api/answer", {"index": shown["index"], "answer": "normal", "seen": shown["answer"]})
    assert second["notice"] == "r0.wav was answered 'crackle' in another tab; now 'normal'"
    with pytest.raises(urllib.error.HTTPError) as refused:
        call(f"{url}api/answer", {"index": 1, "answer": "normal", "seen": 3})
    assert refused.value.code == 400
    edited = labels.read_text().replace('"far, from the others"', "re-recorded")
    labels.write_text(edited)
    with pytest.raises(urllib.error.HTTPError) as refused:
        call(f"{url}api/answer", {"index": 1, "answer": "crackle", "seen": None})
    assert refused.value.code == 409
    edited_line = "labels.csv line 3 was edited by hand since the page read it: reload"
    assert refused.value.read().decode() == edited_line
    assert labels.read_text() == edited


def test_a_second_label_command_is_refused_before_its_model_is_read_naming_where_the_first_serves(
    tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import respira

    labels = write_site(tmp_path / "site")
    server = respira.label(labels.parent, run_dir, port=0)
    try:
        monkeypatch.setattr(Detector, "from_pretrained", lambda *a, **k: pytest.fail("model read"))
        assert main(["label", str(run_dir), str(labels.parent), "--port", "0"]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"respira label: error: {labels} is being written by another process (pid ")
        assert f"serving {server.url}" in error and "\n" not in error
    finally:
        server.close()


# ------------------------------------------------------------------ back / change an answer, prefetch
def test_the_sessions_answers_are_listed_and_one_is_changed_through_the_writer(session: LabelSession) -> None:
    """state() lists this session's answers, newest first; state(N) shows an answered row again (nothing
    fetched ahead for it); answering it again changes only its cells, a hand edit of another row kept, and
    the list follows; a hand edit of the changed row refuses the change, as for a first answer."""
    from respira.app.labelling import MINIMUM_SHOWN_S, LabelsEditedError

    labels = session.labels_file
    state = session.state()
    assert (state["answered"], state["minimum_shown_s"]) == ([], MINIMUM_SHOWN_S)
    session.answer(0, "wheeze")
    session.answer(1, "normal")
    assert [
        (row["index"], row["file"], row["line"], row["answer"]) for row in session.state()["answered"]
    ] == [
        (1, "r1.wav", 3, "normal"),
        (0, "r0.wav", 2, "wheeze"),
    ]
    again = session.state(0)
    assert (again["recording"]["index"], again["recording"]["answer"], again["upcoming"]) == (0, "wheeze", [])
    edited = labels.read_text().replace("r4.wav,p4,,,", "r4.wav,p4,1,1,by hand")
    labels.write_text(edited)
    assert session.answer(0, "crackle", seen="wheeze") is None
    assert labels.read_text() == edited.replace("r0.wav,p1,0,1,", "r0.wav,p1,1,0,")
    assert [row["answer"] for row in session.state()["answered"]] == ["normal", "crackle"]
    edited = labels.read_text().replace("r1.wav,p1,0,0,", "r1.wav,p1,1,1,")
    labels.write_text(edited)
    with pytest.raises(LabelsEditedError, match=r"^labels\.csv line 3 was edited by hand since the page"):
        session.answer(1, "wheeze", seen="normal")
    assert labels.read_text() == edited
    assert [row["answer"] for row in session.state()["answered"]] == ["both", "crackle"]  # as the file is


def test_the_next_recordings_are_prepared_while_one_is_shown(detector: Detector, tmp_path: Path) -> None:
    """Without a suggested batch: r0 shown, the next PREFETCH open rows (r2 is answered) prepared too."""
    from respira.app.labelling import PREFETCH

    labels = write_site(tmp_path / "site")
    labels.write_text(LABELS.replace("most uncertain", "").replace('"far, from the others"', ""))
    session = LabelSession(labels, detector, model="tiny", minimum_units=4)
    try:
        state = session.state()
        assert state["recording"]["index"] == 0
        assert state["upcoming"] == [1, 3, 4][:PREFETCH]
        for at in state["upcoming"]:
            assert session.prepared(at).result().wav[:4] == b"RIFF"
        session.answer(0, "normal")
        assert session.state()["upcoming"] == [3, 4][:PREFETCH]
    finally:
        session.close()


def test_the_page_reads_an_answered_row_again_and_a_bad_index_is_refused(served: tuple[str, Path]) -> None:
    url, labels = served
    call(f"{url}api/answer", {"index": 0, "answer": "both"})
    state = call(f"{url}api/state?index=0")
    assert (state["recording"]["file"], state["recording"]["answer"]) == ("r0.wav", "both")
    assert [row["file"] for row in state["answered"]] == ["r0.wav"]
    for index in ("5", "-1", "x", "0.0", "²"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            call(f"{url}api/state?index={urllib.parse.quote(index)}")
        assert refused.value.code == 400
        assert refused.value.read().decode() == f"index must be a row of the labels file, got {index!r}"
    assert labels.read_text() == LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,1,1,")

"""The labelling page's session and server (``respira label``), over HTTP in-process with a tiny model:
what the page is given, answers and events written at once into labels.csv and events.csv (nothing else
of the file changed), skips, progress towards fit-site's minimum, refusals in one line."""

from __future__ import annotations

import json
import urllib.error
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
    assert state["recording"]["file"] == "r3.wav"  # r2 is labelled; the skip is not written
    assert labels.read_text() == LABELS.replace("r0.wav,p1,,,", "r0.wav,p1,0,1,")
    call(f"{url}api/answer", {"index": 3, "answer": "normal"})
    state = call(f"{url}api/answer", {"index": 4, "answer": "poor"})
    assert state["recording"]["file"] == "r1.wav"  # only the skipped one is left: it comes back
    progress = state["progress"]
    assert (progress["units_done"], progress["units"], progress["recordings_done"]) == (3, 4, 4)
    assert not progress["minimum_reached"]  # p4's recording is too poor: 3 patients labelled
    assert progress["lacking"] == ["3 of 4 patients labelled"]
    state = call(f"{url}api/answer", {"index": 1, "answer": "normal"})
    assert state["recording"] is None
    assert not state["progress"]["minimum_reached"]
    assert state["progress"]["fit_site"] == (
        f"respira fit-site tiny --data_dir {labels.parent} --output_dir {labels.parent / 'site-model'}"
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


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("api/answer", {"index": 0, "answer": "maybe"}, "answer 'maybe' is not one of crackle, wheeze"),
        ("api/answer", {"index": 9, "answer": "normal"}, "no recording 9"),
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

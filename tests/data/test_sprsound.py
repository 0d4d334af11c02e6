"""The SPRSound builder: hand-made tiny corpora in tmp_path, and the real sample in ../shared/sprsound.

Expected counts of the real sample are derived here from the files by a few lines of this test's own
(``os`` and ``json``), independently of :mod:`respira.data.sprsound`.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf

from respira.cli import main
from respira.data import load_sprsound, read_sprsound_events, read_sprsound_index
from respira.data.errors import CorpusCountError, CorpusError, CorpusFormatError
from respira.data.folds import patient_kfold
from respira.data.sprsound import (
    EVENT_COLUMNS,
    INDEX_COLUMNS,
    SPRSound,
    SPRSoundAnnotation,
    SPRSoundConfig,
    SPRSoundEvent,
    SPRSoundName,
    read_annotation,
)
from respira.data.text_files import ClippedCycleWarning, PartialCorpusWarning

from ..conftest import SHARED_DIR
from ..conftest import SPRSOUND_PARTS as PART_FOLDERS
from ..conftest import SPRSOUND_RATE as RATE
from ..conftest import SPRSOUND_SECONDS as SECONDS
from ..conftest import SPRSOUND_TINY as TINY
from ..conftest import write_sprsound as _corpus
from ..conftest import write_sprsound_json as _write_json
from ..conftest import write_sprsound_wav as _write_wav

# This test's own map of the event types (ICBHI class) and record labels (crackle, wheeze, normal, poor).
CLASS_OF = {  # in the challenge organisers' class-index order (their starter code's)
    "Normal": "normal",
    "Rhonchi": "wheeze",
    "Wheeze": "wheeze",
    "Stridor": "wheeze",
    "Coarse Crackle": "crackle",
    "Fine Crackle": "crackle",
    "Wheeze+Crackle": "both",
}
FLAGS_OF = {  # (crackle, wheeze, normal, poor quality), in the organisers' class-index order
    "Normal": (0, 0, 1, 0),
    "Poor Quality": (0, 0, 0, 1),
    "CAS": (0, 1, 0, 0),
    "DAS": (1, 0, 0, 0),
    "CAS & DAS": (1, 1, 0, 0),
}


def _json_path(root: Path, stem: str) -> Path:
    part = next(part for part, name, *_ in TINY if name == stem)
    return root / PART_FOLDERS[part][1] / f"{stem}.json"


def _wav_path(root: Path, stem: str) -> Path:
    part = next(part for part, name, *_ in TINY if name == stem)
    return root / PART_FOLDERS[part][0] / f"{stem}.wav"


# ----------------------------------------------------------------------------------- names and JSON
def test_names_are_parsed() -> None:
    name = SPRSoundName.parse("40686765_6.7_1_p1_3025")
    assert (name.patient_id, name.age, name.sex) == (40686765, 6.7, "F")
    assert (name.chest_location, name.location_code, name.recording_number) == ("left posterior", "p1", 3025)
    assert SPRSoundName.parse("7_12_0_p4_1").sex == "M"
    assert SPRSoundName.parse("7_12_0_p4_1").chest_location == "right lateral"
    assert SPRSoundName.parse("7_12_0_p2_1").chest_location == "left lateral"
    assert SPRSoundName.parse("7_12_0_p3_1").chest_location == "right posterior"


@pytest.mark.parametrize(
    ("stem", "message"),
    [
        ("1_6.7_2_p1_3", "sex '2' is not 0 (male) or 1 (female)"),
        ("1_six_0_p1_3", "age 'six' is not a number of years"),
        ("1_6.7_0_p5_3", "location 'p5' is not p1"),
        ("x1_6.7_0_p1_3", "patient 'x1' is not a whole number"),
        ("1_6.7_0_p1_3b", "recording '3b' is not a whole number"),
        ("1_6.7_0_p1", "expected 5 '_'-separated fields"),
    ],
)
def test_a_bad_name_is_one_line_naming_the_field(stem: str, message: str) -> None:
    with pytest.raises(CorpusError, match=re.escape(message)) as caught:
        SPRSoundName.parse(stem)
    assert "\n" not in str(caught.value)


def test_both_key_spellings_and_both_time_forms_read_the_same(tmp_path: Path) -> None:
    events = [(342, 2515, "Fine Crackle"), (2557, 3776.5, "Normal")]
    _write_json(tmp_path / "a.json", "DAS", events, "strings")
    _write_json(tmp_path / "b.json", "DAS", events, "numbers")
    expected = SPRSoundAnnotation(
        "DAS", (SPRSoundEvent(0.342, 2.515, "Fine Crackle"), SPRSoundEvent(2.557, 3.7765, "Normal"))
    )
    for name in ("a.json", "b.json"):
        assert read_annotation(tmp_path / name) == expected, name
    assert expected.flags == {"crackle": 1, "wheeze": 0, "normal": 0, "poor_quality": 0}
    assert json.loads((tmp_path / "a.json").read_text())["event_annotation"][0]["start"] == "342"
    assert "recording_annotation" in json.loads((tmp_path / "b.json").read_text())
    both = {"record_annotation": "CAS", "recording_annotation": "CAS", "event_annotation": []}
    (tmp_path / "c.json").write_text(json.dumps(both))
    assert read_annotation(tmp_path / "c.json") == SPRSoundAnnotation("CAS", ())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"record_annotation": "DAS", "event_annotation": [{"start": "1", "end": "5", "type": "Crackles"}]}',
         "event 1: unknown type 'Crackles'"),
        ('{"record_annotation": "DAS", "event_annotation": [{"start": "1", "end": "5", "type": "Normal"}, '
         '{"start": "9", "end": "7", "type": "Normal"}]}',
         "event 2: end '7' ms is not after start '9' ms (an empty or inverted event)"),
        ('{"record_annotation": "DAS", "event_annotation": [{"start": 5, "end": 5, "type": "Normal"}]}',
         "event 1: end 5 ms is not after start 5 ms"),
        ('{"record_annotation": "DAS", "event_annotation": [{"start": "1", "end": "5", "type": "Normal"}, '
         '{"start": "1", "end": "5", "type": "Normal"}, {"start": "1,5", "end": "9", "type": "Wheeze"}]}',
         "event 3: start '1,5' is not a number of milliseconds"),
        ('{"record_annotation": "DAS", "event_annotation": [{"start": -3, "end": 5, "type": "Normal"}]}',
         "event 1: start -3 ms is negative"),
        ('{"record_annotation": "Crackle", "event_annotation": []}', "unknown record label 'Crackle'"),
        ('{"event_annotation": []}', "no record label"),
        ('{"record_annotation": "Normal", "event_annotation": [{"start": 1, "end": 5}]}',
         "event 1: expected an object with start, end and type"),
        ('{"record_annotation": "Normal",\n "event_annotation": [}', "2: not valid JSON (line 2, column "),
    ],
)  # fmt: skip
def test_a_bad_annotation_is_one_line_naming_file_and_event(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "101_6.7_1_p1_11.json"
    path.write_text(content)
    with pytest.raises(CorpusFormatError) as caught:
        read_annotation(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:") and message in text, text
    assert "\n" not in text and caught.value.path == path and isinstance(caught.value, CorpusFormatError)


# ------------------------------------------------------------------------------------ tiny corpora
def test_index_and_events_read_names_and_json_only(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    for path in root.rglob("*.wav"):
        path.write_bytes(b"not audio: the index must not decode it")
    index = read_sprsound_index(root)
    assert tuple(index.columns) == INDEX_COLUMNS
    rows = {row["recording"]: row for row in index.to_dict("records")}
    assert set(rows) == {stem for _, stem, *_ in TINY}
    for part, stem, label, events, _ in TINY:
        row = rows[stem]
        assert (row["official_part"], row["record_label"], row["n_events"]) == (part, label, len(events))
        flags = (row["crackle"], row["wheeze"], row["normal"], row["poor_quality"])
        assert flags == FLAGS_OF[label], stem
        assert row["path"] == str(_wav_path(root, stem))
    assert rows["101_6.7_1_p2_12"]["chest_location"] == "left lateral"
    assert (rows["102_0.4_0_p3_21"]["age"], rows["102_0.4_0_p3_21"]["sex"]) == (0.4, "M")
    table = read_sprsound_events(root)
    assert tuple(table.columns) == EVENT_COLUMNS
    expected = [
        (stem, number, start / 1000, end / 1000, kind, CLASS_OF[kind])
        for _, stem, _, events, _ in TINY
        for number, (start, end, kind) in enumerate(events, start=1)
    ]
    got = table[["recording", "event_index", "start", "end", "event_type", "label"]]
    assert sorted(got.itertuples(index=False, name=None)) == sorted(expected)
    both = table[table["event_type"] == "Wheeze+Crackle"]
    assert (both["crackle"].tolist(), both["wheeze"].tolist()) == ([1], [1])
    assert table[table["label"] == "wheeze"][["crackle", "wheeze"]].to_numpy().tolist() == [[0, 1]] * 3


def test_a_bad_file_name_names_the_file(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    _write_wav(root / "train_wav" / "106_6.7_3_p1_61.wav")
    _write_json(root / "train_json" / "106_6.7_3_p1_61.json", "Normal", [(0, 100, "Normal")])
    with pytest.raises(CorpusFormatError, match=r"sex '3' is not 0") as caught:
        read_sprsound_index(root)
    assert caught.value.path == root / "train_wav" / "106_6.7_3_p1_61.wav"
    assert str(caught.value).startswith(f"{root / 'train_wav' / '106_6.7_3_p1_61.wav'}: ")


def test_a_bad_event_stops_the_build_naming_file_and_event(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    bad = _json_path(root, "105_8_1_p4_51")
    _write_json(bad, "CAS", [(300, 1700, "Rhonchi"), (1800, 1750, "Wheeze")])
    with pytest.raises(CorpusFormatError, match=re.escape(f"{bad}: event 2: end '1750' ms is not after")):
        load_sprsound(root, sampling_rate=RATE, cache_dir=tmp_path / "cache")


def test_missing_halves_are_left_out_with_one_warning(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    _json_path(root, "104_3.5_0_p1_41").unlink()
    _write_json(root / "train_json" / "107_1_0_p1_71.json", "Normal", [(0, 100, "Normal")])
    (root / "train_wav" / "._101_6.7_1_p1_11.wav").write_bytes(b"macOS resource fork")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = read_sprsound_index(root)
    partial = [w for w in caught if issubclass(w.category, PartialCorpusWarning)]
    assert len(partial) == 1 and len(caught) == 1
    message = str(partial[0].message)
    assert "1 audio file(s) without their .json annotation and 1 .json annotation(s) without their .wav" in (
        message
    )
    assert "first: test_wav/104_3.5_0_p1_41.wav" in message
    assert len(index) == len(TINY) - 1
    assert not {"104_3.5_0_p1_41", "107_1_0_p1_71"} & set(index["recording"])


def test_a_patient_of_inter_test_in_another_part_is_an_error(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    _write_wav(root / "train_wav" / "104_3.5_0_p2_42.wav")
    _write_json(root / "train_json" / "104_3.5_0_p2_42.json", "Normal", [(0, 100, "Normal")])
    with pytest.raises(CorpusCountError, match=r"^SPRSound patient 104 has recordings in the official inter"):
        read_sprsound_index(root)


def test_locate_finds_a_nested_copy_and_refuses_a_folder_without_the_layout(tmp_path: Path) -> None:
    _corpus(tmp_path / "download" / "SPRSound-main")
    assert len(read_sprsound_index(tmp_path / "download")) == len(TINY)
    (tmp_path / "empty" / "train_wav").mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"^no SPRSound layout \(train_wav/ with train_json/"):
        read_sprsound_index(tmp_path / "empty")
    with pytest.raises(FileNotFoundError):
        read_sprsound_index(tmp_path / "missing")


def test_parts_are_read_alone_and_each_one_asked_for_is_required(tmp_path: Path) -> None:
    """``parts``: the other parts are not read (an unreadable train recording, an unpaired train annotation:
    neither fails nor warns); a part asked for but absent is one line naming the folder and what it lacks."""
    root = _corpus(tmp_path / "sprsound")
    _wav_path(root, "101_6.7_1_p1_11").write_bytes(b"not audio")
    _write_json(root / "train_json" / "107_1_0_p1_71.json", "Normal", [(0, 100, "Normal")])
    with warnings.catch_warnings(record=True) as caught:  # test_wav/ holds intra_test's recording too
        warnings.simplefilter("always")
        built = load_sprsound(
            root, parts=["inter_test", "intra_test"], sampling_rate=RATE, cache_dir=tmp_path
        )
        inter = load_sprsound(root, parts=["inter_test"], config_name="recordings", cache_dir=tmp_path)
    assert not [w for w in caught if issubclass(w.category, PartialCorpusWarning)]
    assert list(built) == ["inter_test", "intra_test"]
    assert sum(map(len, built.values())) == sum(
        len(events) for part, _, _, events, _ in TINY if part != "train"
    )
    assert sorted(inter["inter_test"]["recording"]) == ["104_3.5_0_p1_41", "105_8_1_p4_51"]
    for path in (root / "train_wav").iterdir():
        path.unlink()
    with pytest.raises(CorpusError, match=f"^{re.escape(str(root))} has no SPRSound train part: no .wav in "
                       r"train_wav/ has its .json in train_json/$"):  # fmt: skip
        load_sprsound(root, parts=["train", "inter_test"], cache_dir=tmp_path)
    (root / "train_wav").rmdir()
    with pytest.raises(CorpusError, match=r"has no SPRSound train part: train_wav/ missing$"):
        load_sprsound(root, parts=["train"], cache_dir=tmp_path)
    with pytest.raises(
        ValueError, match=r"^parts: a list of SPRSound's parts \(train, inter_test, intra_test\), not 'test'$"
    ):
        load_sprsound(root, parts="test", cache_dir=tmp_path)
    for wrong in ([], 5):  # nothing to read, or not a list: the same line, no traceback
        shown = re.escape(repr(wrong))
        with pytest.raises(ValueError, match=rf"^parts: a list of SPRSound's parts .*, not {shown}$"):
            load_sprsound(root, parts=wrong, cache_dir=tmp_path)


def _decoded(row: dict) -> np.ndarray:
    return sf.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32")[0]


def test_events_config_cuts_each_event_from_its_recording(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    built = load_sprsound(root, sampling_rate=RATE, cache_dir=tmp_path / "cache")
    assert list(built) == ["train", "inter_test", "intra_test"]
    first = built["train"]
    assert first.column_names == [
        "audio", "recording", "patient_id", "age", "sex", "chest_location", "official_part", "device",
        "record_label", "event_index", "start", "end", "event_type", "label", "crackle", "wheeze",
    ]  # fmt: skip
    assert first.features["event_type"].names == list(CLASS_OF)
    assert first.features["label"].names == ["normal", "crackle", "wheeze", "both"]
    expected = {
        (stem, number): (part, start, end, kind)
        for part, stem, _, events, _ in TINY
        for number, (start, end, kind) in enumerate(events, start=1)
    }
    seen = set()
    for split, dataset in built.items():
        part = dataset.cast_column("audio", datasets.Audio(decode=False))
        for row in part:
            key = (row["recording"], row["event_index"])
            official, start, end, kind = expected[key]
            assert (split, row["official_part"], row["device"]) == (official, official, "Yunting II")
            assert (row["start"], row["end"]) == (start / 1000, end / 1000)
            assert part.features["event_type"].int2str(row["event_type"]) == kind
            assert part.features["label"].int2str(row["label"]) == CLASS_OF[kind]
            segment = _decoded(row)
            first_sample, stop = round(start / 1000 * RATE), round(end / 1000 * RATE)
            assert len(segment) == stop - first_sample, key
            source = sf.read(_wav_path(root, row["recording"]), dtype="float32")[0]
            np.testing.assert_allclose(segment, source[first_sample:stop], atol=1e-6)
            seen.add(key)
    assert seen == set(expected)  # the Poor Quality recording has no event, so no example


def test_recordings_config_keeps_the_record_labels_and_event_lists(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    built = load_sprsound(root, config_name="recordings", sampling_rate=16000, cache_dir=tmp_path / "c")
    part = built["train"]
    assert part.column_names == [
        "audio", "recording", "patient_id", "age", "sex", "chest_location", "official_part", "device",
        "record_label", "crackle", "wheeze", "normal", "poor_quality", "events",
    ]  # fmt: skip
    labels, types = part.features["record_label"], part.features["events"].feature["type"]
    assert labels.names == list(FLAGS_OF)
    rows = {
        row["recording"]: row
        for split in built.values()
        for row in split.cast_column("audio", datasets.Audio(decode=False))
    }
    assert len(rows) == len(TINY)
    for _, stem, label, events, _ in TINY:
        row = rows[stem]
        assert labels.int2str(row["record_label"]) == label
        assert (row["crackle"], row["wheeze"], row["normal"], row["poor_quality"]) == FLAGS_OF[label]
        spans = [(e["start"], e["end"], types.int2str(e["type"])) for e in row["events"]]
        assert spans == [(start / 1000, end / 1000, kind) for start, end, kind in events]
        assert len(_decoded(row)) == round(SECONDS * 16000)


def test_an_event_past_the_audio_is_clipped_with_one_warning(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    late = _json_path(root, "101_6.7_1_p1_11")
    _write_json(late, "Normal", [(100, 900, "Normal"), (1500, 2600, "Normal"), (2100, 2500, "Normal")])
    _write_json(_json_path(root, "105_8_1_p4_51"), "CAS", [(300, 2200, "Rhonchi")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = load_sprsound(root, sampling_rate=RATE, cache_dir=tmp_path / "cache")
    clipped = [w for w in caught if issubclass(w.category, ClippedCycleWarning)]
    assert len(clipped) == 1, [str(w.message) for w in caught]
    message = str(clipped[0].message)
    assert "3 SPRSound event(s) end after their recording: 2 clipped to its end, 1 starting" in message
    assert f"first: {late} event 2 (1.5-2.6 s, audio 2.000 s)" in message
    rows = {(r["recording"], r["event_index"]): r for r in built["train"].remove_columns("audio")}
    assert rows[("101_6.7_1_p1_11", 2)]["end"] == SECONDS and ("101_6.7_1_p1_11", 3) not in rows
    segment = built["train"].filter(lambda r: r["recording"] == "101_6.7_1_p1_11" and r["event_index"] == 2)
    assert segment[0]["audio"].get_all_samples().data.shape[-1] == round((SECONDS - 1.5) * RATE)


def test_patient_split_keeps_each_patient_on_one_side(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    options = {"split_strategy": "patient", "patient_split_fractions": "0.6,0.2,0.2", "seed": 1}
    recordings = load_sprsound(
        root, config_name="recordings", sampling_rate=RATE, cache_dir=tmp_path / "cache", **options
    )
    assert list(recordings) == ["train", "validation", "test"]
    patients = {split: set(part["patient_id"]) for split, part in recordings.items()}
    assert all(patients.values())
    assert not (patients["train"] & patients["validation"] or patients["train"] & patients["test"])
    assert not patients["validation"] & patients["test"]
    assert sum(len(part) for part in recordings.values()) == len(TINY)
    assert set().union(*patients.values()) == {101, 102, 103, 104, 105}
    events = load_sprsound(root, sampling_rate=RATE, cache_dir=tmp_path / "cache", **options)
    assert {split: set(part["patient_id"]) for split, part in events.items()} == patients  # same split
    parts = {split: set(part["official_part"]) for split, part in recordings.items()}
    assert set().union(*parts.values()) == {"train", "inter_test", "intra_test"}  # kept as a column
    index = read_sprsound_index(root)
    folds = patient_kfold(index.assign(label=index["record_label"]), 2, seed=0, require_all=None)
    index = index.assign(fold=folds.to_numpy())
    assert index.groupby("patient_id")["fold"].nunique().max() == 1 and set(folds) == {0, 1}


def test_options_are_checked_before_any_build(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    with pytest.raises(ValueError, match=r"^split_strategy must be one of official, patient, got 'random'$"):
        SPRSoundConfig(name="events", split_strategy="random")
    with pytest.raises(ValueError, match=r"^patient_split_fractions must sum to 1, got 0.5,0.5,0.5$"):
        SPRSound(data_dir=root, patient_split_fractions="0.5,0.5,0.5")
    with pytest.raises(ValueError, match=r"patient_split_fractions must be three numbers"):
        SPRSoundConfig(name="events", patient_split_fractions="0.5,0.5")
    with pytest.raises(TypeError, match=r"unknown option\(s\) 'validation_size'"):
        load_sprsound(root, validation_size=0.1)
    with pytest.raises(ValueError, match="Nyquist"):
        SPRSound(data_dir=root, sampling_rate=8000, lowpass_cutoff=4000.0)
    with pytest.raises(ValueError, match="pass data_dir"):
        SPRSound()
    fractions = SPRSound(data_dir=root, patient_split_fractions="0.7,0.1,0.2").config.patient_split_fractions
    assert fractions == (0.7, 0.1, 0.2)


def test_the_cache_follows_the_json_files(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "sprsound")
    first = load_sprsound(root, sampling_rate=RATE, cache_dir=tmp_path / "cache")["inter_test"]
    assert sorted(first.features["event_type"].int2str(first["event_type"])) == ["Normal", "Rhonchi"]
    _write_json(_json_path(root, "105_8_1_p4_51"), "CAS", [(300, 1700, "Stridor")])
    second = load_sprsound(root, sampling_rate=RATE, cache_dir=tmp_path / "cache")["inter_test"]
    assert sorted(second.features["event_type"].int2str(second["event_type"])) == ["Normal", "Stridor"]
    streamed = load_sprsound(root, sampling_rate=RATE, streaming=True)["inter_test"]
    assert [row["event_index"] for row in streamed] == [1, 1]


def test_prepare_writes_a_card_of_its_splits(tmp_path: Path, capsys) -> None:
    root = _corpus(tmp_path / "sprsound")
    output = tmp_path / "prepared"
    arguments = ["prepare", "--dataset", "sprsound", "--data_dir", str(root), "--sampling_rate", "8000"]
    assert main([*arguments, "--output_dir", str(output), "--cache_dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    assert "SPRSOUND 'events' dataset ready" in printed
    card = (output / "README.md").read_text()
    assert "| train | 7 | 4 | 3 | 2 | 2 | 2 | 1 | train 4 |" in card  # events, recordings, patients, classes
    assert "| inter_test | 2 | 2 | 2 | 1 | 0 | 1 | 0 | inter_test 2 |" in card
    assert "This build holds 7 recordings of 5 patients, 10 annotated events." in card
    assert "then cut into its annotated events (no padding), one example per event" in card
    assert "`inter_test`: the official test recordings of patients absent from the training part" in card
    assert "license: gpl-3.0" in card and "@article{zhang2022sprsound," in card
    reloaded = datasets.load_dataset(str(output), "events", cache_dir=str(tmp_path / "pq"))
    assert {split: len(part) for split, part in reloaded.items()} == {
        "train": 7,
        "inter_test": 2,
        "intra_test": 1,
    }


# ------------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def shared_sprsound() -> Path:
    """The real SPRSound sample in ../shared/sprsound (skips when absent, as on a user's machine)."""
    path = SHARED_DIR / "sprsound"
    if not path.is_dir():
        pytest.skip(f"real SPRSound data not found at {path} (../shared is only present on project machines)")
    return path


@pytest.fixture(scope="module")
def expected(shared_sprsound: Path) -> dict:
    """This test's own reading of the sample's folders and JSON files."""
    facts: dict = {"parts": Counter(), "types": Counter(), "labels": Counter(), "events": Counter()}
    facts["patients"] = defaultdict(set)
    for part, (_, notes) in PART_FOLDERS.items():
        for name in sorted(os.listdir(shared_sprsound / notes)):  # noqa: PTH208
            data = json.loads((shared_sprsound / notes / name).read_text())
            facts["parts"][part] += 1
            facts["labels"][data["record_annotation"]] += 1
            facts["types"].update(event["type"] for event in data["event_annotation"])
            facts["events"][part] += len(data["event_annotation"])
            facts["patients"][part].add(int(name.split("_")[0]))
    return facts


@pytest.mark.real_data
def test_real_index_and_events_match_the_files(shared_sprsound: Path, expected: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete sample: nothing left out, nothing odd
        index = read_sprsound_index(shared_sprsound)
        events = read_sprsound_events(shared_sprsound)
    assert len(index) == sum(expected["parts"].values()) > 0
    assert Counter(index["official_part"]) == expected["parts"]
    assert Counter(index["record_label"]) == expected["labels"]
    patients = set().union(*expected["patients"].values())
    assert index["patient_id"].nunique() == len(patients)
    for part, members in expected["patients"].items():
        assert set(index.loc[index["official_part"] == part, "patient_id"]) == members, part
    assert not expected["patients"]["inter_test"] & (
        expected["patients"]["train"] | expected["patients"]["intra_test"]
    )
    for position, flag in enumerate(("crackle", "wheeze", "normal", "poor_quality")):
        total = sum(n * FLAGS_OF[label][position] for label, n in expected["labels"].items())
        assert index[flag].sum() == total, flag
    assert len(events) == index["n_events"].sum() == sum(expected["types"].values())
    assert Counter(events["event_type"]) == expected["types"]
    classes = Counter()
    for kind, n in expected["types"].items():
        classes[CLASS_OF[kind]] += n
    assert Counter(events["label"]) == classes
    assert (events["end"] > events["start"]).all() and (events["start"] >= 0).all()


@pytest.mark.real_data
def test_real_recordings_build_matches_the_files(
    shared_sprsound: Path, expected: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = tmp_path_factory.mktemp("sprsound_cache")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClippedCycleWarning)
        built = load_sprsound(shared_sprsound, config_name="recordings", sampling_rate=RATE, cache_dir=cache)
    assert {split: len(part) for split, part in built.items()} == dict(expected["parts"])
    names = built["train"].features["record_label"]
    labels, events = Counter(), Counter()
    for split, part in built.items():
        assert set(part["patient_id"]) == expected["patients"][split], split
        assert set(part["device"]) == {"Yunting II"}
        labels.update(names.int2str(part["record_label"]))
        events[split] = sum(len(spans) for spans in part["events"])
    assert labels == expected["labels"] and events == expected["events"]
    raw = built["inter_test"].cast_column("audio", datasets.Audio(decode=False))
    for row in raw.select(range(3)):
        stored = sf.info(io.BytesIO(row["audio"]["bytes"]))
        source = sf.info(shared_sprsound / "test_wav" / f"{row['recording']}.wav")
        assert (stored.samplerate, stored.frames) == (RATE, source.frames)

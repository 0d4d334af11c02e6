"""The KAUH builder: the real recordings in ../shared/kauh, and synthetic edge cases in tmp_path.

Expected counts and labels of the real sample are derived here from the file names by a parser of
this test's own (a few lines of string handling), independently of :mod:`respira.data.kauh`.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf
import soxr

from respira.data import load_kauh
from respira.data.errors import CorpusCountError, CorpusFormatError
from respira.data.kauh import KAUH, KAUHName, KAUHWarning, normalise_diagnosis, parse_sound, read_kauh_index

RATE = 16000

# The diagnosis spellings of the sample, mapped by hand (lower-cased, outer spaces stripped).
EXPECTED_DIAGNOSES = {
    "asthma": "Asthma",
    "heart failure": "Heart failure",
    "copd": "COPD",
    "n": "Healthy",
    "bron": "Bronchiectasis",
    "lung fibrosis": "Lung fibrosis",
    "pneumonia": "Pneumonia",
    "plueral effusion": "Pleural effusion",
    "asthma and lung fibrosis": "Asthma + Lung fibrosis",
    "heart failure + copd": "Heart failure + COPD",
    "heart failure + lung fibrosis": "Heart failure + Lung fibrosis",
}


def _labels_from_name(file_name: str) -> dict:
    """This test's own reading of a KAUH file name."""
    match = re.fullmatch(r"([BDE])P(\d+)_(.+)\.wav", file_name)
    assert match, file_name
    diagnosis, sound, location, age, sex = match.group(3).split(",")
    tokens = sound.split()
    return {
        "recording": file_name[: -len(".wav")],
        "filter_mode": {"B": "bell", "D": "diaphragm", "E": "extended"}[match.group(1)],
        "patient_id": int(match.group(2)),
        "diagnosis": EXPECTED_DIAGNOSES[diagnosis.strip().lower()],
        "crackle": int("C" in tokens or "Crep" in tokens),
        "wheeze": int("W" in tokens),
        "normal": int("N" in tokens),
        "chest_location": " ".join(location.split()),
        "age": float(age),
        "sex": sex.strip(),
    }


@pytest.fixture(scope="module")
def expected(shared_kauh: Path) -> dict[str, dict]:
    return {
        labels["recording"]: labels
        for labels in map(_labels_from_name, sorted(p.name for p in shared_kauh.glob("*.wav")))
    }


@pytest.fixture(scope="module")
def built(shared_kauh: Path, tmp_path_factory: pytest.TempPathFactory) -> datasets.Dataset:
    cache = tmp_path_factory.mktemp("kauh_cache")
    dataset = load_kauh(shared_kauh, sampling_rate=RATE, cache_dir=cache)
    assert list(dataset) == ["test"]
    return dataset["test"]


# ---------------------------------------------------------------------------------------- real data
@pytest.mark.real_data
def test_real_counts_and_labels_match_the_file_names(built: datasets.Dataset, expected: dict) -> None:
    assert len(built) == len(expected) > 0
    rows = {row["recording"]: row for row in built.remove_columns("audio")}
    assert set(rows) == set(expected)
    for recording, labels in expected.items():
        row = rows[recording]
        assert {key: row[key] for key in labels} == labels, recording
    # every filter mode holds the same patients, once each (the corpus' structure)
    per_mode = Counter(labels["filter_mode"] for labels in expected.values())
    patients = {labels["patient_id"] for labels in expected.values()}
    assert per_mode == dict.fromkeys(("bell", "diaphragm", "extended"), len(patients))
    assert Counter(built["filter_mode"]) == per_mode
    for flag in ("crackle", "wheeze", "normal"):
        assert sum(built[flag]) == sum(labels[flag] for labels in expected.values()), flag
    # a normal recording has neither crackles nor wheezes
    assert not any(r["normal"] and (r["crackle"] or r["wheeze"]) for r in rows.values())


@pytest.mark.real_data
def test_real_recordings_have_their_duration_at_the_target_rate(
    built: datasets.Dataset, shared_kauh: Path
) -> None:
    raw = built.cast_column("audio", datasets.Audio(decode=False))
    for row in raw:
        info = sf.info(shared_kauh / f"{row['recording']}.wav")
        stored = sf.info(io.BytesIO(row["audio"]["bytes"]))
        assert stored.samplerate == RATE and stored.channels == 1
        assert stored.frames == round(info.frames * RATE / info.samplerate), row["recording"]
    first = raw[0]
    source, rate = sf.read(shared_kauh / f"{first['recording']}.wav", dtype="float32")
    stored, _ = sf.read(io.BytesIO(first["audio"]["bytes"]), dtype="float32")
    reference = soxr.resample(source, rate, RATE, quality="HQ")
    np.testing.assert_allclose(stored, reference, atol=1e-5)


@pytest.mark.real_data
def test_real_index_reads_names_only(shared_kauh: Path, expected: dict) -> None:
    index = read_kauh_index(shared_kauh)
    assert len(index) == len(expected)
    assert set(index["diagnosis"]) == set(EXPECTED_DIAGNOSES.values())
    assert {code for sound in index["sound"] for code in sound} <= {"N", "C", "W", "B", "I", "E"}


# ------------------------------------------------------------------------------------------- names
def test_names_are_normalised_never_rejected() -> None:
    name = KAUHName.parse(" bp 7_heart failure + lung Fibrosis ,crep , p r l ,76,f ")
    assert (name.filter_mode, name.patient_id) == ("bell", 7)
    assert name.diagnosis == "Heart failure + Lung fibrosis"
    assert name.sound == ("C",) and (name.crackle, name.wheeze, name.normal) == (1, 0, 0)
    assert (name.chest_location, name.age, name.sex) == ("P R L", 76.0, "F")
    assert KAUHName.parse("EP3_Asthma,I C E W,A R M,NA,").age is None
    assert KAUHName.parse("DP4_Asthma,E W,P L L,50,F,").sex == "F"  # a trailing comma
    assert KAUHName.parse("DP5_Heart Failure, COPD,C,P L L,50,M").diagnosis == "Heart failure + COPD"
    assert normalise_diagnosis("Plueral Effusion") == "Pleural effusion"
    assert normalise_diagnosis("BRON") == "Bronchiectasis"
    assert normalise_diagnosis("N") == "Healthy"
    assert normalise_diagnosis("asthma and lung fibrosis") == "Asthma + Lung fibrosis"
    assert normalise_diagnosis("lung CANCER") == "Lung cancer"  # unknown: kept, case normalised
    assert parse_sound("i c b") == ("I", "C", "B")
    assert parse_sound("Bronchial") == ("B",)


@pytest.mark.parametrize(
    ("stem", "message"),
    [
        ("BP1_Asthma,X W,P L L,50,F", "unknown sound code 'X'"),
        ("BP1_Asthma,E,P L L,50,F", "names no sound"),
        ("BP1_Asthma,N W,P L L,50,F", "both normal"),
        ("BP1_Asthma,E W,P Q L,50,F", "unknown: Q"),
        ("BP1_Asthma,E W,P L L", "expected 5 comma-separated fields"),
        ("BP1_Asthma,Z,W,P L L,50,F", "unknown sound code 'Z'"),
    ],
)
def test_unreadable_labels_are_errors(stem: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        KAUHName.parse(stem)


# ---------------------------------------------------------------------------------- synthetic folders
def _write(folder: Path, name: str, seconds: float = 0.5, rate: int = 4000) -> Path:
    samples = 0.1 * np.sin(2 * np.pi * 200 * np.arange(round(seconds * rate)) / rate)
    path = folder / name
    sf.write(path, samples.astype(np.float32), rate, subtype="PCM_16")
    return path


def _corpus(folder: Path) -> Path:
    """Two patients in three filter modes, with the sample's kinds of odd spelling."""
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder, "BP1_asthma,E W,P R L ,50,M.wav", seconds=0.5)
    _write(folder, "dp1_Asthma,e w,P R L,50,m .wav", seconds=0.5)
    _write(folder, "EP1_ASTHMA, E W ,p r l,50,M.wav", seconds=0.5)
    _write(folder, "BP2_heart failure,Crep,P L L,60,F.wav", seconds=0.75, rate=8000)
    _write(folder, "DP2_Heart Failure,C,P L L,60,F.wav", seconds=0.75)
    _write(folder, "EP2_Heart Failure,crep,P L L,60,F.wav", seconds=0.75)
    (folder / "Data annotation.xlsx").write_bytes(b"not audio, not a recording")
    (folder / "._BP1_asthma,E W,P R L ,50,M.wav").write_bytes(b"macOS resource fork")
    return folder


def _build(data_dir: Path, cache: Path, **options) -> datasets.Dataset:
    return load_kauh(data_dir, cache_dir=cache, **options)["test"]


def test_synthetic_corpus_normalises_odd_names(tmp_path: Path) -> None:
    dataset = _build(_corpus(tmp_path / "kauh"), tmp_path / "cache", sampling_rate=8000)
    assert len(dataset) == 6
    rows = sorted(dataset.remove_columns("audio"), key=lambda r: (r["patient_id"], r["filter_mode"]))
    assert [r["filter_mode"] for r in rows] == ["bell", "diaphragm", "extended"] * 2
    assert {r["diagnosis"] for r in rows[:3]} == {"Asthma"}
    assert {r["diagnosis"] for r in rows[3:]} == {"Heart failure"}
    assert {tuple(r["sound"]) for r in rows[:3]} == {("E", "W")}
    assert [(r["crackle"], r["wheeze"], r["normal"]) for r in rows] == [(0, 1, 0)] * 3 + [(1, 0, 0)] * 3
    assert {(r["chest_location"], r["age"], r["sex"]) for r in rows[:3]} == {("P R L", 50.0, "M")}
    for row in dataset:
        decoded = row["audio"].get_all_samples()
        expected_seconds = 0.5 if row["patient_id"] == 1 else 0.75
        assert decoded.sample_rate == 8000
        assert decoded.data.shape == (1, round(expected_seconds * 8000))


def test_nested_folder_and_cache_follow_the_files(tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "download" / "Audio Files")
    cache = tmp_path / "cache"
    first = _build(tmp_path / "download", cache)
    assert len(first) == 6 and first.features["audio"].sampling_rate == RATE
    old = folder / "EP2_Heart Failure,crep,P L L,60,F.wav"
    old.rename(folder / "EP2_Heart Failure,crep,P L L,61,F.wav")
    with pytest.warns(KAUHWarning, match="patient 2 carry different labels"):
        second = _build(tmp_path / "download", cache)
    assert sorted(second["age"]) == [50.0, 50.0, 50.0, 60.0, 60.0, 61.0]


def test_unknown_sound_code_names_the_file(tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "kauh")
    bad = _write(folder, "BP3_Asthma,E Q,P L L,40,F.wav")
    _write(folder, "DP3_Asthma,E W,P L L,40,F.wav")
    _write(folder, "EP3_Asthma,E W,P L L,40,F.wav")
    with pytest.raises(CorpusFormatError, match=re.escape(f"{bad}: unknown sound code 'Q'")) as caught:
        KAUH(data_dir=folder, cache_dir=str(tmp_path / "cache")).download_and_prepare()
    assert caught.value.path == bad and isinstance(caught.value, CorpusFormatError)


def test_a_file_that_is_not_audio_is_an_error_naming_it(tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "kauh")
    bad = folder / "DP2_Heart Failure,C,P L L,60,F.wav"
    bad.write_bytes(b"<html>a failed download</html>")
    with pytest.raises(CorpusFormatError, match=re.escape(str(bad))):
        _build(folder, tmp_path / "cache")


def test_filter_modes_must_hold_the_same_patients(tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "kauh")
    (folder / "DP2_Heart Failure,C,P L L,60,F.wav").unlink()
    with pytest.raises(CorpusCountError, match=r"patient 2 has no diaphragm recording"):
        read_kauh_index(folder)


def test_duplicates_and_foreign_audio(tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "kauh")
    _write(folder, "notes.wav")
    with pytest.warns(KAUHWarning, match="not named like KAUH recordings"):
        assert len(read_kauh_index(folder)) == 6
    (folder / "notes.wav").unlink()
    duplicate = _write(folder, "BP1_Asthma,E W,P R L,50,M.wav")
    with pytest.raises(CorpusFormatError, match="duplicate recording") as caught:
        read_kauh_index(folder)
    assert duplicate.name in str(caught.value)


def test_options_are_checked(tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "kauh")
    with pytest.raises(ValueError, match="Nyquist"):
        KAUH(data_dir=folder, sampling_rate=8000, lowpass_cutoff=4000.0)
    with pytest.raises(ValueError, match="audio_subtype"):
        KAUH(data_dir=folder, audio_subtype="MP3")
    with pytest.raises(ValueError, match="pass data_dir"):
        KAUH()
    with pytest.raises(FileNotFoundError):
        read_kauh_index(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no KAUH recordings"):
        read_kauh_index(empty)

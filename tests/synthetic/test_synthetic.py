"""Tests of the synthetic ICBHI corpus: layout, formats, class coverage, determinism and acoustics."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal, stats

from respira.data import SYNTHETIC_MARKER, is_synthetic_corpus
from respira.data.corpus_files import (
    DEVICES,
    DIAGNOSES,
    NUM_RECORDINGS,
    OFFICIAL_CLASS_COUNTS,
    RecordingName,
)
from respira.models.respira.labels import CLASS_NAMES, cycle_label
from respira.synthetic import FULL_SIZE, make_synthetic_icbhi, plan, writer
from respira.synthetic.sounds import crackle_transients, wheeze_tone
from respira.synthetic.writer import RECORDINGS_FOLDER as RECORDING_FOLDER

SPLIT_FILE = "ICBHI_challenge_train_test.txt"
DIAGNOSIS_FILE = "ICBHI_Challenge_diagnosis.txt"
DEMOGRAPHICS_FILE = "ICBHI_Challenge_demographic_information.txt"
FAST = {"sample_rates": (4000,)}
"""Small corpora for tests that do not look at the audio: one low rate keeps them quick."""


# ------------------------------------------------------------------------------------------------
# helpers reading a corpus back
# ------------------------------------------------------------------------------------------------


def read_split(root: Path) -> dict[str, str]:
    return dict(line.split("\t") for line in (root / SPLIT_FILE).read_text().splitlines())


def read_cycles(root: Path, stem: str) -> list[tuple[float, float, int, int]]:
    rows = []
    for line in (root / "ICBHI_final_database" / f"{stem}.txt").read_text().splitlines():
        start, end, crackle, wheeze = line.split("\t")
        rows.append((float(start), float(end), int(crackle), int(wheeze)))
    return rows


def class_counts(root: Path) -> Counter[tuple[str, str]]:
    """Cycles per (split, class) from the annotation files and the split file."""
    counts: Counter[tuple[str, str]] = Counter()
    for stem, split in read_split(root).items():
        for _, _, crackle, wheeze in read_cycles(root, stem):
            counts[split, cycle_label(crackle, wheeze)] += 1
    return counts


def cycle_segments(root: Path):
    """Yield (label, samples, sample_rate) for every cycle of the corpus."""
    for stem in sorted(read_split(root)):
        audio, rate = sf.read(root / "ICBHI_final_database" / f"{stem}.wav")
        for start, end, crackle, wheeze in read_cycles(root, stem):
            yield cycle_label(crackle, wheeze), audio[round(start * rate) : round(end * rate)], rate


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_icbhi(tmp_path_factory.mktemp("synthetic") / "icbhi")


# ------------------------------------------------------------------------------------------------
# layout and file formats
# ------------------------------------------------------------------------------------------------


def test_layout_split_file_and_names(corpus: Path) -> None:
    raw = (corpus / SPLIT_FILE).read_bytes()
    lines = raw.decode().splitlines()
    assert raw.endswith(b"\r\n") and raw.count(b"\r\n") == raw.count(b"\n") == len(lines)
    split = read_split(corpus)
    wavs = sorted(p.stem for p in (corpus / "ICBHI_final_database").glob("*.wav"))
    txts = sorted(p.stem for p in (corpus / "ICBHI_final_database").glob("*.txt"))
    assert sorted(split) == wavs == txts
    assert len(lines) == len(split)  # one line per recording, no duplicates
    assert set(split.values()) == {"train", "test"}
    assert 0.45 <= Counter(split.values())["train"] / len(split) <= 0.75
    names = [RecordingName.parse(stem) for stem in split]
    assert {n.device for n in names} == set(DEVICES)
    assert {n.acquisition_mode for n in names} == {"sc", "mc"}
    assert len({n.chest_location for n in names}) >= 4
    assert min(n.patient_id for n in names) == 101
    assert len({n.patient_id for n in names}) == 12


def test_the_corpus_is_marked_synthetic(corpus: Path, tmp_path: Path) -> None:
    assert SYNTHETIC_MARKER == "SYNTHETIC_CORPUS.txt"
    assert "respira.synthetic.make_synthetic_icbhi" in (corpus / SYNTHETIC_MARKER).read_text()
    assert is_synthetic_corpus(corpus) and is_synthetic_corpus(str(corpus))
    assert not is_synthetic_corpus(tmp_path) and not is_synthetic_corpus(None)


def test_diagnosis_and_demographic_files(corpus: Path) -> None:
    diagnosis_raw = (corpus / DIAGNOSIS_FILE).read_bytes()
    assert b"\r" not in diagnosis_raw
    diagnoses = dict(line.split("\t") for line in diagnosis_raw.decode().splitlines())
    assert list(diagnoses) == [str(p) for p in range(101, 113)]
    assert set(diagnoses.values()) <= set(DIAGNOSES)

    raw = (corpus / DEMOGRAPHICS_FILE).read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") == 12
    rows = [line.split("\t") for line in raw.decode().splitlines()]
    assert all(len(row) == 6 for row in rows)
    assert any(row[1:3] == ["NA", "NA"] for row in rows)  # like real patient 223
    kinds = set()
    for _, age, sex, bmi, weight, height in rows:
        if age == "NA":
            continue
        assert sex in {"M", "F"}
        if bmi != "NA":  # adult: BMI, no child measurements
            assert float(age) >= 18 and 15 < float(bmi) < 40 and weight == height == "NA"
            kinds.add("adult")
        else:  # child: weight and height, no BMI
            assert float(age) < 18 and float(weight) > 0 and float(height) > 0
            kinds.add("child")
    assert kinds == {"adult", "child"}


def test_annotation_lines(corpus: Path) -> None:
    line_format = re.compile(r"^\d+\.\d{3}\t\d+\.\d{3}\t[01]\t[01]$")
    for stem in read_split(corpus):
        text = (corpus / "ICBHI_final_database" / f"{stem}.txt").read_text()
        assert text.endswith("\n") and "\r" not in text
        assert all(line_format.match(line) for line in text.splitlines()), stem
        cycles = read_cycles(corpus, stem)
        assert 4 <= len(cycles) <= 9
        assert 0.0 <= cycles[0][0] <= 0.3
        for (start, end, _, _), following in zip(cycles, [*cycles[1:], None], strict=True):
            assert start < end and 1.49 <= end - start <= 4.01
            if following is not None:
                assert following[0] == end  # contiguous cycles


# ------------------------------------------------------------------------------------------------
# classes and split
# ------------------------------------------------------------------------------------------------


def test_every_class_in_train_and_test(corpus: Path) -> None:
    counts = class_counts(corpus)
    for split in ("train", "test"):
        for name in CLASS_NAMES:
            assert counts[split, name] > 0, (split, name, counts)
    total = sum(counts.values())
    assert 0.25 <= sum(counts[s, "normal"] for s in ("train", "test")) / total <= 0.8


@pytest.mark.parametrize("seed", range(4))
def test_every_class_on_both_sides_of_the_smallest_corpus(tmp_path: Path, seed: int) -> None:
    root = make_synthetic_icbhi(
        tmp_path / "c", n_patients=6, seed=seed, recordings_per_patient=(1, 1), **FAST
    )
    counts = class_counts(root)
    assert all(counts[split, name] > 0 for split in ("train", "test") for name in CLASS_NAMES), counts


def test_too_few_patients_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_patients"):
        make_synthetic_icbhi(tmp_path / "c", n_patients=5)
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------------------------------------
# determinism
# ------------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    kwargs = {"n_patients": 6, "recordings_per_patient": (1, 2)}
    first = tree_digest(make_synthetic_icbhi(tmp_path / "a", seed=7, **kwargs))
    again = tree_digest(make_synthetic_icbhi(tmp_path / "b", seed=7, **kwargs))
    other = tree_digest(make_synthetic_icbhi(tmp_path / "c", seed=8, **kwargs))
    assert first == again
    assert first != other


# ------------------------------------------------------------------------------------------------
# audio
# ------------------------------------------------------------------------------------------------


def test_sample_rates_bit_depths_length_and_peak(corpus: Path) -> None:
    rates, subtypes = set(), set()
    for stem in read_split(corpus):
        path = corpus / "ICBHI_final_database" / f"{stem}.wav"
        info = sf.info(path)
        rates.add(info.samplerate)
        subtypes.add((info.samplerate, info.subtype))
        assert info.channels == 1
        assert info.duration > read_cycles(corpus, stem)[-1][1] + 0.05  # audio runs past the last cycle
        peak = np.max(np.abs(sf.read(path)[0]))
        assert 0.3 < peak <= 0.9 + 1e-4  # normalised, no clipping
    assert rates == {4000, 10000, 44100}
    assert (44100, "PCM_24") in subtypes
    assert {subtype for _, subtype in subtypes} == {"PCM_16", "PCM_24"}


def _peakiness(segment: np.ndarray, rate: int) -> float:
    """Max over median of the 100-1000 Hz power spectrum: high for a tone, about 1-2 for noise."""
    frequencies, power = signal.welch(segment, rate, nperseg=int(0.1 * rate))
    band = (frequencies >= 100) & (frequencies <= 1000)
    return float(power[band].max() / np.median(power[band]))


def test_wheezes_are_tonal_and_crackles_impulsive(corpus: Path) -> None:
    peakiness: dict[str, list[float]] = {name: [] for name in CLASS_NAMES}
    kurtosis: dict[str, list[float]] = {name: [] for name in CLASS_NAMES}
    for label, segment, rate in cycle_segments(corpus):
        peakiness[label].append(_peakiness(segment, rate))
        kurtosis[label].append(float(stats.kurtosis(segment)))
    assert min(len(values) for values in peakiness.values()) >= 5
    median = {name: (np.median(peakiness[name]), np.median(kurtosis[name])) for name in CLASS_NAMES}
    # observed over seeds: wheeze ~20-40 vs normal ~1.6; crackle kurtosis ~7-10 vs normal ~2
    assert median["wheeze"][0] > 5 * median["normal"][0]
    assert median["both"][0] > 5 * median["normal"][0]
    assert median["crackle"][0] < 2 * median["normal"][0]  # crackles alone are not tonal
    assert median["crackle"][1] > 2 * median["normal"][1]
    assert median["wheeze"][1] < median["crackle"][1]


def test_wheeze_harmonics_stay_below_nyquist_at_4_khz() -> None:
    rate = 4000
    tone = wheeze_tone(rate, rate, 650.0, 650.0, harmonic_gains=(1.0, 0.5, 0.5))
    frequencies, power = signal.periodogram(tone, rate)
    assert power[frequencies >= 1800].sum() < 1e-6 * power.sum()  # the 1950 Hz harmonic is dropped
    assert power[np.abs(frequencies - 1300) < 5].sum() > 0.1 * power[np.abs(frequencies - 650) < 5].sum()
    assert np.abs(tone).max() > 0.9  # the fundamental is there at full level


def test_crackle_transients_are_short_with_abrupt_onset() -> None:
    rate = 44100
    durations = np.array([0.005, 0.025])
    waves = crackle_transients(rate, np.array([600.0, 200.0]), durations, np.array([1.0, -2.0]))
    for wave, duration in zip(waves, durations, strict=True):
        end = int(duration * rate)
        assert np.all(wave[end + 1 :] == 0)
        first_lobe = np.abs(wave[: end // 4]).max()  # the largest swing comes right at the onset
        assert first_lobe == pytest.approx(np.abs(wave).max())
        assert np.abs(wave[end - end // 10 : end]).max() < 0.05 * first_lobe  # decayed by the end


# ------------------------------------------------------------------------------------------------
# writing safely
# ------------------------------------------------------------------------------------------------


def test_existing_folder_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "c"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        make_synthetic_icbhi(out, n_patients=6, **FAST)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]

    make_synthetic_icbhi(out, n_patients=6, overwrite=True, **FAST)
    assert (out / "keep.txt").read_text() == "mine"  # never delete what respira did not write
    assert (out / SPLIT_FILE).is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted([*writer.CORPUS_ENTRIES, "keep.txt"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no temporary folders left

    empty = tmp_path / "empty"
    empty.mkdir()
    assert (make_synthetic_icbhi(empty, n_patients=6, **FAST) / SPLIT_FILE).is_file()


def test_the_current_folder_is_a_target_and_keeps_what_respira_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert make_synthetic_icbhi(".", n_patients=6, **FAST) == Path()
    assert is_synthetic_corpus(tmp_path)
    first = tree_digest(tmp_path)

    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "mine").mkdir()
    make_synthetic_icbhi(".", n_patients=6, seed=1, overwrite=True, **FAST)  # replaces its own corpus
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "mine").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*writer.CORPUS_ENTRIES, "notes.txt", "mine"])
    (tmp_path / "notes.txt").unlink()
    (tmp_path / "mine").rmdir()
    assert tree_digest(tmp_path) != first


def test_overwrite_refuses_entries_respira_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "real"
    (out / RECORDING_FOLDER).mkdir(parents=True)
    (out / RECORDING_FOLDER / "101_1b1_Al_sc_Meditron.wav").write_bytes(b"a real recording")
    with pytest.raises(FileExistsError, match=f"{RECORDING_FOLDER} was not written by respira"):
        make_synthetic_icbhi(out, n_patients=6, overwrite=True, **FAST)
    assert [p.name for p in out.rglob("*")] == [RECORDING_FOLDER, "101_1b1_Al_sc_Meditron.wav"]


def test_failure_midway_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def failing_writer(path: Path, audio: np.ndarray, sample_rate: int, subtype: str) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        sf.write(path, audio, sample_rate, subtype=subtype)

    monkeypatch.setattr(writer, "_write_wav", failing_writer)
    with pytest.raises(OSError, match="disk full"):
        make_synthetic_icbhi(tmp_path / "c", n_patients=6, **FAST)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []

    monkeypatch.undo()
    previous = make_synthetic_icbhi(tmp_path / "c", n_patients=6, seed=1, **FAST)
    digest = tree_digest(previous)
    calls.clear()
    monkeypatch.setattr(writer, "_write_wav", failing_writer)
    with pytest.raises(OSError, match="disk full"):
        make_synthetic_icbhi(tmp_path / "c", n_patients=6, seed=2, overwrite=True, **FAST)
    assert tree_digest(tmp_path / "c") == digest  # the previous corpus is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_icbhi_counts_plan_reproduces_the_published_counts() -> None:
    # the plan only (no audio): writing the 5.3 h corpus would take too long for the unit tests
    _, recordings = plan.plan_corpus(
        3,
        n_patients=126,
        recordings_per_patient=(1, 3),
        cycles_per_recording=(4, 11),
        sample_rates=(4000, 10000, 44100),
        icbhi_counts=True,
    )
    assert len(recordings) == NUM_RECORDINGS
    assert len({r.name.stem for r in recordings}) == NUM_RECORDINGS
    for split, expected in OFFICIAL_CLASS_COUNTS.items():
        labels = np.concatenate([r.labels for r in recordings if r.split == split])
        found = np.bincount(labels, minlength=len(CLASS_NAMES))
        assert dict(zip(CLASS_NAMES, found.tolist(), strict=True)) == expected
    assert all(4 <= len(r.labels) <= 11 for r in recordings)
    assert FULL_SIZE["icbhi_counts"] is True
    with pytest.raises(ValueError, match="icbhi_counts"):
        make_synthetic_icbhi("unused", icbhi_counts=True, n_patients=921)

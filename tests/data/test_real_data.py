"""Real ICBHI files from ../shared: published counts, the recordings sample, both metadata releases.

The sample in ``../shared/icbhi/ICBHI_final_database`` grows from time to time: every expected count
about it is counted here from its files (``.wav``/``.txt`` pairs, annotation lines, split entries),
independently of respira's reader.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from respira.data import (
    CorpusCountError,
    PartialCorpusWarning,
    load_icbhi,
    read_icbhi_index,
)
from respira.data.corpus_files import OFFICIAL_CLASS_COUNTS, OFFICIAL_SPLIT_CYCLES
from respira.data.text_files import class_counts, validate_counts

pytestmark = pytest.mark.real_data
RATE = 16000


def test_complete_annotations_reproduce_the_published_counts(complete_annotations: Path) -> None:
    index = read_icbhi_index(complete_annotations)
    assert len(index) == 6898
    assert index["recording"].nunique() == 920
    assert index["patient_id"].nunique() == 126
    assert index["official_split"].value_counts().to_dict() == OFFICIAL_SPLIT_CYCLES
    assert class_counts(index) == OFFICIAL_CLASS_COUNTS
    assert set(index["diagnosis"].dropna()) == {
        "URTI",
        "Healthy",
        "Asthma",
        "COPD",
        "LRTI",
        "Bronchiectasis",
        "Pneumonia",
        "Bronchiolitis",
    }


def test_split_entries_match_on_four_fields_not_the_device(complete_annotations: Path) -> None:
    index = read_icbhi_index(complete_annotations)
    renamed = index[index["recording"] == "226_1b1_Pl_sc_LittC2SE"]
    assert not renamed.empty
    assert (renamed["official_split"] == "train").all()
    both_sides = index.groupby("patient_id")["official_split"].nunique()
    assert set(both_sides[both_sides > 1].index) == {156, 218}


def test_count_mismatch_lists_every_difference(complete_annotations: Path) -> None:
    index = read_icbhi_index(complete_annotations)
    damaged = index.drop(index.index[(index["official_split"] == "test") & (index["label"] == "both")][:2])
    with pytest.raises(
        CorpusCountError, match=r"cycles: 6896 \(expected 6898\).*test cycles: 2754.*test both: 141"
    ):
        validate_counts(damaged)


def test_a_wrong_annotation_in_the_complete_corpus_raises(
    complete_annotations: Path, shared_icbhi: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "icbhi"
    shutil.copytree(shared_icbhi / "annotations_all", corpus / "ICBHI_final_database")
    for name in ("ICBHI_challenge_train_test.txt", "ICBHI_Challenge_diagnosis.txt"):
        shutil.copy(shared_icbhi / name, corpus / name)
    path = corpus / "ICBHI_final_database" / "101_1b1_Al_sc_Meditron.txt"
    path.write_text(path.read_text().replace("\t0\t0", "\t1\t0", 1))
    with pytest.raises(CorpusCountError, match=r"test normal: 1578 \(expected 1579\); test crackle: 650"):
        read_icbhi_index(corpus)


def test_kaggle_and_official_metadata_agree(
    complete_annotations: Path, shared_icbhi: Path, tmp_path: Path
) -> None:
    official = read_icbhi_index(complete_annotations)
    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    (kaggle / "audio_and_txt_files").symlink_to(shared_icbhi / "annotations_all", target_is_directory=True)
    for path in (shared_icbhi / "kaggle_layout_metadata").iterdir():
        (kaggle / path.name).symlink_to(path)
    kaggle_index = read_icbhi_index(kaggle)
    assert kaggle_index["official_split"].isna().all()
    assert len(kaggle_index) == 6898
    for column in ("diagnosis", "age", "sex", "adult_bmi", "child_weight", "child_height"):
        assert kaggle_index[column].equals(official[column]), column
    patient_223 = official[official["patient_id"] == 223]
    assert patient_223["age"].isna().all()
    assert patient_223["sex"].isna().all()


@dataclass(frozen=True)
class SampleFacts:
    """What the sample folder holds, counted straight from its files."""

    recordings: frozenset[str]  # stems with both a .wav and a .txt holding at least one cycle
    cycles: int  # non-empty annotation lines of those recordings
    patients: int
    unmatched_split_entries: int  # split-file lines naming a recording (on 4 fields) not in the folder


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sample_facts(shared_icbhi: Path) -> SampleFacts:
    folder = shared_icbhi / "ICBHI_final_database"
    pairs = {p.stem for p in folder.glob("*.wav")} & {p.stem for p in folder.glob("*.txt")}
    lines = {stem: _lines(folder / f"{stem}.txt") for stem in pairs}
    recordings = frozenset(stem for stem, rows in lines.items() if rows)
    keys = {tuple(path.stem.split("_")[:4]) for path in folder.glob("*.txt")}
    entries = [line.split()[0] for line in _lines(shared_icbhi / "ICBHI_challenge_train_test.txt")]
    return SampleFacts(
        recordings=recordings,
        cycles=sum(len(lines[stem]) for stem in recordings),
        patients=len({stem.split("_")[0] for stem in recordings}),
        unmatched_split_entries=sum(tuple(entry.split("_")[:4]) not in keys for entry in entries),
    )


@pytest.fixture(scope="module")
def real_sample(shared_icbhi: Path, sample_facts: SampleFacts, tmp_path_factory: pytest.TempPathFactory):
    with pytest.warns(PartialCorpusWarning, match=f"{sample_facts.unmatched_split_entries} split entries"):
        return load_icbhi(shared_icbhi, cache_dir=tmp_path_factory.mktemp("real_cache"))


def test_the_real_sample_builds(real_sample, sample_facts: SampleFacts) -> None:
    assert sum(len(part) for part in real_sample.values()) == sample_facts.cycles
    recordings = {r for part in real_sample.values() for r in part["recording"]}
    assert recordings == sample_facts.recordings
    assert len({r.split("_")[0] for r in recordings}) == sample_facts.patients
    assert {r.split("_")[4] for r in recordings} == {"Meditron", "LittC2SE", "Litt3200", "AKGC417L"}


def test_every_real_cycle_has_its_exact_length(
    real_sample, shared_icbhi: Path, sample_facts: SampleFacts
) -> None:
    checked = clipped = 0
    for part in real_sample.values():
        for example in part:
            info = sf.info(shared_icbhi / "ICBHI_final_database" / f"{example['recording']}.wav")
            length = example["audio"].get_all_samples().data.shape[1]
            recording_end = round(info.frames * RATE / info.samplerate)
            if round(example["end"] * RATE) > recording_end:
                clipped += 1
                assert length == recording_end - round(example["start"] * RATE)
            else:
                assert abs(length - round((example["end"] - example["start"]) * RATE)) <= 1
            checked += 1
    assert checked == sample_facts.cycles
    assert clipped < 5


def test_real_cycles_match_an_independent_resampling(real_sample, shared_icbhi: Path) -> None:
    """Cut a 4 kHz / 16-bit and a 44.1 kHz / 24-bit recording and compare with soxr directly."""
    import soxr

    for stem in ("157_1b1_Al_sc_Meditron", "101_1b1_Al_sc_Meditron"):
        samples, rate = sf.read(shared_icbhi / "ICBHI_final_database" / f"{stem}.wav", dtype="float32")
        resampled = soxr.resample(samples, rate, RATE, quality="HQ")
        part = next(p for p in real_sample.values() if stem in set(p["recording"]))
        example = part[next(i for i, r in enumerate(part["recording"]) if r == stem)]
        audio = example["audio"].get_all_samples().data.numpy()[0]
        start = round(example["start"] * RATE)
        np.testing.assert_allclose(audio, resampled[start : start + audio.shape[0]], atol=1e-6)


# ------------------------------------------------ ../shared/icbhi and ../shared/icbhi_cycles: one corpus
def _annotated(folder: Path) -> dict[str, tuple[Path, list[tuple[float, float, int, int]]]]:
    """Each recording with audio (.wav or .flac) and its annotation lines, parsed here, not by respira."""
    recordings = folder / "ICBHI_final_database"
    audio = {p.stem: p for p in recordings.iterdir() if p.suffix in (".wav", ".flac")}
    cycles = {}
    for stem, path in audio.items():
        rows = [line.split() for line in _lines(recordings / f"{stem}.txt")]
        cycles[stem] = (path, [(float(a), float(b), int(c), int(w)) for a, b, c, w in rows])
    return cycles


def _official(folder: Path) -> dict[tuple[str, ...], str]:
    entries = (line.split() for line in _lines(folder / "ICBHI_challenge_train_test.txt"))
    return {tuple(name.split("_")[:4]): side for name, side in entries}


@pytest.fixture(scope="module")
def all_patients(shared_icbhi: Path, shared_icbhi_cycles: Path, tmp_path_factory: pytest.TempPathFactory):
    """Both folders read as one corpus (recordings at 4 kHz), and each folder's recordings from its files."""
    folders = [shared_icbhi, shared_icbhi_cycles]
    with pytest.warns(PartialCorpusWarning, match="split entries name recordings that are not in these"):
        built = load_icbhi(folders, config_name="recordings", sampling_rate=4000,
                           cache_dir=tmp_path_factory.mktemp("all_patients"))  # fmt: skip
    return built, [_annotated(folder) for folder in folders]


def test_both_shared_folders_are_one_corpus_of_every_patient(
    all_patients, shared_icbhi: Path, shared_icbhi_cycles: Path
) -> None:
    built, (first, second) = all_patients
    patients = [{stem.split("_")[0] for stem in folder} for folder in (first, second)]
    assert not patients[0] & patients[1]
    assert {path.suffix for path, _ in second.values()} == {".flac"}
    files = {**first, **second}
    examples = {example["recording"]: example for part in built.values() for example in part}
    assert set(examples) == set(files)
    assert len({example["patient_id"] for example in examples.values()}) == len(patients[0] | patients[1])
    official = {**_official(shared_icbhi), **_official(shared_icbhi_cycles)}
    for stem, (path, cycles) in files.items():
        example = examples[stem]
        assert [(c["start"], c["end"], c["crackle"], c["wheeze"]) for c in example["cycles"]] == cycles, stem
        assert example["official_split"] == official[tuple(stem.split("_")[:4])]
        info = sf.info(path)
        assert example["audio"].get_all_samples().data.shape[1] == round(info.frames * 4000 / info.samplerate)
        assert cycles[0][0] < info.frames / info.samplerate  # every recording's cycles begin in its audio
    assert sum(len(cycles) for _, cycles in files.values()) == sum(
        len(example["cycles"]) for example in examples.values()
    )


def test_a_flac_recording_decodes_to_its_samples(all_patients) -> None:
    import soxr

    built, (_, second) = all_patients
    stem, (path, _) = sorted(second.items())[0]
    samples, rate = sf.read(path, dtype="float32")
    example = next(e for part in built.values() for e in part if e["recording"] == stem)
    audio = example["audio"].get_all_samples().data.numpy()[0]
    np.testing.assert_allclose(audio, soxr.resample(samples, rate, 4000, quality="HQ"), atol=1e-6)

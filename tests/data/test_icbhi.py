"""The ICBHI datasets builder: cycles, splits, cache keys, audio handling and bad input."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import datasets
import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from respira.data import (
    ICBHI,
    CorpusFormatError,
    PartialCorpusWarning,
    load_icbhi,
    read_icbhi_index,
)
from respira.data.errors import SplitError
from respira.models.respira.audio_decoding import read_audio
from respira.models.respira.labels import CLASS_NAMES

RATE = 16000


def _samples(example: dict) -> np.ndarray:
    return example["audio"].get_all_samples().data.numpy()[0]


def _wav_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "ICBHI_final_database").glob("*.wav"))


@pytest.fixture(scope="module")
def built(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> datasets.DatasetDict:
    return load_icbhi(synthetic_corpus, cache_dir=tmp_path_factory.mktemp("cache"))


def test_one_example_per_cycle_in_the_official_splits(
    built: datasets.DatasetDict, synthetic_corpus: Path
) -> None:
    index = read_icbhi_index(synthetic_corpus)
    assert set(built) == {"train", "test"}
    for split, part in built.items():
        expected = index[index["official_split"] == split]
        assert len(part) == len(expected)
        assert sorted(zip(part["recording"], part["cycle_index"], strict=True)) == sorted(
            zip(expected["recording"], expected["cycle_index"], strict=True)
        )


def test_features(built: datasets.DatasetDict) -> None:
    features = built["train"].features
    assert isinstance(features["audio"], datasets.Audio)
    assert features["audio"].sampling_rate == RATE
    assert features["label"].names == list(CLASS_NAMES)
    for column in ("crackle", "wheeze", "recording", "patient_id", "cycle_index", "start", "end"):
        assert column in features
    for column in ("chest_location", "acquisition_mode", "device", "diagnosis", "age", "sex", "adult_bmi"):
        assert column in features
    example = built["train"][0]
    assert CLASS_NAMES[example["label"]] == CLASS_NAMES[example["crackle"] + 2 * example["wheeze"]]


def test_cycles_are_cut_from_the_resampled_recording(
    built: datasets.DatasetDict, synthetic_corpus: Path
) -> None:
    part = built["test"]
    recording = part[0]["recording"]
    signal = read_audio(synthetic_corpus / "ICBHI_final_database" / f"{recording}.wav", RATE)
    for row in (i for i in range(len(part)) if part[i]["recording"] == recording):
        example = part[row]
        start, end = round(example["start"] * RATE), round(example["end"] * RATE)
        audio = _samples(example)
        assert example["audio"].metadata.sample_rate == RATE
        assert audio.shape[0] == min(end, signal.shape[0]) - start
        np.testing.assert_array_equal(audio, signal[start : start + audio.shape[0]])


HAND_WRITTEN_CYCLES = "0.1\t0.5\t1\t0\n0.6\t1.2\t0\t1\n1.3\t2.0\t1\t1\n2.1\t2.9\t0\t0\n"
"""Four hand-written annotation lines (start, end, crackle, wheeze): crackle, wheeze, both, normal."""


def test_a_hand_written_annotation_line_reaches_its_cycle_s_label(tmp_path: Path) -> None:
    recordings = tmp_path / "icbhi" / "ICBHI_final_database"
    recordings.mkdir(parents=True)
    noise = 0.05 * np.random.default_rng(0).standard_normal(3 * 4000)
    for stem in ("101_1b1_Al_sc_Meditron", "102_1b1_Ar_sc_Meditron"):
        sf.write(recordings / f"{stem}.wav", noise, 4000, subtype="PCM_16")
        (recordings / f"{stem}.txt").write_text(HAND_WRITTEN_CYCLES)
    (tmp_path / "icbhi" / "ICBHI_challenge_train_test.txt").write_text(
        "101_1b1_Al_sc_Meditron\ttrain\n102_1b1_Ar_sc_Meditron\ttest\n"
    )
    dataset = load_icbhi(tmp_path / "icbhi", sampling_rate=4000, cache_dir=tmp_path / "cache")
    train = dataset["train"].remove_columns("audio").to_pandas().sort_values("cycle_index")
    assert train["recording"].tolist() == ["101_1b1_Al_sc_Meditron"] * 4
    label = dataset["train"].features["label"]
    assert [label.int2str(int(i)) for i in train["label"]] == ["crackle", "wheeze", "both", "normal"]
    assert train["crackle"].tolist() == [1, 0, 1, 0] and train["wheeze"].tolist() == [0, 1, 1, 0]
    assert train["start"].tolist() == [0.1, 0.6, 1.3, 2.1]


def test_validation_carved_by_patient_keeps_every_class(synthetic_corpus: Path, tmp_path: Path) -> None:
    dataset = load_icbhi(synthetic_corpus, validation_size=0.25, seed=3, cache_dir=tmp_path)
    assert set(dataset) == {"train", "validation", "test"}
    train, validation = set(dataset["train"]["patient_id"]), set(dataset["validation"]["patient_id"])
    assert train and validation and not train & validation
    for split in ("train", "validation"):
        assert set(dataset[split]["label"]) == set(range(len(CLASS_NAMES)))
    full_train = read_icbhi_index(synthetic_corpus).query("official_split == 'train'")
    assert len(dataset["train"]) + len(dataset["validation"]) == len(full_train)
    again = load_icbhi(synthetic_corpus, validation_size=0.25, seed=3, cache_dir=tmp_path / "again")
    assert again["validation"]["recording"] == dataset["validation"]["recording"]


def test_patient_wise_split_when_there_is_no_official_split(synthetic_corpus: Path, tmp_path: Path) -> None:
    dataset = load_icbhi(synthetic_corpus, split_strategy="patient", seed=1, cache_dir=tmp_path)
    patients = {split: set(part["patient_id"]) for split, part in dataset.items()}
    assert set(patients) == {"train", "validation", "test"}
    assert not patients["train"] & patients["validation"]
    assert not patients["train"] & patients["test"]
    assert not patients["validation"] & patients["test"]
    assert len(dataset["train"]) > len(dataset["test"])


def test_kaggle_copy_refuses_official_split_with_a_clear_reason(corpus_copy: Path, tmp_path: Path) -> None:
    (corpus_copy / "ICBHI_challenge_train_test.txt").unlink()
    with pytest.raises(SplitError, match=r"no official split file.*split_strategy='patient'"):
        load_icbhi(corpus_copy, cache_dir=tmp_path)
    dataset = load_icbhi(corpus_copy, split_strategy="patient", cache_dir=tmp_path)
    assert dataset["train"][0]["official_split"] is None


def test_recordings_config_lists_cycles(synthetic_corpus: Path, tmp_path: Path) -> None:
    dataset = load_icbhi(synthetic_corpus, config_name="recordings", cache_dir=tmp_path)
    index = read_icbhi_index(synthetic_corpus)
    assert sum(len(part) for part in dataset.values()) == index["recording"].nunique()
    example = dataset["train"][0]
    expected = index[index["recording"] == example["recording"]]
    assert [c["start"] for c in example["cycles"]] == expected["start"].tolist()
    assert [CLASS_NAMES[c["label"]] for c in example["cycles"]] == expected["label"].tolist()
    wav = synthetic_corpus / "ICBHI_final_database" / f"{example['recording']}.wav"
    np.testing.assert_array_equal(_samples(example), read_audio(wav, RATE))


def test_cache_is_reused_for_the_same_inputs_and_options(corpus_copy: Path, tmp_path: Path) -> None:
    first = ICBHI(data_dir=corpus_copy, cache_dir=str(tmp_path))
    same = ICBHI(data_dir=corpus_copy, cache_dir=str(tmp_path))
    assert first.cache_dir == same.cache_dir
    for option in (
        {"sampling_rate": 8000},
        {"seed": 1},
        {"lowpass_cutoff": 2000.0},
        {"audio_subtype": "PCM_16"},
    ):
        assert ICBHI(data_dir=corpus_copy, cache_dir=str(tmp_path), **option).cache_dir != first.cache_dir


def test_editing_an_annotation_rebuilds_without_any_flag(corpus_copy: Path, tmp_path: Path) -> None:
    before = load_icbhi(corpus_copy, cache_dir=tmp_path)
    path = sorted((corpus_copy / "ICBHI_final_database").glob("*.txt"))[0]
    lines = path.read_text().splitlines()
    start, end, _, _ = lines[0].split("\t")
    lines[0] = f"{start}\t{end}\t1\t1"
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    after = load_icbhi(corpus_copy, cache_dir=tmp_path)
    split = next(s for s in after if path.stem in set(after[s]["recording"]))
    rows = [i for i, r in enumerate(after[split]["recording"]) if r == path.stem]
    assert after[split][rows[0]]["label"] == CLASS_NAMES.index("both")
    assert before[split].cache_files[0]["filename"] != after[split].cache_files[0]["filename"]


def test_num_proc_gives_the_same_dataset(synthetic_corpus: Path, tmp_path: Path) -> None:
    serial = load_icbhi(synthetic_corpus, cache_dir=tmp_path / "serial")
    parallel = load_icbhi(synthetic_corpus, cache_dir=tmp_path / "parallel", num_proc=2)
    for split in serial:
        left = (
            serial[split]
            .cast_column("audio", datasets.Audio(decode=False))
            .sort(["recording", "cycle_index"])
        )
        right = (
            parallel[split]
            .cast_column("audio", datasets.Audio(decode=False))
            .sort(["recording", "cycle_index"])
        )
        assert left.to_dict() == right.to_dict()


def test_lowpass_removes_energy_above_the_cutoff(corpus_copy: Path, tmp_path: Path) -> None:
    wav = _wav_files(corpus_copy)[0]
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, size=44100 * 30).astype(np.float32)
    sf.write(wav, noise, 44100)  # broadband, so there is energy to remove

    def recording(**options: float) -> np.ndarray:
        dataset = load_icbhi(corpus_copy, config_name="recordings", cache_dir=tmp_path, **options)
        return _samples(next(e for part in dataset.values() for e in part if e["recording"] == wav.stem))

    def high_band_fraction(samples: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(samples)) ** 2
        frequencies = np.fft.rfftfreq(samples.shape[0], 1 / RATE)
        return spectrum[frequencies > 2000].sum() / spectrum.sum()

    assert high_band_fraction(recording()) > 0.5
    filtered = recording(lowpass_cutoff=1000.0, lowpass_order=6)
    assert high_band_fraction(filtered) < 1e-3
    # the whole recording through scipy's zero-phase Butterworth of the order asked for, written out
    sos = scipy.signal.butter(6, 1000.0, fs=RATE, output="sos")
    np.testing.assert_allclose(filtered, scipy.signal.sosfiltfilt(sos, read_audio(wav, RATE)), atol=1e-5)


def test_stereo_recordings_are_down_mixed(corpus_copy: Path, tmp_path: Path) -> None:
    wav = _wav_files(corpus_copy)[0]
    mono, rate = sf.read(wav, dtype="float32")
    sf.write(wav, np.stack([mono, np.zeros_like(mono)], axis=1), rate, subtype="FLOAT")
    dataset = load_icbhi(corpus_copy, config_name="recordings", cache_dir=tmp_path)
    example = next(e for part in dataset.values() for e in part if e["recording"] == wav.stem)
    expected = read_audio(wav, RATE)
    np.testing.assert_allclose(_samples(example), expected, atol=1e-6)
    single = np.asarray(mono / 2, dtype=np.float32)
    sf.write(wav, single, rate, subtype="FLOAT")
    np.testing.assert_allclose(read_audio(wav, RATE), expected, atol=1e-6)


def _last_annotation_line(corpus: Path, wav: Path) -> tuple[Path, int, list[str]]:
    path = wav.with_suffix(".txt")
    lines = path.read_text().splitlines()
    return path, len(lines), lines


@pytest.mark.parametrize("end", ["half a second late", "1e308"])
def test_cycle_past_the_audio_end_is_clipped_and_reported_once(
    corpus_copy: Path, tmp_path: Path, end: str
) -> None:
    wav = _wav_files(corpus_copy)[0]
    duration = sf.info(wav).duration
    path, line, lines = _last_annotation_line(corpus_copy, wav)
    start, _, crackle, wheeze = lines[-1].split("\t")
    end = f"{duration + 0.5:.3f}" if end == "half a second late" else end  # 1e308 * rate overflows an int
    lines[-1] = f"{start}\t{end}\t{crackle}\t{wheeze}"
    path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_icbhi(corpus_copy, cache_dir=tmp_path)
    reports = [str(w.message) for w in caught if "clipped" in str(w.message)]
    assert len(reports) == 1
    assert f"{path}:{line}" in reports[0]
    split = next(s for s in dataset if wav.stem in set(dataset[s]["recording"]))
    rows = [i for i, r in enumerate(dataset[split]["recording"]) if r == wav.stem]
    last = dataset[split][rows[-1]]
    assert _samples(last).shape[0] == round(sf.info(wav).frames * RATE / sf.info(wav).samplerate) - round(
        float(start) * RATE
    )


def test_cycle_starting_after_the_audio_is_an_error_and_nothing_is_written(
    corpus_copy: Path, tmp_path: Path
) -> None:
    wav = _wav_files(corpus_copy)[0]
    duration = sf.info(wav).duration
    path, line, lines = _last_annotation_line(corpus_copy, wav)
    lines.append(f"{duration + 1:.3f}\t{duration + 2:.3f}\t0\t0")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        CorpusFormatError, match=rf"{path.name}:{line + 1}: .*starts after the end of its audio"
    ):
        load_icbhi(corpus_copy, cache_dir=tmp_path)
    assert not list(tmp_path.rglob("*.arrow"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda wav: wav.write_bytes(wav.read_bytes()[: len(wav.read_bytes()) // 2]), "truncated WAV file"),
        (lambda wav: wav.write_bytes(b"this is not audio at all" * 40), "cannot be decoded as audio"),
        (lambda wav: sf.write(wav, np.zeros(0, dtype=np.float32), 4000), "holds no audio samples"),
    ],
    ids=["truncated", "not-audio", "zero-length"],
)
def test_broken_audio_is_named_and_nothing_is_written(
    corpus_copy: Path, tmp_path: Path, damage, message
) -> None:
    wav = _wav_files(corpus_copy)[2]
    damage(wav)
    with pytest.raises(CorpusFormatError, match=message) as error:
        load_icbhi(corpus_copy, cache_dir=tmp_path)
    assert str(wav) in str(error.value)
    assert not list(tmp_path.rglob("*.arrow"))


def test_every_audio_format_a_reader_takes_is_read_as_a_wav_is(corpus_copy: Path, tmp_path: Path) -> None:
    from ..conftest import AUDIO_FORMATS, write_audio

    converted = {}
    others = [suffix for suffix in AUDIO_FORMATS if suffix != ".wav"]
    for suffix, wav in zip(others, _wav_files(corpus_copy)[::3], strict=False):
        samples, rate = sf.read(wav, dtype="float32")
        converted[wav.stem] = (write_audio(wav.with_suffix(suffix), samples, rate), sf.info(wav).duration)
        wav.unlink()
    assert {path.suffix for path, _ in converted.values()} == set(others)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartialCorpusWarning)  # no recording left out
        built = load_icbhi(corpus_copy, config_name="recordings", sampling_rate=4000, cache_dir=tmp_path)
    index = read_icbhi_index(corpus_copy)
    examples = {example["recording"]: example for part in built.values() for example in part}
    assert set(examples) == set(index["recording"])
    for stem, (_, seconds) in converted.items():
        assert len(examples[stem]["cycles"]) == int((index["recording"] == stem).sum())
        length = examples[stem]["audio"].get_all_samples().data.shape[1]
        assert abs(length - seconds * 4000) <= 0.2 * 4000  # a lossy codec's priming and padding


def test_recordings_without_audio_are_left_out_and_reported_once(corpus_copy: Path, tmp_path: Path) -> None:
    missing = _wav_files(corpus_copy)[:2]
    for wav in missing:
        wav.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_icbhi(corpus_copy, cache_dir=tmp_path)
    reports = [str(w.message) for w in caught if issubclass(w.category, PartialCorpusWarning)]
    assert len(reports) == 1
    assert reports[0].startswith("2 of ")
    built = {r for part in dataset.values() for r in part["recording"]}
    assert not built & {wav.stem for wav in missing}
    assert len(built) == len(_wav_files(corpus_copy))


def test_audio_without_an_annotation_file_is_left_out_and_reported_once(
    corpus_copy: Path, tmp_path: Path
) -> None:
    unannotated = _wav_files(corpus_copy)[:3]
    for wav in unannotated:
        wav.with_suffix(".txt").unlink()  # an incomplete download the other way round
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_icbhi(corpus_copy, split_strategy="patient", cache_dir=tmp_path)
    reports = [str(w.message) for w in caught if issubclass(w.category, PartialCorpusWarning)]
    reports = [report for report in reports if "annotation file" in report]  # the split file warns too
    first = sorted(unannotated)[0]
    assert reports == [
        f"3 audio file(s) in {first.parent} have no annotation file and are left out; first: {first.name} "
        f"(no {first.stem}.txt)"
    ]
    built = {r for part in dataset.values() for r in part["recording"]}
    assert not built & {wav.stem for wav in unannotated} and built


def test_save_to_disk_round_trip_keeps_audio(built: datasets.DatasetDict, tmp_path: Path) -> None:
    built.save_to_disk(tmp_path / "saved")
    reloaded = datasets.load_from_disk(str(tmp_path / "saved"))
    assert reloaded["train"].features == built["train"].features
    np.testing.assert_array_equal(_samples(reloaded["train"][3]), _samples(built["train"][3]))


def test_parquet_round_trip_keeps_the_audio_feature(built: datasets.DatasetDict, tmp_path: Path) -> None:
    for split, part in built.items():
        part.to_parquet(str(tmp_path / f"{split}.parquet"))
    files = {split: str(tmp_path / f"{split}.parquet") for split in built}
    reloaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert isinstance(reloaded["test"].features["audio"], datasets.Audio)
    assert reloaded["test"].features["label"].names == list(CLASS_NAMES)
    np.testing.assert_array_equal(_samples(reloaded["test"][5]), _samples(built["test"][5]))
    assert reloaded["test"][5]["recording"] == built["test"][5]["recording"]


def test_builder_needs_a_data_dir() -> None:
    with pytest.raises(ValueError, match="data_dir"):
        ICBHI()


def test_invalid_options_are_clear(synthetic_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"lowpass_cutoff 9000\.0 Hz must lie below the Nyquist"):
        load_icbhi(synthetic_corpus, cache_dir=tmp_path, lowpass_cutoff=9000.0)
    with pytest.raises(ValueError, match="validation_size"):
        load_icbhi(synthetic_corpus, cache_dir=tmp_path, validation_size=1.5)


# --- errors raised while the examples are written surface as themselves (issue 10, case 6) ------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("num_proc", [None, 2], ids=["one-process", "two-processes"])
def test_nan_or_inf_audio_is_a_format_error_naming_the_wav(
    corpus_copy: Path, tmp_path: Path, bad: float, num_proc: int | None
) -> None:
    wav = _wav_files(corpus_copy)[2]
    samples, rate = sf.read(wav, dtype="float32")
    samples[len(samples) // 2] = bad
    sf.write(wav, samples, rate, subtype="FLOAT")
    with pytest.raises(CorpusFormatError, match="holds NaN or infinite samples") as error:
        load_icbhi(corpus_copy, cache_dir=tmp_path, num_proc=num_proc)
    assert str(wav) in str(error.value)
    assert error.value.path == wav
    assert not list(tmp_path.rglob("*.arrow"))


def test_cycle_shorter_than_one_sample_names_its_annotation_line(corpus_copy: Path, tmp_path: Path) -> None:
    wav = _wav_files(corpus_copy)[0]
    path, line, lines = _last_annotation_line(corpus_copy, wav)
    lines.append("1.00000\t1.00001\t0\t0")  # both ends round to the same sample at 16 kHz
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusFormatError, match=rf"{path.name}:{line + 1}: .*empty after resampling"):
        load_icbhi(corpus_copy, cache_dir=tmp_path)


def test_a_full_disk_names_the_cache_folder(
    synthetic_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from datasets.arrow_writer import ArrowWriter

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(ArrowWriter, "write", full_disk)
    with pytest.raises(OSError, match="No space left on device") as error:
        load_icbhi(synthetic_corpus, cache_dir=tmp_path / "cache")
    assert error.value.errno == errno.ENOSPC
    assert error.value.filename == str(tmp_path / "cache")
    assert not isinstance(error.value, datasets.exceptions.DatasetGenerationError)

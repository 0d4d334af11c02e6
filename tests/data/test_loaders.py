"""load_icbhi / load_kauh: unknown options refused in one line listing the valid ones; one cache for the same
options however they are passed; streaming."""

from __future__ import annotations

import itertools
from pathlib import Path

import datasets
import numpy as np
import pytest

from respira.data import load_icbhi, load_kauh


def _valid_options(message: str) -> set[str]:
    return set(message.split("valid options: ", 1)[1].split(", "))


def test_load_icbhi_refuses_an_unknown_option_before_reading_anything(
    synthetic_corpus: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(TypeError) as info:
        load_icbhi(synthetic_corpus, lowpas_cutoff=3000.0, cache_dir=cache)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(
        "load_icbhi() got unknown option(s) 'lowpas_cutoff' (did you mean lowpass_cutoff"
    )
    expected = {
        "config_name",
        "sampling_rate",
        "validation_size",
        "seed",
        "cache_dir",
        "num_proc",
        "streaming",
        "fold",
    }
    expected |= {
        "split_strategy",
        "patient_split_fractions",
        "stratify_by",
        "num_folds",
        "fold_stratify_by",
        "lowpass_cutoff",
        "lowpass_order",
        "held_out_device",
    }
    expected |= {"audio_subtype", "clip_tolerance"}
    assert _valid_options(message) == expected  # the internal input_fingerprint is not an option
    assert not cache.exists()


def test_load_kauh_refuses_icbhi_options(tmp_path: Path) -> None:
    with pytest.raises(TypeError) as info:
        load_kauh(tmp_path / "not even read", validation_size=0.2)
    message = str(info.value)
    assert message.startswith("load_kauh() got unknown option(s) 'validation_size';")
    assert _valid_options(message) == {
        "config_name", "sampling_rate", "cache_dir", "num_proc", "streaming",
        "lowpass_cutoff", "lowpass_order", "audio_subtype",
    }  # fmt: skip


def _samples(example: dict) -> np.ndarray:
    return example["audio"].get_all_samples().data.numpy()


def test_the_same_options_find_one_cache_however_they_are_passed(
    synthetic_corpus: Path, tmp_path: Path
) -> None:
    """As ``respira train`` after ``respira prepare``: defaults left out or given, an int for a float."""
    first = load_icbhi(synthetic_corpus, sampling_rate=4000, lowpass_cutoff=1000, cache_dir=tmp_path)
    again = load_icbhi(
        synthetic_corpus,
        sampling_rate=4000,
        lowpass_cutoff=1000.0,
        lowpass_order=4,
        split_strategy="official",
        validation_size=0,
        patient_split_fractions="0.6,0.2,0.2",
        seed=0,
        cache_dir=tmp_path,
    )
    assert [len(list(tmp_path.glob(f"icbhi/{config}-*"))) for config in ("cycles", "recordings")] == [1, 0]
    for split, part in first.items():
        assert again[split].cache_files == part.cache_files


def test_streaming_yields_the_examples_of_the_built_dataset(synthetic_corpus: Path, tmp_path: Path) -> None:
    options = {"validation_size": 0.25, "sampling_rate": 4000}
    built = load_icbhi(synthetic_corpus, cache_dir=tmp_path / "built", **options)
    streamed = load_icbhi(synthetic_corpus, cache_dir=tmp_path / "streamed", streaming=True, **options)
    assert isinstance(streamed, datasets.IterableDatasetDict)
    assert list(streamed) == list(built)
    for split, part in built.items():
        assert streamed[split].features == part.features
        rows = list(streamed[split])
        keys = [(row["recording"], row["cycle_index"]) for row in rows]
        assert keys == list(zip(part["recording"], part["cycle_index"], strict=True))
        assert [row["label"] for row in rows] == list(part["label"])
        for index in (0, len(rows) - 1):
            np.testing.assert_array_equal(_samples(rows[index]), _samples(part[index]))
    assert not list((tmp_path / "streamed").rglob("*.arrow"))  # nothing was written


def test_streaming_refuses_num_proc(synthetic_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="num_proc applies to building the cache"):
        load_icbhi(synthetic_corpus, cache_dir=tmp_path, streaming=True, num_proc=2)


def test_kauh_streams_the_built_recordings(shared_kauh: Path, tmp_path: Path) -> None:
    built = load_kauh(shared_kauh, sampling_rate=4000, cache_dir=tmp_path / "built")["test"]
    streamed = load_kauh(shared_kauh, sampling_rate=4000, streaming=True)["test"]
    assert streamed.features == built.features
    for index, row in enumerate(itertools.islice(streamed, 3)):
        assert row["recording"] == built[index]["recording"]
        np.testing.assert_array_equal(_samples(row), _samples(built[index]))

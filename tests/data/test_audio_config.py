"""AudioBuilderConfig: the audio options ICBHI and KAUH share, declared and checked once, without moving
any user's cache. The config ids below were recorded from the builders before the shared base existed
(each builder's config then declared its own audio fields); ``datasets`` names a build's cache folder
from them, so a change here re-builds every user's cached dataset."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest

from respira.data import icbhi, kauh
from respira.data.icbhi import ICBHIConfig
from respira.data.loaders import AudioBuilderConfig, builder_option_names

DATA_DIR = "/data/corpus"  # a nonexistent folder: the layout is faked, only its name reaches the id
FINGERPRINT = "d8b56d5179edd75a"
FILTERED = {"sampling_rate": 8000, "lowpass_cutoff": 2000.0, "lowpass_order": 6}


class _Layout:
    """Stands in for a located corpus: the builders read its fingerprint before any file."""

    def fingerprint(self) -> str:
        return FINGERPRINT


@pytest.mark.parametrize(
    ("builder", "options", "config_id"),
    [
        ("icbhi", {}, "cycles-8693b9dbdff7df66"),
        ("icbhi", {"lowpass_cutoff": 1000.0}, "cycles-b94fb6c407a24dca"),
        ("icbhi", {"sampling_rate": 8000}, "cycles-221fa202a0c108b9"),
        ("icbhi", FILTERED, "cycles-1ac3a64cce7ae5ee"),
        ("icbhi", {"config_name": "recordings", "audio_subtype": "PCM_16"}, "recordings-1272e6a7822043c2"),
        ("icbhi", {"split_strategy": "patient", "seed": 3}, "cycles-a403fb86730101d0"),
        ("kauh", {}, "recordings-8693b9dbdff7df66"),
        ("kauh", {"lowpass_cutoff": 1000.0}, "recordings-b94fb6c407a24dca"),
        ("kauh", {"sampling_rate": 8000}, "recordings-221fa202a0c108b9"),
        ("kauh", FILTERED, "recordings-1ac3a64cce7ae5ee"),
    ],
)  # fmt: skip
def test_config_ids_and_cache_folders_are_those_before_the_shared_base(
    builder: str, options: dict[str, Any], config_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    builder_class = icbhi.ICBHI if builder == "icbhi" else kauh.KAUH
    monkeypatch.setattr(builder_class, "LOCATE", staticmethod(lambda data_dir: _Layout()))  # its locate
    built = builder_class(data_dir=DATA_DIR, cache_dir=str(tmp_path), **options)
    assert built.config_id == config_id
    assert built._relative_data_dir() == f"{builder}/{config_id}/1.0.0"  # the cache folder under cache_dir


def test_the_shared_fields_are_declared_once_and_keep_kauhs_order() -> None:
    audio = ("sampling_rate", "lowpass_cutoff", "lowpass_order", "audio_subtype")
    shared = tuple(field.name for field in dataclasses.fields(AudioBuilderConfig))[-5:]
    assert shared == (*audio, "input_fingerprint")
    assert kauh.KAUH.BUILDER_CONFIG_CLASS is AudioBuilderConfig
    assert not {*audio, "input_fingerprint"} & set(inspect.get_annotations(ICBHIConfig))  # declared once
    assert "__post_init__" not in vars(ICBHIConfig)
    assert builder_option_names(AudioBuilderConfig) == audio
    assert set(builder_option_names(ICBHIConfig)) == {
        *audio, "split_strategy", "validation_size", "patient_split_fractions",
        "stratify_by", "num_folds", "fold_stratify_by", "seed", "clip_tolerance",
    }  # fmt: skip


@pytest.mark.parametrize("config", [ICBHIConfig, AudioBuilderConfig])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sampling_rate": 0}, "sampling_rate must be a whole number >= 1, got 0"),
        ({"sampling_rate": 16000.5}, "sampling_rate must be a whole number >= 1, got 16000.5"),
        ({"sampling_rate": "16k"}, "sampling_rate must be a whole number >= 1, got '16k'"),
        ({"sampling_rate": True}, "sampling_rate must be a whole number >= 1, got True"),
        ({"audio_subtype": "MP3"}, "audio_subtype must be one of ('FLOAT', 'PCM_16'), got 'MP3'"),
        ({"lowpass_order": 0}, "lowpass_order must be a whole number >= 1, got 0"),
        ({"lowpass_order": 2.5}, "lowpass_order must be a whole number >= 1, got 2.5"),
        (
            {"sampling_rate": 8000, "lowpass_cutoff": 4000.0},
            "lowpass_cutoff 4000.0 Hz must lie below the Nyquist frequency 4000.0 Hz of sampling_rate 8000",
        ),
    ],
)
def test_both_configs_refuse_a_bad_audio_option_in_the_same_words(
    config: type[AudioBuilderConfig], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        config(name="recordings", **options)
    assert str(info.value) == message


def test_a_whole_float_rate_is_the_int_rate() -> None:
    assert AudioBuilderConfig(name="recordings", sampling_rate=8000.0).sampling_rate == 8000
    assert isinstance(ICBHIConfig(name="cycles", sampling_rate=8000.0).sampling_rate, int)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0.6,0.2,0.2", (0.6, 0.2, 0.2)),
        (" 0.8 , 0 , 0.2 ", (0.8, 0.0, 0.2)),
        ([0.5, 0.25, 0.25], (0.5, 0.25, 0.25)),
    ],
)
def test_patient_split_fractions_read_as_a_recipe_writes_them_or_as_numbers(given, expected) -> None:
    config = ICBHIConfig(name="cycles", split_strategy="patient", patient_split_fractions=given)
    assert config.patient_split_fractions == expected


@pytest.mark.parametrize(
    "given", ["0.5,0.5", "0.5;0.25;0.25", "a,b,c", "0.6,-0.2,0.6", "nan,0.5,0.5", [0.5, None, 0.5]]
)
def test_bad_patient_split_fractions_are_one_line_naming_the_value(given) -> None:
    with pytest.raises(ValueError, match=r"^patient_split_fractions must be three numbers train,validation"):
        ICBHIConfig(name="cycles", split_strategy="patient", patient_split_fractions=given)


def test_patient_split_fractions_not_summing_to_one_are_refused_before_any_file_is_read() -> None:
    with pytest.raises(ValueError, match=r"^patient_split_fractions must sum to 1, got 0.6,0.2,0.1$"):
        ICBHIConfig(name="cycles", split_strategy="patient", patient_split_fractions="0.6,0.2,0.1")


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"split_strategy": "patient", "stratify_by": "bogus"}, "stratify_by"),
        ({"split_strategy": "patient", "stratify_by": "age"}, "stratify_by"),  # numeric: no strata
        ({"split_strategy": "patient_kfold", "fold_stratify_by": "start"}, "fold_stratify_by"),
    ],
)
def test_a_split_stratified_by_no_categorical_column_is_refused_before_reading(options, name) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a categorical column of the index \(chest_"):
        ICBHIConfig(name="cycles", **options)
    kfold = ICBHIConfig(name="cycles", split_strategy="patient_kfold", fold_stratify_by="device")
    assert kfold.fold_stratify_by == "device"

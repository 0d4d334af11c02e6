"""respira's augmentations on libraries: Signalsmith Stretch (``python-stretch``) against the phase vocoder
it replaced, and audiomentations transforms run by the Trainer's augmentation step, seeded per example."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import scipy.signal

from respira.audio import read_audio
from respira.data.text_files import read_annotations
from respira.training import RespiraTrainer, RespiraTrainingArguments
from respira.training.augment import AudiomentationsTransform, Compose, TimeStretch, build_augmentation

from .conftest import tiny_model
from .phase_vocoder_reference import phase_vocoder

RATE = 16_000


def _log_spectrum(signal: np.ndarray) -> np.ndarray:
    """Long-term log power spectrum (Welch, 1024-point segments) over 50-1500 Hz, mean removed: the band
    every ICBHI device records (as in tests/audio/test_librosa_reference.py)."""
    frequencies, power = scipy.signal.welch(signal.astype(np.float64), fs=RATE, nperseg=1024)
    spectrum = np.log(power[(frequencies >= 50) & (frequencies <= 1500)] + 1e-12)
    return spectrum - spectrum.mean()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_log_spectrum(a), _log_spectrum(b))[0, 1])


@pytest.fixture(scope="module")
def long_cycles(shared_icbhi: Path) -> list[np.ndarray]:
    """Every annotated cycle of at least 7 s in the real sample, at 16 kHz (the longest ones: a long-term
    spectrum of a 2-s cycle is too noisy to compare two stretchers by)."""
    cycles = []
    for wav in sorted((shared_icbhi / "ICBHI_final_database").glob("*.wav")):
        kept = [c for c in read_annotations(wav.with_suffix(".txt")) if c.end - c.start >= 7.0]
        if kept:
            recording = read_audio(wav, RATE)
            cycles += [recording[round(c.start * RATE) : round(c.end * RATE)] for c in kept]
    assert cycles, "no cycle of 7 s or more in the sample"
    return cycles


@pytest.mark.real_data
def test_library_stretch_gives_the_former_phase_vocoder_s_spectra(long_cycles: list[np.ndarray]) -> None:
    librosa = pytest.importorskip("librosa", reason="librosa is a dev extra: pip install -e '.[dev]'")
    correlations, librosa_correlations = [], []
    for cycle in long_cycles:
        for rate in (0.8, 1.2):
            old = phase_vocoder(cycle, rate)
            new = TimeStretch(rate=(rate, rate), probability=1.0)(cycle, np.random.default_rng(0))
            assert new.size == old.size == round(cycle.size / rate)
            correlations.append(_correlation(new, old))
            librosa_correlations.append(_correlation(librosa.effects.time_stretch(cycle, rate=rate), old))
    # measured: 0.988-0.9992, median 0.998 (the library is as close to the old output as librosa is)
    assert min(correlations) > 0.985
    assert np.median(correlations) > 0.996
    assert np.mean(correlations) >= np.mean(librosa_correlations) - 0.001


class _GlobalRandomGain:
    """Draws like an audiomentations transform (Python's random and NumPy's global generator) and
    records the sampling rates it is given."""

    def __init__(self) -> None:
        self.rates: list[int] = []

    def randomize_parameters(self, samples: np.ndarray, sample_rate: int) -> None:
        pass

    def freeze_parameters(self) -> None:
        pass

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        self.rates.append(sample_rate)
        return samples * random.uniform(0.5, 2.0) + np.random.normal(0.0, 0.01, samples.size)


def test_audiomentations_style_transform_is_seeded_per_example_and_leaves_global_state() -> None:
    transform = _GlobalRandomGain()
    augment = build_augmentation(transform, sampling_rate=8000)
    assert isinstance(augment, Compose) and isinstance(augment.transforms[0], AudiomentationsTransform)
    x = np.sin(np.arange(800) / 10).astype(np.float32)
    random.seed(123)
    np.random.seed(123)
    expected_python, expected_numpy = random.random(), np.random.random()
    random.seed(123)
    np.random.seed(123)
    first = augment(x, np.random.default_rng(1))
    again = augment(x, np.random.default_rng(1))
    other = augment(x, np.random.default_rng(2))
    assert (random.random(), np.random.random()) == (expected_python, expected_numpy)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert transform.rates == [8000] * 3
    with pytest.raises(TypeError, match="audiomentations"):
        AudiomentationsTransform(lambda samples, sample_rate: samples, 8000)
    with pytest.raises(ValueError, match="sampling_rate"):
        AudiomentationsTransform(transform, 0)


def test_real_audiomentations_compose_is_reproducible() -> None:
    audiomentations = pytest.importorskip("audiomentations", reason="audiomentations is not installed")
    compose = audiomentations.Compose(
        [
            audiomentations.AddGaussianNoise(p=1.0),
            audiomentations.Gain(p=1.0),
            audiomentations.TimeStretch(p=1.0, leave_length_unchanged=False),
        ]
    )
    augment = build_augmentation(compose, sampling_rate=RATE)
    x = np.sin(np.arange(RATE) / 7).astype(np.float32)
    first, again = augment(x, np.random.default_rng(5)), augment(x, np.random.default_rng(5))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, augment(x, np.random.default_rng(6)))


def test_trainer_applies_an_audiomentations_transform_given_in_python(icbhi_splits, tmp_path: Path) -> None:
    transform = _GlobalRandomGain()
    args = RespiraTrainingArguments(
        output_dir=str(tmp_path / "run"),
        augmentation=transform,
        per_device_train_batch_size=8,
        max_steps=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        dataloader_drop_last=True,
    )
    assert "_GlobalRandomGain" in args.to_json_string()  # logged as its text, not a JSON error
    trainer = RespiraTrainer(tiny_model(), args, icbhi_splits["train"])
    collator = trainer.data_collator
    example = icbhi_splits["train"][0]
    augmented = collator.waveform(example)
    np.testing.assert_array_equal(augmented, collator.waveform(example))  # seeded by the example
    collator.training = False
    assert not np.allclose(collator.waveform(example), augmented)
    collator.training = True
    transform.rates.clear()
    trainer.train()
    assert len(transform.rates) >= 2 * 8  # every example of both steps (the loader may fetch one more batch)
    assert set(transform.rates) == {trainer.model.config.sampling_rate}
    with pytest.raises(ValueError, match="audiomentations transform"):
        RespiraTrainingArguments(output_dir=str(tmp_path / "other"), augmentation=lambda x, rng: x)

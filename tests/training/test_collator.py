"""Tests for respira.training.collator: waveform augmentations, same-label concatenation, Patch-Mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from respira.cli import main
from respira.losses import apply_patch_mix, patch_mix_plan
from respira.training.collator import (
    AUGMENTATIONS,
    Compose,
    Gain,
    SameLabelConcat,
    TimeShift,
    TimeStretch,
    WhiteNoise,
    build_augmentation,
    stretch,
)

SR = 16_000


def sine(frequency: float = 500.0, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def dominant_frequency(waveform: np.ndarray) -> float:
    """FFT peak (Hann window, 8x zero padding: 0.125 Hz bins on 1 s)."""
    n = waveform.size
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(n), n=8 * n))
    return float(np.argmax(spectrum) * SR / (8 * n))


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


ALWAYS = [
    WhiteNoise(probability=1.0),
    Gain(probability=1.0),
    TimeShift(probability=1.0),
    TimeStretch(probability=1.0),
]


@pytest.mark.parametrize("augmentation", ALWAYS, ids=repr)
def test_same_seed_same_output_different_seed_differs(augmentation) -> None:
    x = np.random.default_rng(123).standard_normal(4000).astype(np.float32)
    first, again, other = augmentation(x, rng(1)), augmentation(x, rng(1)), augmentation(x, rng(2))
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_compose_is_deterministic_and_applies_in_order() -> None:
    x = sine(seconds=0.5)
    compose = Compose([Gain(db=(6, 6), probability=1.0), TimeShift(max_fraction=0.0, probability=1.0)])
    np.testing.assert_allclose(compose(x, rng(0)), x * 10 ** (6 / 20), rtol=1e-6)
    full = Compose(ALWAYS)
    np.testing.assert_array_equal(full(x, rng(5)), full(x, rng(5)))
    assert not np.array_equal(full(x, rng(5)), full(x, rng(6)))


def test_probability_zero_is_identity_and_input_untouched() -> None:
    x = sine(seconds=0.25)
    before = x.copy()
    for augmentation in ALWAYS:
        skipped = type(augmentation)(probability=0.0)
        np.testing.assert_array_equal(skipped(x, rng(0)), x)
        augmentation(x, rng(0))
    np.testing.assert_array_equal(x, before)


def test_probability_is_respected() -> None:
    gain = Gain(db=(6, 6), probability=0.3)
    generator = rng(0)
    x = np.ones(8, dtype=np.float32)
    applied = sum(gain(x, generator)[0] != 1.0 for _ in range(2000))
    assert 500 < applied < 700


def test_white_noise_snr_in_range() -> None:
    x = sine(seconds=2.0)
    low, high = 15.0, 40.0
    measured = []
    for seed in range(20):
        y = WhiteNoise(snr_db=(low, high), probability=1.0)(x, rng(seed))
        noise = y.astype(np.float64) - x
        measured.append(10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2)))
    assert low - 0.2 <= min(measured) and max(measured) <= high + 0.2
    assert max(measured) - min(measured) > 5  # actually drawn from the range, not a constant
    fixed = WhiteNoise(snr_db=(25, 25), probability=1.0)(x, rng(0)).astype(np.float64) - x
    assert 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(fixed**2)) == pytest.approx(25, abs=0.2)


def test_white_noise_on_silence_is_finite() -> None:
    y = WhiteNoise(probability=1.0)(np.zeros(1000, dtype=np.float32), rng(0))
    assert y.shape == (1000,)
    assert np.all(np.isfinite(y))


def test_gain_ratio_in_range() -> None:
    x = sine(seconds=0.1) + 0.6
    ratios_db = []
    for seed in range(20):
        y = Gain(db=(-6, 6), probability=1.0)(x, rng(seed))
        ratio = y / x
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
        ratios_db.append(20 * np.log10(ratio[0]))
    assert min(ratios_db) >= -6 - 1e-4 and max(ratios_db) <= 6 + 1e-4
    assert max(ratios_db) - min(ratios_db) > 3
    y = Gain(db=(-6, -6), probability=1.0)(x, rng(0))
    np.testing.assert_allclose(y, x * 10 ** (-6 / 20), rtol=1e-6)


def test_time_shift_roll_preserves_samples() -> None:
    x = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
    shifted = [TimeShift(max_fraction=0.2, probability=1.0)(x, rng(seed)) for seed in range(10)]
    for y in shifted:
        np.testing.assert_array_equal(np.sort(y), np.sort(x))
        shift = int(np.argmax([np.array_equal(np.roll(x, s), y) for s in range(-200, 201)])) - 200
        np.testing.assert_array_equal(np.roll(x, shift), y)
    assert any(not np.array_equal(y, x) for y in shifted)


@pytest.mark.parametrize("rate", [0.8, 1.0, 1.2])
def test_time_stretch_length_and_frequency(rate: float) -> None:
    x = sine(500.0, seconds=1.0)
    y = TimeStretch(rate=(rate, rate), probability=1.0)(x, rng(0))
    assert abs(y.size - x.size / rate) <= 128  # one hop; in fact exactly round(len / rate)
    assert y.size == round(x.size / rate)
    assert dominant_frequency(y) == pytest.approx(500.0, abs=3.0)
    middle = y[1000:-1000]  # steady tone keeps its level (phase locking)
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.03)


def test_stretch_at_rate_one_keeps_a_tone() -> None:
    x = sine(500.0, seconds=1.0)
    y = stretch(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y[2000:-2000], x[2000:-2000], atol=0.02)  # aligned: no latency left


@pytest.mark.parametrize("length", [0, 1, 37, 300])
def test_short_cycles_survive(length: int) -> None:
    x = np.random.default_rng(0).standard_normal(length).astype(np.float32)
    for augmentation in ALWAYS:
        y = augmentation(x, rng(0))
        assert np.all(np.isfinite(y))
        if not isinstance(augmentation, TimeStretch):
            assert y.shape == x.shape


def wheeze_pool():
    cycles = {
        0: [np.full(500, 10.0, dtype=np.float32)],
        2: [np.full(400, 2.0, dtype=np.float32), np.full(600, 2.0, dtype=np.float32)],
    }

    def pool(label: int, generator: np.random.Generator) -> np.ndarray | None:
        own = cycles.get(label, [])
        return own[int(generator.integers(len(own)))] if own else None

    return pool


def test_same_label_concat_appends_same_label_only() -> None:
    concat = SameLabelConcat(wheeze_pool(), probability=1.0, crossfade_ms=10)  # 160 samples
    x = np.ones(1000, dtype=np.float32)
    lengths = set()
    for seed in range(10):
        y = concat(x, 2, rng(seed))
        lengths.add(y.size)
        np.testing.assert_array_equal(y[:840], 1.0)
        np.testing.assert_allclose(y[1000:], 2.0)  # the appended cycle is a wheeze, never the 10.0 normal one
        assert np.all(y <= 2.0 * np.sqrt(2) + 1e-5)
    assert lengths == {1000 + 400 - 160, 1000 + 600 - 160}


def test_same_label_concat_class_filter_probability_and_max_length() -> None:
    x = np.ones(1000, dtype=np.float32)
    always = SameLabelConcat(wheeze_pool(), probability=1.0)
    np.testing.assert_array_equal(always(x, 0, rng(0)), x)  # normal is not in classes=(2,)
    np.testing.assert_array_equal(always(x, 1, rng(0)), x)  # no pool, not in classes
    every_class = SameLabelConcat(wheeze_pool(), probability=1.0, classes=None, crossfade_ms=0)
    y = every_class(x, 0, rng(0))
    np.testing.assert_array_equal(y, np.concatenate([x, np.full(500, 10.0)]))
    never = SameLabelConcat(wheeze_pool(), probability=0.0)
    np.testing.assert_array_equal(never(x, 2, rng(0)), x)
    capped = SameLabelConcat(wheeze_pool(), probability=1.0, max_seconds=0.075, sampling_rate=SR)
    assert capped(x, 2, rng(0)).size == 1200
    assert capped(np.ones(1500, dtype=np.float32), 2, rng(0)).size == 1500  # already too long: unchanged


def test_same_label_concat_with_callable_pool() -> None:
    asked = []

    def pool(label: int, generator: np.random.Generator) -> np.ndarray:
        asked.append(label)
        return np.full(200, float(label), dtype=np.float32)

    concat = SameLabelConcat(pool, probability=1.0, classes=(1, 2, 3), crossfade_ms=0)
    for label in (1, 2, 3, 0):
        concat(np.ones(100, dtype=np.float32), label, rng(0))
    assert asked == [1, 2, 3]
    np.testing.assert_array_equal(concat(np.ones(100, dtype=np.float32), 3, rng(0))[100:], 3.0)


def test_build_augmentation_from_dict() -> None:
    spec = {
        "white_noise": {"snr_db": [20, 40], "probability": 0.5},
        "gain": {"db": [-3, 3]},
        "time_shift": {"max_fraction": 0.1},
        "time_stretch": None,
    }
    compose = build_augmentation(spec)
    assert isinstance(compose, Compose)
    assert [type(t) for t in compose.transforms] == [WhiteNoise, Gain, TimeShift, TimeStretch]
    noise, gain, shift, stretch = compose.transforms
    assert noise.snr_db == (20.0, 40.0) and noise.probability == 0.5
    assert gain.db == (-3.0, 3.0)
    assert shift.max_fraction == 0.1
    assert stretch == TimeStretch()
    assert build_augmentation(None) is None and build_augmentation({}) is None
    x = sine(seconds=0.3)
    np.testing.assert_array_equal(compose(x, rng(3)), compose(x, rng(3)))


def test_build_augmentation_errors() -> None:
    with pytest.raises(ValueError, match="reverb") as error:
        build_augmentation({"reverb": {}})
    assert all(name in str(error.value) for name in AUGMENTATIONS)
    with pytest.raises(ValueError, match="snr"):
        build_augmentation({"white_noise": {"snr": [10, 20]}})
    with pytest.raises(ValueError, match="snr_db"):
        build_augmentation({"white_noise": {"snr_db": [40, 20]}})
    with pytest.raises(ValueError, match="probability"):
        build_augmentation({"gain": {"probability": 1.5}})
    with pytest.raises(ValueError, match="max_fraction"):
        build_augmentation({"time_shift": {"max_fraction": 1.0}})
    with pytest.raises(ValueError, match="rate"):
        build_augmentation({"time_stretch": {"rate": [0, 1.2]}})
    with pytest.raises(ValueError, match="pitch_shift"):
        build_augmentation({"pitch_shift": {}})


def test_patch_mix_plan_and_apply() -> None:
    permutation, mask, lam = patch_mix_plan(6, 50, generator=torch.Generator().manual_seed(0))
    assert sorted(permutation.tolist()) == list(range(6))
    assert mask.dtype == torch.bool and mask.shape == (50,)
    assert lam == mask.sum().item() / 50
    again = patch_mix_plan(6, 50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0], permutation) and torch.equal(again[1], mask) and again[2] == lam
    lams = [patch_mix_plan(4, 10, generator=torch.Generator().manual_seed(s))[2] for s in range(20)]
    assert all(0 <= value <= 1 and value * 10 == round(value * 10) for value in lams)

    patches = torch.randn(6, 50, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    mixed = apply_patch_mix(patches, permutation, mask)
    assert torch.equal(mixed[:, mask], patches[permutation][:, mask])
    assert torch.equal(mixed[:, ~mask], patches[:, ~mask])
    per_sample = torch.rand(6, 50, generator=torch.Generator().manual_seed(1)) < 0.3
    mixed = apply_patch_mix(patches, permutation, per_sample)
    for i in range(6):
        assert torch.equal(mixed[i, per_sample[i]], patches[permutation[i], per_sample[i]])
        assert torch.equal(mixed[i, ~per_sample[i]], patches[i, ~per_sample[i]])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('{"reverb": {}}', "unknown augmentation 'reverb'"),
        ('{"time_stretch": {"rate": [0, 1.2]}}', "'time_stretch': rate must be positive"),
        ('{"gain": {"db": [6, -6]}}', "'gain': db must be a [low, high] pair"),
    ],
)
def test_a_bad_augmentation_fails_in_one_line_before_any_work(
    spec: str, message: str, synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, cache = tmp_path / "run", tmp_path / "cache"
    code = main(
        ["train", "--encoder", "cnn", "--data_dir", str(synthetic_corpus), "--augmentation", spec,
         "--output_dir", str(output), "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err, captured.err
    assert "training" not in captured.out  # refused before the data was built
    assert not output.exists() and not cache.exists()

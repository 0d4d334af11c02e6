"""Tests for respira.models.features: Kaldi fbank, log-mel, fixed length and SpecAugment (the EfficientAT
mel: test_efficientat.py).

The Kaldi fbank is checked two ways: against ``transformers.ASTFeatureExtractor`` (what AST
checkpoints were trained with) and against a deliberately naive per-frame implementation written
here in float64 numpy, for every window type. Both computation paths of the fbank and the log-mel
(the hand-written inference kernel and the plain torch path used for gradients and export) face
the same references.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
from transformers import ASTFeatureExtractor

from respira.models.respira.featurizer import SpecAugment, _fit_whole_rows, fit_to_length
from respira.models.respira.filterbanks import (
    AST_NORMALIZATION,
    BEATS_NORMALIZATION,
    KaldiFbank,
    LogMelSpectrogram,
)

RATE = 16000
MAX_SECONDS = 8
FLOAT32_EPS = float(np.finfo(np.float32).eps)
WINDOWS = ("povey", "hanning")
PATHS = [pytest.param(False, id="kernel"), pytest.param(True, id="plain")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------------------------
# audio: real ICBHI cycles (skip without ../shared) and a synthetic-corpus cycle (always)


def _read_cycles(wav: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` annotated cycles of a recording, mono, resampled to 16 kHz, at most 8 s."""
    samples, rate = sf.read(wav, dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)
    annotations = np.atleast_2d(np.loadtxt(wav.with_suffix(".txt")))
    cycles = []
    for start, end, *_flags in annotations[:count]:
        cycle = samples[int(start * rate) : int(end * rate)]
        cycle = soxr.resample(cycle, rate, RATE, quality="HQ").astype(np.float32)
        cycles.append(np.ascontiguousarray(cycle[: MAX_SECONDS * RATE]))
    return cycles


def _one_recording_per_rate(database: Path) -> list[Path]:
    chosen: dict[int, Path] = {}
    for wav in sorted(database.glob("*.wav")):
        chosen.setdefault(sf.info(wav).samplerate, wav)
    return [chosen[rate] for rate in sorted(chosen)]


@pytest.fixture(scope="module")
def icbhi_cycles(shared_icbhi: Path) -> list[np.ndarray]:
    """Two real cycles from each of three recordings (4 kHz, 10 kHz and 44.1 kHz originals)."""
    wavs = _one_recording_per_rate(shared_icbhi / "ICBHI_final_database")
    assert {sf.info(w).samplerate for w in wavs} >= {4000, 10000, 44100}, wavs
    return [cycle for wav in wavs for cycle in _read_cycles(wav, 2)]


@pytest.fixture(scope="module")
def synthetic_cycles(synthetic_corpus: Path) -> list[np.ndarray]:
    wavs = _one_recording_per_rate(synthetic_corpus / "ICBHI_final_database")
    return [_read_cycles(wav, 1)[0] for wav in wavs]


@pytest.fixture(params=["synthetic", "icbhi"])
def cycles(request: pytest.FixtureRequest) -> list[np.ndarray]:
    """Synthetic cycles always; real ICBHI cycles when ../shared is present (skipped otherwise)."""
    return request.getfixturevalue(f"{request.param}_cycles")


# ----------------------------------------------------------------------------------------------
# a naive, per-frame Kaldi fbank (float64), independent of the library's vectorised version


def _kaldi_mel(frequency: np.ndarray | float) -> np.ndarray | float:
    return 1127.0 * np.log(1.0 + np.asarray(frequency) / 700.0)


def reference_mel_banks(num_bins: int = 128, n_fft: int = 512, rate: int = RATE) -> np.ndarray:
    """Kaldi triangles, evenly spaced on the mel scale from 20 Hz to Nyquist; Nyquist bin left at 0."""
    low, high = _kaldi_mel(20.0), _kaldi_mel(rate / 2)
    step = (high - low) / (num_bins + 1)
    banks = np.zeros((num_bins, n_fft // 2 + 1))
    bin_mels = _kaldi_mel(np.arange(n_fft // 2) * rate / n_fft)
    for m in range(num_bins):
        left, center, right = low + m * step, low + (m + 1) * step, low + (m + 2) * step
        rising = (bin_mels > left) & (bin_mels <= center)
        falling = (bin_mels > center) & (bin_mels < right)
        banks[m, : n_fft // 2][rising] = (bin_mels[rising] - left) / (center - left)
        banks[m, : n_fft // 2][falling] = (right - bin_mels[falling]) / (right - center)
    return banks


def reference_window(kind: str, length: int = 400) -> np.ndarray:
    n = np.arange(length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / (length - 1))
    return {"povey": hann**0.85, "hanning": hann}[kind]


def reference_fbank(
    waveform: np.ndarray, window: str, banks: np.ndarray, preemphasis: float = 0.97
) -> np.ndarray:
    """Frame by frame: 400-sample frames every 160, DC removal, pre-emphasis (first sample against
    itself), window, zero-pad to 512, |rfft|², mel banks, log(max(·, float32 eps))."""
    x = np.asarray(waveform, dtype=np.float64)
    w = reference_window(window)
    rows = []
    for start in range(0, len(x) - 400 + 1, 160):
        frame = x[start : start + 400].copy()
        frame -= frame.mean()
        emphasised = np.empty_like(frame)
        emphasised[0] = frame[0] - preemphasis * frame[0]
        emphasised[1:] = frame[1:] - preemphasis * frame[:-1]
        power = np.abs(np.fft.rfft(emphasised * w, n=512)) ** 2
        rows.append(np.log(np.maximum(banks @ power, FLOAT32_EPS)))
    return np.stack(rows)


@pytest.fixture(scope="module")
def banks() -> np.ndarray:
    """The reference banks at the library's storage precision (float32)."""
    return reference_mel_banks().astype(np.float32).astype(np.float64)


@pytest.fixture(scope="module")
def reference(banks: np.ndarray) -> Callable[[np.ndarray, str], np.ndarray]:
    """``reference(cycle, window)``, memoised: several tests compare against the same frames."""
    cache: dict[tuple[int, str], np.ndarray] = {}
    keep_alive: list[np.ndarray] = []

    def compute(cycle: np.ndarray, window: str) -> np.ndarray:
        key = (id(cycle), window)
        if key not in cache:
            keep_alive.append(cycle)
            cache[key] = reference_fbank(cycle, window, banks)
        return cache[key]

    return compute


def _loud_cells(reference: np.ndarray, dynamic_range_db: float = 40.0) -> np.ndarray:
    """Cells within ``dynamic_range_db`` of their frame's loudest band (where float32 is meaningful)."""
    return reference >= reference.max(axis=1, keepdims=True) - dynamic_range_db / 10 * math.log(10)


# ----------------------------------------------------------------------------------------------
# KaldiFbank


@pytest.mark.filterwarnings("ignore:At least one mel filter has all zero values")  # its Kaldi banks
@pytest.mark.parametrize("plain", PATHS)
def test_ast_fbank_matches_ast_feature_extractor(cycles: list[np.ndarray], plain: bool) -> None:
    extractor = ASTFeatureExtractor()
    fbank = KaldiFbank(window="hanning", normalization=AST_NORMALIZATION)
    for cycle in cycles:
        expected = extractor(cycle, sampling_rate=RATE, return_tensors="np")["input_values"][0]
        frames = fbank.frames_for(len(cycle))
        assert frames == (len(cycle) - 400) // 160 + 1
        ours = fbank(torch.from_numpy(cycle)[None], plain=plain)[0].numpy()
        assert ours.shape == (frames, 128)
        np.testing.assert_allclose(ours, expected[:frames], rtol=0, atol=1e-3)


def test_fbank_batched_equals_one_by_one(cycles: list[np.ndarray]) -> None:
    length = min(len(c) for c in cycles)
    batch = torch.from_numpy(np.stack([c[:length] for c in cycles]))
    fbank = KaldiFbank(window="hanning", normalization=AST_NORMALIZATION)
    fbank.max_frames_per_chunk = 2 * fbank.frames_for(length)  # several chunks of two rows
    batched = fbank(batch)
    for row, waveform in zip(batched, batch, strict=True):
        torch.testing.assert_close(row, fbank(waveform[None])[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("plain", PATHS)
@pytest.mark.parametrize("window", WINDOWS)
def test_fbank_algorithm_equals_naive_reference_in_float64(
    window: str, plain: bool, cycles: list[np.ndarray], reference: Callable
) -> None:
    """In float64 with the exact window, both paths must equal the per-frame algorithm exactly: the
    kernel's rewrite (global pre-emphasis, DC term) as much as the plain path's frame-by-frame recipe."""
    fbank = KaldiFbank(window=window).double()
    fbank.window.copy_(torch.from_numpy(reference_window(window)))
    for cycle in cycles:
        ours = fbank(torch.from_numpy(cycle).double()[None], plain=plain)[0].numpy()
        np.testing.assert_allclose(ours, reference(cycle, window), rtol=0, atol=1e-6)


@pytest.mark.parametrize("plain", PATHS)
@pytest.mark.parametrize("window", WINDOWS)
def test_fbank_float32_close_to_naive_reference(
    window: str, plain: bool, cycles: list[np.ndarray], reference: Callable
) -> None:
    """End to end in float32 (the stored float32 window) against the float64 reference.

    Bands more than ~40 dB below a frame's loudest band (e.g. above 2 kHz in a cycle recorded at
    4 kHz) hold little more than float32 rounding noise of the power spectrum, where a log has no
    fixed absolute accuracy (differences up to ~1e-3 there); elsewhere the match is ~1e-4.
    """
    fbank = KaldiFbank(window=window)
    np.testing.assert_allclose(fbank.window.double().numpy(), reference_window(window), atol=5e-7)
    for cycle in cycles:
        expected = reference(cycle, window)
        ours = fbank(torch.from_numpy(cycle)[None], plain=plain)[0].double().numpy()
        difference = np.abs(ours - expected)
        loud = _loud_cells(expected)
        assert loud.mean() > 0.3
        assert difference[loud].max() < 1e-3, (window, difference[loud].max())
        assert np.median(difference) < 1e-5, (window, np.median(difference))


@pytest.mark.parametrize("plain", PATHS)
def test_beats_normalisation(
    cycles: list[np.ndarray], banks: np.ndarray, reference: Callable, plain: bool
) -> None:
    """BEATs: waveform × 2^15 before the (Povey) fbank, ``(x - 15.41663) / (2 · 6.55582)`` after."""
    assert BEATS_NORMALIZATION.waveform_scale == 2.0**15
    fbank = KaldiFbank(window="povey", normalization=BEATS_NORMALIZATION)
    for cycle in cycles[:2]:
        raw = reference_fbank(cycle * 2.0**15, "povey", banks)
        expected = (raw - 15.41663) / (2 * 6.55582)
        ours = fbank(torch.from_numpy(cycle)[None], plain=plain)[0].double().numpy()
        difference = np.abs(ours - expected)
        loud = _loud_cells(raw)
        assert difference[loud].max() < 1e-3 / (2 * 6.55582)
        assert difference[loud].mean() < 1e-5 / (2 * 6.55582)
        unscaled = reference(cycle, "povey")
        shift = np.median((expected - (unscaled - 15.41663) / (2 * 6.55582))[_loud_cells(unscaled)])
        # the scale multiplies the power by 2^30
        assert abs(shift - 2 * math.log(2.0**15) / (2 * 6.55582)) < 1e-3


@pytest.mark.parametrize("plain", PATHS)
def test_ast_normalisation_constants(plain: bool) -> None:
    silence = torch.zeros(1, RATE)
    out = KaldiFbank(normalization=AST_NORMALIZATION)(silence, plain=plain)
    expected = (math.log(FLOAT32_EPS) + 4.2677393) / (2 * 4.5689974)
    torch.testing.assert_close(out, torch.full_like(out, expected))


@pytest.mark.parametrize("plain", PATHS)
def test_fbank_rejects_bad_shapes(plain: bool) -> None:
    fbank = KaldiFbank()
    with pytest.raises(ValueError, match="batch, samples"):
        fbank(torch.zeros(RATE), plain=plain)
    with pytest.raises(ValueError, match="shorter than one"):
        fbank(torch.zeros(1, 399), plain=plain)
    assert fbank.frames_for(399) == 0
    assert fbank.frames_for(400) == 1
    assert fbank.frames_for(torch.tensor([399, 400, 560, 16000])).tolist() == [0, 1, 2, 98]


# ----------------------------------------------------------------------------------------------
# LogMelSpectrogram (the CNN's input)


def _slaney_mel(frequency: float) -> float:
    if frequency < 1000:
        return 3 * frequency / 200
    return 15 + 27 * math.log(frequency / 1000) / math.log(6.4)


def _slaney_hz(mel: float) -> float:
    if mel < 15:
        return 200 * mel / 3
    return 1000 * math.exp((mel - 15) * math.log(6.4) / 27)


@pytest.mark.parametrize("plain", PATHS)
def test_log_mel_shape_and_frames(plain: bool) -> None:
    log_mel = LogMelSpectrogram()
    for n in (300, RATE, RATE + 255, RATE + 256, 5 * RATE):  # 300: too short to reflect-pad
        out = log_mel(torch.randn(2, n), plain=plain)
        assert out.shape == (2, n // 256 + 1, 64)
        assert log_mel.frames_for(n) == n // 256 + 1
    assert log_mel.frames_for(torch.tensor([256, 511])).tolist() == [2, 2]


@pytest.mark.parametrize("plain", PATHS)
def test_log_mel_equals_numpy_stft(plain: bool) -> None:
    """Centred (reflect-padded) STFT, periodic Hann, power, Slaney mel, log(x + 1e-6)."""
    from transformers.audio_utils import mel_filter_bank

    rng = np.random.default_rng(0)
    x = rng.standard_normal(RATE).astype(np.float32) * 0.1
    padded = np.pad(x.astype(np.float64), 512, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    frames = np.stack([padded[i : i + 1024] * window for i in range(0, len(x) + 1, 256)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    banks = mel_filter_bank(513, 64, 0.0, 8000.0, RATE, norm="slaney", mel_scale="slaney")
    expected = np.log(power @ banks + 1e-6)
    ours = LogMelSpectrogram()(torch.from_numpy(x)[None], plain=plain)[0].double().numpy()
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("band", [5, 20, 40, 58])
def test_log_mel_pure_tone_lands_in_its_band(band: int) -> None:
    """A tone at a band's centre frequency (Slaney scale, 64 bands, 0-8 kHz) peaks in that band."""
    top = _slaney_mel(RATE / 2)
    frequency = _slaney_hz((band + 1) * top / 65)
    t = np.arange(RATE) / RATE
    tone = torch.from_numpy(np.sin(2 * np.pi * frequency * t).astype(np.float32))[None]
    energy = LogMelSpectrogram()(tone)[0, 4:-4].mean(dim=0)  # skip the reflect-padded edges
    assert int(energy.argmax()) == band, (frequency, energy.argmax())
    far = torch.cat([energy[: max(band - 3, 0)], energy[band + 4 :]])
    assert energy[band] - far.max() > math.log(100)  # > 20 dB above every band 4+ away


# ----------------------------------------------------------------------------------------------
# fit_to_length


def test_repeat_pad_tiles_and_fades_only_at_seams() -> None:
    length, target, fade = 100, 350, 10
    ones = torch.ones(1, length)
    gain, valid = fit_to_length(ones, torch.tensor([length]), target, pad_mode="repeat", fade=fade)
    gain = gain[0]
    assert gain.shape == (target,) and valid.tolist() == [target]
    seams = [100, 200, 300]
    faded = torch.zeros(target, dtype=torch.bool)
    for seam in seams:
        down, up = gain[seam - fade : seam], gain[seam : seam + fade]
        assert (down.diff() < 0).all() and (up.diff() > 0).all()  # ramps, not steps
        assert down.min() > 0 and down.max() < 1 and up.min() > 0 and up.max() < 1
        faded[seam - fade : seam + fade] = True
    assert (gain[~faded] == 1).all()  # first copy's start and every stretch between seams untouched
    assert gain[: length - fade].eq(1).all()

    signal = torch.randn(length)
    out, _ = fit_to_length(signal[None], torch.tensor([length]), target, pad_mode="repeat", fade=fade)
    tiled = signal.repeat(4)[:target]
    torch.testing.assert_close(out[0], tiled * gain)
    plain, _ = fit_to_length(signal[None], torch.tensor([length]), target, pad_mode="repeat", fade=0)
    torch.testing.assert_close(plain[0], tiled)


def test_fit_to_length_leaves_a_batch_that_already_fits_alone() -> None:
    waveforms = torch.randn(3, 100)
    out, valid = fit_to_length(waveforms, torch.tensor([100, 100, 100]), 100)
    assert out.data_ptr() == waveforms.data_ptr() and valid.tolist() == [100, 100, 100]
    out, valid = fit_to_length(waveforms, torch.tensor([100, 60, 100]), 100, pad_mode="zero")
    assert valid.tolist() == [100, 60, 100] and (out[1, 60:] == 0).all()


@pytest.mark.parametrize("samples", [37, 100, 260])
@pytest.mark.parametrize(
    "options",
    [{"pad_mode": "repeat", "fade": 8}, {"pad_mode": "zero"}, {"pad_mode": "repeat"}],
)
def test_whole_rows_give_the_same_batch_eagerly_and_as_exported(samples: int, options: dict) -> None:
    """``lengths=None`` runs the row loop eagerly (a batch that fits passes through uncopied) and the
    loop-free :func:`_fit_whole_rows` when traced for export: both give the same batch."""
    waveforms = torch.randn(3, samples, generator=torch.Generator().manual_seed(samples))
    eager, valid = fit_to_length(waveforms, None, 100, **options)
    traced, traced_valid = _fit_whole_rows(waveforms, 100, options["pad_mode"], options.get("fade", 0))
    torch.testing.assert_close(eager, traced)
    assert valid.tolist() == traced_valid.tolist()
    if samples == 100:
        assert eager.data_ptr() == waveforms.data_ptr()


def test_fit_to_length_is_differentiable_and_checks_lengths() -> None:
    waveforms = torch.randn(3, 50, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([20, 50, 35])
    for options in ({"pad_mode": "repeat", "fade": 4}, {"pad_mode": "zero"}):
        assert torch.autograd.gradcheck(
            lambda w, o=options: fit_to_length(w, lengths, 45, **o)[0], (waveforms,)
        )
    with pytest.raises(ValueError, match="one length per waveform"):
        fit_to_length(waveforms, lengths[:2], 45)
    with pytest.raises(ValueError, match="one length per waveform"):  # also when nothing needs fitting
        fit_to_length(torch.zeros(3, 45), torch.tensor([45]), 45)


def test_fit_uses_only_each_rows_length() -> None:
    garbage = torch.full((2, 50), 99.0)
    garbage[0, :20] = torch.arange(20.0)
    garbage[1, :30] = -torch.arange(30.0)
    out, valid = fit_to_length(garbage, torch.tensor([20, 30]), 45, pad_mode="repeat")
    torch.testing.assert_close(out[0], torch.arange(20.0).repeat(3)[:45])
    torch.testing.assert_close(out[1], (-torch.arange(30.0)).repeat(2)[:45])
    assert valid.tolist() == [45, 45]
    assert (out != 99.0).all()


def test_zero_pad_keeps_length_count() -> None:
    x = torch.randn(2, 80)
    out, valid = fit_to_length(x, torch.tensor([80, 30]), 100, pad_mode="zero")
    assert valid.tolist() == [80, 30]
    torch.testing.assert_close(out[0, :80], x[0])
    torch.testing.assert_close(out[1, :30], x[1, :30])
    assert (out[0, 80:] == 0).all() and (out[1, 30:] == 0).all()


def test_a_long_row_keeps_its_start() -> None:
    x = torch.arange(1000.0)[None]
    start, valid = fit_to_length(x, torch.tensor([1000]), 300)
    torch.testing.assert_close(start[0], torch.arange(300.0))
    assert valid.tolist() == [300]


def test_fit_rejects_empty_and_unknown_modes() -> None:
    with pytest.raises(ValueError, match="empty"):
        fit_to_length(torch.zeros(2, 10), torch.tensor([10, 0]), 20)
    with pytest.raises(ValueError, match="pad_mode"):
        fit_to_length(torch.zeros(1, 10), torch.tensor([10]), 20, pad_mode="reflect")


# ----------------------------------------------------------------------------------------------
# SpecAugment


def test_spec_augment_is_identity_in_eval_mode() -> None:
    features = torch.randn(4, 100, 64)
    augment = SpecAugment(freq_mask_param=20, time_mask_param=30).eval()
    assert augment(features) is features


def _contiguous_run(indices: torch.Tensor) -> bool:
    return indices.numel() == 0 or int(indices[-1] - indices[0]) + 1 == indices.numel()


def test_spec_augment_masks_bands_and_spans() -> None:
    batch, frames, bins, max_f, max_t = 64, 100, 64, 12, 20
    augment = SpecAugment(freq_mask_param=max_f, time_mask_param=max_t, mask_value=-5.0).train()
    generator = torch.Generator().manual_seed(0)
    out = augment(torch.ones(batch, frames, bins), generator=generator)
    masked = out == -5.0
    assert ((out == 1) | masked).all()
    signatures, widths = set(), set()
    for example in masked:
        masked_bins = torch.nonzero(example.all(dim=0)).flatten()
        masked_frames = torch.nonzero(example.all(dim=1)).flatten()
        assert masked_bins.numel() <= max_f and masked_frames.numel() <= max_t
        assert _contiguous_run(masked_bins) and _contiguous_run(masked_frames)
        union = torch.zeros(frames, bins, dtype=torch.bool)
        union[:, masked_bins] = True
        union[masked_frames, :] = True
        assert torch.equal(example, union)  # nothing masked outside whole bands / spans
        signatures.add((tuple(masked_bins.tolist()), tuple(masked_frames.tolist())))
        widths.add((masked_bins.numel(), masked_frames.numel()))
    assert len(signatures) > batch // 2  # masks drawn independently per example ...
    assert len(widths) > batch // 4  # ... widths included
    assert masked.any(dim=(1, 2)).float().mean() > 0.5
    again = augment(torch.ones(batch, frames, bins), generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, out)  # reproducible with a generator


@pytest.mark.parametrize("pad_mode", ["repeat", "zero"])
@pytest.mark.parametrize("fade", [0, 1, 5, 80])
def test_whole_rows_fit_like_the_row_by_row_path(pad_mode: str, fade: int) -> None:
    """``lengths=None`` (no padding: the torch.export-able path) fits as the per-row loop does."""
    generator = torch.Generator().manual_seed(0)
    for samples in (1, 2, 7, 50, 99, 100, 101, 333):
        waveforms = torch.randn(3, samples, generator=generator)
        lengths = torch.full((3,), samples)
        expected, expected_valid = fit_to_length(waveforms, lengths, 100, pad_mode=pad_mode, fade=fade)
        fitted, valid = fit_to_length(waveforms, None, 100, pad_mode=pad_mode, fade=fade)
        torch.testing.assert_close(fitted, expected, rtol=0, atol=1e-6)
        assert valid.tolist() == expected_valid.tolist()

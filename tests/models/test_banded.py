"""Tests for respira.models.respira.spectrum: the banded products, the hand-written feature kernels
built on them (chunks, buffers, folded constants) against the plain paths, and which path runs when.

(The references both paths must match, ASTFeatureExtractor and a naive float64 fbank, are in
test_features.py.)
"""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from torch.export import Dim, export

from respira.models.respira.filterbanks import AST_NORMALIZATION, KaldiFbank, LogMelSpectrogram
from respira.models.respira.spectrum import Band, banded_matmul, kernel_or_export, plan_bands


def _staircase(rows: int = 60, columns: int = 14) -> torch.Tensor:
    """Columns whose non-zero rows move down and widen, like mel triangles; column 5 is all zero."""
    generator = torch.Generator().manual_seed(0)
    matrix = torch.zeros(rows, columns)
    for column in range(columns):
        first = 3 * column
        matrix[first : first + 2 + column // 2, column] = (
            torch.rand(2 + column // 2, generator=generator) + 0.1
        )
    matrix[:, 5] = 0
    return matrix


@pytest.mark.parametrize("group_cost", [0.0, 30.0, 1e9])
def test_banded_matmul_equals_the_dense_product(group_cost: float) -> None:
    matrix = _staircase()
    bands = plan_bands(matrix, group_cost)
    inputs = torch.randn(3, 7, matrix.shape[0])
    out = torch.full((3, 7, matrix.shape[1]), float("nan"))  # old values must be ignored
    assert banded_matmul(inputs, matrix, bands, out=out) is out
    torch.testing.assert_close(out, inputs @ matrix)


def test_plan_bands_covers_every_column_once_and_every_non_zero() -> None:
    matrix = _staircase()
    for group_cost in (0.0, 30.0, 1e9):
        bands = plan_bands(matrix, group_cost)
        assert [b.first_column for b in bands] == [0] + [b.end_column for b in bands[:-1]]
        assert bands[-1].end_column == matrix.shape[1]
        for band in bands:
            block = matrix[:, band.first_column : band.end_column]
            outside = torch.cat([block[: band.first_row], block[band.end_row :]])
            assert (outside == 0).all()
    # no fixed cost: every column alone; a prohibitive one: a single band (the dense product)
    assert len(plan_bands(matrix, 0.0)) == matrix.shape[1]
    assert plan_bands(matrix, 1e9) == (Band(0, matrix.shape[1], 0, int(matrix.nonzero()[:, 0].max()) + 1),)


def test_fbank_bands_skip_most_of_the_mel_banks() -> None:
    fbank = KaldiFbank(normalization=AST_NORMALIZATION)
    banks = fbank.kernel_mel_banks
    work = sum((b.end_row - b.first_row) * (b.end_column - b.first_column) for b in fbank.bands)
    assert work < 0.5 * banks.numel()
    assert sum(b.end_column - b.first_column for b in fbank.bands) == banks.shape[1]


def test_fbank_built_on_the_meta_device_plans_the_same_bands() -> None:
    with torch.device("meta"):
        on_meta = KaldiFbank(normalization=AST_NORMALIZATION)
    assert on_meta.kernel_mel_banks.device.type == "meta"
    assert on_meta.bands == KaldiFbank(normalization=AST_NORMALIZATION).bands


@pytest.mark.parametrize("transform", [KaldiFbank(normalization=AST_NORMALIZATION), LogMelSpectrogram()])
def test_chunked_features_equal_one_waveform_at_a_time(transform: torch.nn.Module) -> None:
    """Chunks of 3 rows over 7 waveforms (the last chunk partial) reuse buffers between chunks."""
    waveforms = torch.randn(7, 4000, generator=torch.Generator().manual_seed(1)) * 0.1
    transform.max_frames_per_chunk = 3 * int(transform.frames_for(4000))
    batched = transform(waveforms, plain=False)
    transform.max_frames_per_chunk = 1
    for row, waveform in zip(batched, waveforms, strict=True):
        torch.testing.assert_close(row, transform(waveform[None], plain=False)[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "transform",
    [
        KaldiFbank(window="hanning", normalization=AST_NORMALIZATION),
        LogMelSpectrogram(n_mels=16),
    ],
)
def test_features_pass_gradients_to_the_waveform(transform: torch.nn.Module) -> None:
    """With a waveform that requires grad, the plain path runs (never the kernel): the kernel's
    values, exact gradients."""
    transform = transform.double()
    waveforms = torch.randn(2, 1200, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        kernel = transform(waveforms)
    leaf = waveforms.clone().requires_grad_(True)
    with mock.patch.object(transform, "_forward_kernel", side_effect=AssertionError("kernel ran")):
        differentiable = transform(leaf)
        assert differentiable.requires_grad
        # the kernel's banks hold the folded normalisation rounded to float32: ~1e-8 apart
        torch.testing.assert_close(differentiable, kernel, rtol=0, atol=1e-7)
        short = waveforms[:1, :700].clone().requires_grad_(True)
        assert torch.autograd.gradcheck(transform, (short,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    "transform", [KaldiFbank(window="povey", normalization=AST_NORMALIZATION), LogMelSpectrogram()]
)
def test_inference_runs_the_kernel(transform: torch.nn.Module) -> None:
    waveforms = torch.randn(2, 4000)
    with mock.patch.object(transform, "forward_plain", side_effect=AssertionError("plain path ran")):
        with torch.no_grad():
            transform(waveforms)
        transform(waveforms)  # no grad needed: the waveform does not require it
        with pytest.raises(AssertionError, match="plain path ran"):
            transform(waveforms, plain=True)


def test_the_kernel_runs_for_cpu_inference_only() -> None:
    transform = LogMelSpectrogram()

    def runs_plain_path(waveforms: torch.Tensor) -> bool:
        return kernel_or_export(transform, waveforms, None) == transform.forward_plain

    waveforms = torch.zeros(2, 1000)
    assert not runs_plain_path(waveforms)
    assert runs_plain_path(waveforms.requires_grad_(True))
    with torch.no_grad():
        assert not runs_plain_path(waveforms)  # no gradient will be asked for
    assert runs_plain_path(torch.zeros(2, 1000, device="meta"))  # not measured off the CPU


@pytest.mark.parametrize(
    "transform",
    [KaldiFbank(window="hanning", normalization=AST_NORMALIZATION), LogMelSpectrogram()],
    ids=["fbank", "log_mel"],
)
def test_features_export_with_dynamic_batch_and_length(transform: torch.nn.Module) -> None:
    """``torch.export`` (what ONNX export starts from) traces the plain path on its own, with a
    dynamic batch and length; the kernel's buffers and chunk loop would not export."""
    example = torch.randn(2, 16000, generator=torch.Generator().manual_seed(3))
    dynamic = {0: Dim("batch", max=1024), 1: Dim("samples", min=1024, max=10**7)}
    program = export(transform, (example,), dynamic_shapes=({**dynamic},))
    other = torch.randn(3, 23456, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        expected = transform(other, plain=True)
    torch.testing.assert_close(program.module()(other), expected, rtol=0, atol=1e-5)


def test_fbank_normalisation_is_fixed_at_construction() -> None:
    """The mean and waveform scale live in the banks, so the statistics cannot drift from them."""
    fbank = KaldiFbank(normalization=AST_NORMALIZATION)
    assert fbank.normalization is AST_NORMALIZATION
    with pytest.raises(AttributeError):
        fbank.normalization = None  # type: ignore[misc]

"""prepare_waveforms: the raw waveforms a respira model refuses before featurizing."""

from __future__ import annotations

import pytest
import torch

from respira.models.respira.featurizer import prepare_waveforms


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("row", [0, 2])
def test_a_nan_or_infinite_sample_anywhere_is_refused(bad: float, row: int) -> None:
    waveforms = torch.rand(3, 4000) - 0.5
    waveforms[row, 1234] = bad
    with pytest.raises(ValueError, match="input_values holds NaN or infinite samples"):
        prepare_waveforms(waveforms, None, None, 16000)


def test_finite_waveforms_pass_as_float32_with_their_lengths() -> None:
    waveforms = torch.full((2, 5), 3.0e38, dtype=torch.float64)  # large but finite in float32
    waveforms[1] = -3.0e38
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    values, lengths = prepare_waveforms(waveforms, mask, 16000, 16000)
    assert values.dtype == torch.float32 and torch.isfinite(values).all()
    assert lengths.tolist() == [3, 5]

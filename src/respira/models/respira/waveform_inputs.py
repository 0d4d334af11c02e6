"""The raw waveforms a respira model takes: validated, down-mixed and measured before featurizing."""

from __future__ import annotations

import torch


def prepare_waveforms(
    input_values: torch.Tensor,
    attention_mask: torch.Tensor | None,
    sampling_rate: int | None,
    expected_rate: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate raw waveforms; down-mix ``[batch, channels, samples]``; return the float32 batch and the
    lengths of its rows (``None`` without ``attention_mask``: every row is real signal to its end)."""
    if sampling_rate is not None and sampling_rate != expected_rate:
        raise ValueError(
            f"this model takes {expected_rate} Hz audio but got sampling_rate={sampling_rate}; "
            "resample first "
            "(the feature extractor and `respira predict` do this for files)"
        )
    input_values = input_values.to(torch.float32)
    if input_values.dim() == 1:
        input_values = input_values.unsqueeze(0)
    elif input_values.dim() == 3:
        input_values = input_values.mean(dim=1)  # [batch, channels, samples]: down-mix, as the dataset does
    elif input_values.dim() != 2:
        raise ValueError(f"expected waveforms [batch, samples], got shape {tuple(input_values.shape)}")
    tracing = torch.compiler.is_compiling()
    if not tracing and input_values.shape[-1] == 0:
        raise ValueError("got an empty waveform (0 samples)")
    # one pass without a mask the batch's size (isfinite(...).all() was a few % of a CPU forward): NaN
    # propagates into the extremes, and an infinity is one of them
    if not tracing and not torch.isfinite(torch.stack(torch.aminmax(input_values))).all():
        raise ValueError("input_values holds NaN or infinite samples")
    if attention_mask is None:
        return input_values, None
    lengths = attention_mask.to(torch.long).sum(dim=-1)
    if not tracing and (lengths == 0).any():
        raise ValueError(
            f"waveform(s) {torch.nonzero(lengths == 0).flatten().tolist()} are empty (all masked)"
        )
    return input_values, lengths

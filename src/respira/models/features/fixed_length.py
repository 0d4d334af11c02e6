"""Fixed-length policy for variable-length cycles: repeat- or zero-pad short ones, crop long ones."""

from __future__ import annotations

from typing import Literal

import torch

PadMode = Literal["repeat", "zero"]
CropMode = Literal["start", "center"]


def _repeat_with_fades(signal: torch.Tensor, target: int, fade: int) -> torch.Tensor:
    """Tile ``signal`` to ``target`` samples with a linear fade-out/fade-in of ``fade`` samples at each seam.

    The original copy keeps its start and the padding its end untouched; only the seams are faded,
    so tiling creates no click.
    """
    length = signal.shape[0]
    tiled = signal.repeat(-(-target // length))[:target]
    fade = min(fade, length // 2)
    if fade == 0:
        return tiled
    ramp = torch.linspace(0.0, 1.0, fade + 2, device=signal.device, dtype=signal.dtype)[1:-1]
    gain = torch.ones(target, device=signal.device, dtype=signal.dtype)
    for seam in range(length, target, length):
        gain[seam - fade : seam] = ramp.flip(0)
        gain[seam : min(seam + fade, target)] = ramp[: target - seam]
    return tiled * gain


def fit_to_length(
    waveforms: torch.Tensor,
    lengths: torch.Tensor,
    target: int,
    *,
    pad_mode: PadMode = "repeat",
    crop_mode: CropMode = "start",
    fade: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring each waveform (its first ``lengths[i]`` samples) to exactly ``target`` samples.

    Returns the ``[batch, target]`` batch and the number of real (non-padding) samples in each row:
    ``target`` for repeat-padded and cropped rows, the original length for zero-padded rows.
    Repeat-padding fades ``fade`` samples at each seam so no click is created.
    """
    if pad_mode not in ("repeat", "zero"):
        raise ValueError(f"pad_mode must be 'repeat' or 'zero', got {pad_mode!r}")
    if crop_mode not in ("start", "center"):
        raise ValueError(f"crop_mode must be 'start' or 'center', got {crop_mode!r}")
    if waveforms.shape[-1] == target and bool((lengths == target).all()):
        return waveforms, torch.full_like(lengths, target, device=waveforms.device)  # already fit: no copy
    rows, valid = [], []
    for row, length in zip(waveforms, lengths.tolist(), strict=True):
        if length <= 0:
            raise ValueError("cannot fit an empty waveform (0 samples) to a fixed length")
        signal = row[:length]
        if length >= target:
            offset = (length - target) // 2 if crop_mode == "center" else 0
            rows.append(signal[offset : offset + target])
            valid.append(target)
        elif pad_mode == "repeat":
            rows.append(_repeat_with_fades(signal, target, fade))
            valid.append(target)
        else:
            rows.append(torch.nn.functional.pad(signal, (0, target - length)))
            valid.append(length)
    return torch.stack(rows), torch.tensor(valid, device=waveforms.device)

"""Fixed-length policy for variable-length cycles: repeat- or zero-pad short ones, crop long ones."""

from __future__ import annotations

from typing import Literal

import torch

PadMode = Literal["repeat", "zero"]
CropMode = Literal["start", "center"]


def _tile_with_fades(signal: torch.Tensor, out: torch.Tensor, fade: int) -> None:
    """Fill ``out`` with copies of ``signal``, fading out and in linearly over ``fade`` samples at each seam.

    The original copy keeps its start and the padding its end untouched; only the seams are faded,
    so tiling creates no click.
    """
    length, target = signal.shape[0], out.shape[0]
    copies = target // length
    out[: copies * length].view(copies, length).copy_(signal.expand(copies, length))
    out[copies * length :].copy_(signal[: target - copies * length])
    fade = min(fade, length // 2)
    if fade == 0:
        return
    ramp = torch.linspace(0.0, 1.0, fade + 2, device=signal.device, dtype=signal.dtype)[1:-1]
    for seam in range(length, target, length):  # fade <= length / 2: the ramps never overlap
        out[seam - fade : seam] *= ramp.flip(0)
        end = min(seam + fade, target)
        out[seam:end] *= ramp[: end - seam]


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
    if lengths.shape != (waveforms.shape[0],):
        raise ValueError(
            f"expected one length per waveform ({waveforms.shape[0]}), got shape {tuple(lengths.shape)}"
        )
    if waveforms.shape[-1] == target and bool((lengths == target).all()):
        return waveforms, torch.full_like(lengths, target, device=waveforms.device)  # already fit: no copy
    out = waveforms.new_empty(waveforms.shape[0], target)
    valid = []
    for index, length in enumerate(lengths.tolist()):
        if length <= 0:
            raise ValueError("cannot fit an empty waveform (0 samples) to a fixed length")
        signal, destination = waveforms[index, :length], out[index]
        if length >= target:
            offset = (length - target) // 2 if crop_mode == "center" else 0
            destination.copy_(signal[offset : offset + target])
            valid.append(target)
        elif pad_mode == "repeat":
            _tile_with_fades(signal, destination, fade)
            valid.append(target)
        else:
            destination[:length].copy_(signal)
            destination[length:].zero_()
            valid.append(length)
    return out, torch.tensor(valid, device=waveforms.device)

"""Fixed-length policy for variable-length cycles: repeat- or zero-pad short ones, keep the start of long
ones."""

from __future__ import annotations

from typing import Literal

import torch

PadMode = Literal["repeat", "zero"]


def _tile_with_fades(signal: torch.Tensor, out: torch.Tensor, fade: int) -> None:
    """Fill ``out`` with copies of ``signal``, with linear ``fade``-sample fades at each seam."""
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


def _fit_whole_rows(
    waveforms: torch.Tensor, target: int, pad_mode: PadMode, fade: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`fit_to_length` for rows that are all real signal, without a Python loop or a branch on
    the length: the same operations whatever it is, so ``torch.export`` keeps it dynamic (ONNX)."""
    batch, samples = waveforms.shape
    device = waveforms.device
    length = torch.full((), samples, dtype=torch.long, device=device)
    place = torch.arange(target, device=device)
    if pad_mode == "zero":
        fitted = torch.where(place < length, waveforms[:, torch.minimum(place, length - 1)], 0.0)
        return fitted, length.clamp(max=target).expand(batch)
    copy, within = place // length, place % length
    fitted = waveforms[:, within]
    if fade > 0:
        fade_length = (length // 2).clamp(max=fade)  # as in _tile_with_fades: at most half a copy
        step = 1.0 / (fade_length + 1)
        fade_in = (copy > 0) & (within < fade_length)
        fade_out = ((copy + 1) * length < target) & (within >= length - fade_length)
        gain = torch.where(fade_in, (within + 1) * step, torch.where(fade_out, (length - within) * step, 1.0))
        fitted = fitted * gain.to(fitted.dtype)
    return fitted, torch.full((batch,), target, device=device, dtype=torch.long)


def fit_to_length(
    waveforms: torch.Tensor,
    lengths: torch.Tensor | None,
    target: int,
    *,
    pad_mode: PadMode = "repeat",
    fade: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring each waveform (its first ``lengths[i]`` samples) to exactly ``target`` samples."""
    if pad_mode not in ("repeat", "zero"):
        raise ValueError(f"pad_mode must be 'repeat' or 'zero', got {pad_mode!r}")
    if lengths is None:
        if torch.compiler.is_compiling():  # traced for export: no loop over rows, no branch on the length
            return _fit_whole_rows(waveforms, target, pad_mode, fade)
        # eager: the row loop below copies (or passes through) instead of gathering every sample
        lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], device=waveforms.device)
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
            destination.copy_(signal[:target])
            valid.append(target)
        elif pad_mode == "repeat":
            _tile_with_fades(signal, destination, fade)
            valid.append(target)
        else:
            destination[:length].copy_(signal)
            destination[length:].zero_()
            valid.append(length)
    return out, torch.tensor(valid, device=waveforms.device)

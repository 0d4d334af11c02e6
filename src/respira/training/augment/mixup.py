"""Mixup of a padded batch and its (soft) labels, on torch tensors (Zhang et al., 2018)."""

from __future__ import annotations

import math

import scipy.special
import torch

from ...labels import CLASS_NAMES, classes_to_flags

__all__ = ["mixup"]


def _sample_beta(alpha: float, generator: torch.Generator | None) -> float:
    """λ ~ Beta(α, α) by inverting the regularised incomplete beta function at a uniform draw.

    ``torch.distributions.Beta`` cannot take a generator; this keeps λ reproducible from it.
    """
    uniform = float(torch.rand((), generator=generator, dtype=torch.float64))
    return float(scipy.special.betaincinv(alpha, alpha, uniform))


def _label_targets(labels: torch.Tensor, num_classes: int, multi_label: bool) -> torch.Tensor:
    """Float ``[B, C]`` targets from class indices ``[B]`` or flags/probabilities ``[B, C]``."""
    if labels.dim() == 2:
        if labels.is_complex():
            raise ValueError(f"labels of dtype {labels.dtype} cannot be mixed")
        return labels.to(torch.float32)
    if labels.dim() != 1:
        raise ValueError(
            f"labels must be [batch] class indices or [batch, classes], got shape {tuple(labels.shape)}"
        )
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"1-D labels must be integer class indices, got dtype {labels.dtype}")
    labels = labels.long()
    if multi_label:  # normal 0, crackle 1, wheeze 2, both 3 -> (crackle, wheeze) flags
        if labels.numel() and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES)):
            raise ValueError(f"class indices must be in [0, {len(CLASS_NAMES)}) for multi_label")
        return classes_to_flags(labels, validate=False).to(torch.float32)  # checked above
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"class indices must be in [0, {num_classes}), got {labels.tolist()}")
    return torch.nn.functional.one_hot(labels, num_classes).to(torch.float32)


def mixup(
    waveforms: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int = len(CLASS_NAMES),
    alpha: float = 0.4,
    generator: torch.Generator | None = None,
    multi_label: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, float, torch.Tensor]:
    """Mixup on a padded batch: ``x' = λ·x + (1−λ)·x[perm]``, ``y' = λ·y + (1−λ)·y[perm]``.

    Args:
        waveforms: ``[B, N]`` (or ``[B, …]``) padded waveforms, after fixed-length fitting.
        labels: ``[B]`` class indices (one-hot encoded over ``num_classes``, so soft labels sum to
            one per row; ``multi_label=True`` converts them to ICBHI ``(crackle, wheeze)`` flags
            instead), or ``[B, C]`` flags or class probabilities, mixed as given (``num_classes`` is
            then unused). Mixed multi-label flags are soft targets in ``[0, 1]`` for a sigmoid + BCE
            head: a flag present in one of the two items becomes λ or 1−λ (rather than the union).
        num_classes: the number of classes for 1-D indices.
        alpha: the Beta(α, α) concentration (> 0); small α keeps λ near 0 or 1.
        generator: the source of λ and of the permutation (``None``: torch's global generator).
        multi_label: see ``labels``.

    Returns:
        ``(mixed_waveforms, soft_labels [B, C] float32, lam, permutation [B])``. One λ for the whole
        batch. With padded batches, the mixed item's attention mask is
        ``attention_mask | attention_mask[permutation]``.
    """
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, (int, float))
        or not (math.isfinite(alpha) and alpha > 0)
    ):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if waveforms.dim() < 1 or labels.dim() < 1 or labels.shape[0] != waveforms.shape[0]:
        raise ValueError(
            f"waveforms {tuple(waveforms.shape)} and labels {tuple(labels.shape)} need the same batch size"
        )
    targets = _label_targets(labels, num_classes, multi_label).to(labels.device)
    lam = _sample_beta(float(alpha), generator)
    device = generator.device if generator is not None else torch.device("cpu")
    permutation = torch.randperm(waveforms.shape[0], generator=generator, device=device).to(waveforms.device)
    mixed = lam * waveforms + (1.0 - lam) * waveforms[permutation]
    soft = lam * targets + (1.0 - lam) * targets[permutation.to(targets.device)]
    return mixed.to(waveforms.dtype), soft, lam, permutation

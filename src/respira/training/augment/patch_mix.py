"""Patch-Mix's mixing (Bae et al., Interspeech 2023): draw a plan, mix an AST's patch embeddings.

``lam`` is the fraction of patches taken from the **partner** ``permutation[i]`` (the complement of Bae et
al.'s ``lam``); :class:`respira.losses.PatchMixContrastiveLoss` states the convention in full.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["apply_patch_mix", "patch_mix_plan"]


def patch_mix_plan(
    batch_size: int,
    num_patches: int,
    *,
    generator: torch.Generator | None = None,
    alpha: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Draw one Patch-Mix: ``(permutation [B], mask [num_patches] bool, lam)`` (CPU tensors)."""
    if batch_size < 1 or num_patches < 1:
        raise ValueError(f"need batch_size and num_patches >= 1, got {batch_size} and {num_patches}")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if alpha == 1.0:
        lam0 = float(torch.rand((), generator=generator, dtype=torch.float64))
    else:  # torch's Beta sampler takes no generator: seed numpy's from it
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        lam0 = float(np.random.default_rng(seed).beta(alpha, alpha))
    permutation = torch.randperm(batch_size, generator=generator)
    mixed = round(lam0 * num_patches)
    mask = torch.zeros(num_patches, dtype=torch.bool)
    mask[torch.randperm(num_patches, generator=generator)[:mixed]] = True
    return permutation, mask, mixed / num_patches


def apply_patch_mix(
    patch_embeddings: torch.Tensor, permutation: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Out-of-place mix of ``patch_embeddings [B, P, H]``: where ``mask`` is True, take the patch of
    sample ``permutation[i]``. ``mask``: ``[P]`` (same positions for the whole batch) or ``[B, P]``."""
    if patch_embeddings.dim() != 3:
        raise ValueError(
            f"patch_embeddings must be [batch, patches, hidden], got {tuple(patch_embeddings.shape)}"
        )
    batch, patches = patch_embeddings.shape[:2]
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")
    if mask.shape not in ((patches,), (batch, patches)):
        raise ValueError(f"mask must be [{patches}] or [{batch}, {patches}], got {tuple(mask.shape)}")
    if permutation.shape != (batch,):
        raise ValueError(f"permutation must be [{batch}], got {tuple(permutation.shape)}")
    permutation = permutation.to(patch_embeddings.device)
    mask = mask.to(patch_embeddings.device)
    mask = mask.reshape(1, patches, 1) if mask.dim() == 1 else mask.unsqueeze(-1)
    return torch.where(mask, patch_embeddings[permutation], patch_embeddings)

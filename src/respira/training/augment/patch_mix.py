"""Patch-Mix's mixing (Bae et al., Interspeech 2023): draw a plan, mix an AST's patch embeddings.

The Trainer replaces the patches marked by :func:`patch_mix_plan` with a partner sample's
(:func:`apply_patch_mix`, hooked after the patch projection) and scores the mixed projections with
:class:`respira.losses.PatchMixContrastiveLoss`. ``lam`` is the fraction of patches taken from the
**partner** ``permutation[i]`` (the complement of Bae et al.'s ``lam``); the loss module's docstring
states the convention in full.
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
    """Draw one Patch-Mix: ``(permutation [B], mask [num_patches] bool, lam)`` (CPU tensors).

    ``lam0 ~ Beta(alpha, alpha)`` (``Beta(1, 1)`` = uniform, the paper's setting), then
    ``round(lam0 * num_patches)`` patch positions chosen uniformly without replacement are marked in
    ``mask``: those positions of every sample are replaced by its partner ``permutation[i]``'s. The
    returned ``lam`` is recomputed as the fraction actually mixed in, ``mask.sum() / num_patches``: the
    weight of the **partner** (see the module docstring). ``permutation`` is a uniform random
    permutation and may have fixed points (a sample mixed with itself is unchanged; the loss then puts
    all its target weight on its own original, as in the paper).
    """
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
    sample ``permutation[i]``. ``mask``: ``[P]`` (same positions for the whole batch) or ``[B, P]``.

    Differentiable w.r.t. both sources; the input is left untouched (the paper mixes in place).
    """
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

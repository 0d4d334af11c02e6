"""Patch-Mix contrastive learning (Bae et al., Interspeech 2023): mixing an AST's patch embeddings, and
the loss. ``lam`` is the fraction of patches from the partner ``permutation[i]`` (the paper's ``1 - lam``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import (
    AuxiliaryLoss,
    as_float,
    full_precision,
    gather_labels,
    gather_with_grad,
    global_batch_indices,
    same_label_mask,
)


def patch_mix_plan(
    batch_size: int, num_patches: int, *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Draw one Patch-Mix (the mixed fraction uniform): ``(permutation [B], mask [P] bool, lam)``."""
    if batch_size < 1 or num_patches < 1:
        raise ValueError(f"need batch_size and num_patches >= 1, got {batch_size} and {num_patches}")
    lam0 = float(torch.rand((), generator=generator, dtype=torch.float64))
    permutation = torch.randperm(batch_size, generator=generator)
    mixed = round(lam0 * num_patches)
    mask = torch.zeros(num_patches, dtype=torch.bool)
    mask[torch.randperm(num_patches, generator=generator)[:mixed]] = True
    return permutation, mask, mixed / num_patches


def apply_patch_mix(
    patch_embeddings: torch.Tensor, permutation: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """``patch_embeddings [B, P, H]`` with sample ``permutation[i]``'s patches where ``mask`` (``[P]`` or
    ``[B, P]``) is True."""
    mask = mask.to(patch_embeddings.device)
    mask = mask.reshape(1, -1, 1) if mask.dim() == 1 else mask.unsqueeze(-1)
    return torch.where(mask, patch_embeddings[permutation.to(patch_embeddings.device)], patch_embeddings)


class PatchMixContrastiveLoss(AuxiliaryLoss):
    """Mixed projections vs. stop-gradient original projections, with mixing-ratio targets.

    ``forward(mixed_projections [B, D], original_projections [B, D], permutation [B], lam)``; with
    ``s_ij = m_i . o_j / temperature`` over all originals::

        w_i    = (1 - lam_i) * onehot(i) + lam_i * onehot(permutation[i])
        loss_i = -sum_j w_ij * log softmax_j(s_ij)

    ``negatives="different_label"`` (the paper's ``diff_label``) keeps only the targets and the originals
    of another label in the softmax (``labels`` needed).
    """

    name = "patch_mix"
    citation = """@inproceedings{bae2023patchmix,
  title     = {Patch-Mix Contrastive Learning with Audio Spectrogram Transformer on Respiratory
               Sound Classification},
  author    = {Bae, Sangmin and Kim, June-Woo and Cho, Won-Yang and Baek, Hyerim and Son, Soyoun
               and Lee, Byungjo and Ha, Changwan and Tae, Kyongpil and Kim, Sungnyun and Yun, Se-Young},
  booktitle = {Proc. Interspeech 2023},
  year      = {2023}
}"""

    def __init__(self, temperature: float = 0.06, negatives: str = "all") -> None:
        super().__init__(temperature)
        if negatives not in ("all", "different_label"):
            raise ValueError(f"negatives must be 'all' or 'different_label', got {negatives!r}")
        self.negatives = negatives

    def forward(
        self,
        mixed_projections: torch.Tensor,
        original_projections: torch.Tensor,
        permutation: torch.Tensor,
        lam: float | torch.Tensor,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        if mixed_projections.dim() != 2 or mixed_projections.shape != original_projections.shape:
            raise ValueError(
                "mixed and original projections must both be [batch, dim], got "
                f"{tuple(mixed_projections.shape)} and {tuple(original_projections.shape)}"
            )
        batch = mixed_projections.shape[0]
        device = mixed_projections.device
        permutation = torch.as_tensor(permutation, device=device).long()
        if permutation.shape != (batch,):
            raise ValueError(f"permutation must be [{batch}], got {tuple(permutation.shape)}")
        lam = torch.as_tensor(lam, device=device, dtype=torch.float64).expand(batch)
        if bool(((lam < 0) | (lam > 1)).any()):
            raise ValueError("lam must lie in [0, 1]")
        with full_precision(device):
            mixed = nn.functional.normalize(as_float(mixed_projections), dim=-1)
            original = nn.functional.normalize(as_float(original_projections.detach()), dim=-1)
            start, _ = global_batch_indices(batch, device)
            mixed, original = gather_with_grad(mixed), gather_labels(original)
            permutation, lam = gather_labels(permutation + start), gather_labels(lam.contiguous())
            labels = gather_labels(labels.to(device)) if labels is not None else None
            rows = torch.arange(mixed.shape[0], device=device)
            lam = lam.to(mixed.dtype)
            targets = torch.zeros(mixed.shape[0], mixed.shape[0], dtype=mixed.dtype, device=device)
            targets[rows, rows] = 1.0 - lam
            targets[rows, permutation] += lam  # a fixed point gets (1 - lam) + lam = 1
            logits = mixed @ original.T / self.temperature
            if self.negatives == "different_label":
                if labels is None:
                    raise ValueError("negatives='different_label' needs labels")
                allowed = ~same_label_mask(labels.to(device)) | (targets > 0)
                allowed[rows, rows] = True
                allowed[rows, permutation] = True
                logits = logits.masked_fill(~allowed, float("-inf"))
            log_prob = torch.log_softmax(logits, dim=1)
            loss = -torch.where(targets > 0, targets * log_prob, torch.zeros_like(log_prob)).sum(dim=1).mean()
        self._record({"patch_mix": loss, "patch_mix_lam": float(lam.mean())})
        return loss

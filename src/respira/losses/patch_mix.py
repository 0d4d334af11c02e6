"""Patch-Mix contrastive learning for patch-based encoders (Bae et al., Interspeech 2023).

The model mixes patch embeddings (after the patch projection, before the transformer) with
:func:`patch_mix_plan` + :func:`apply_patch_mix`, runs the mixed batch through the encoder and the
projector, and contrasts each *mixed* projection against the projections of the *original* (unmixed)
batch with :class:`PatchMixContrastiveLoss`.

Meaning of ``lam`` (this module's convention)
---------------------------------------------
``lam`` is the fraction of patches of a mixed sample that come from its **partner**
``permutation[i]``; ``1 - lam`` is the fraction kept from sample ``i`` itself. The targets of mixed
sample ``i`` are therefore ``1 - lam`` on original ``i`` and ``lam`` on original ``permutation[i]``.
Bae et al.'s code uses the complement (their ``lam`` is the fraction *kept*, weight of the sample's
own original): ``lam_paper = 1 - lam``. The loss is the same.

Mixing positions are shared by the whole batch (as in the paper) when the mask is ``[P]``; a
per-sample ``[B, P]`` mask is accepted too (``lam`` is then per sample: ``mask.float().mean(1)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .distributed import AuxiliaryLoss, as_float, full_precision, global_batch_indices, same_label_mask

__all__ = ["PatchMixContrastiveLoss", "apply_patch_mix", "patch_mix_plan"]

PATCH_MIX_CITATION = """@inproceedings{bae2023patchmix,
  title     = {Patch-Mix Contrastive Learning with Audio Spectrogram Transformer on Respiratory
               Sound Classification},
  author    = {Bae, Sangmin and Kim, June-Woo and Cho, Won-Yang and Baek, Hyerim and Son, Soyoun
               and Lee, Byungjo and Ha, Changwan and Tae, Kyongpil and Kim, Sungnyun and Yun, Se-Young},
  booktitle = {Proc. Interspeech 2023},
  year      = {2023}
}"""


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


class PatchMixContrastiveLoss(AuxiliaryLoss):
    """Mixed projections vs. stop-gradient original projections, with mixing-ratio targets.

    ``forward(mixed_projections [B, D], original_projections [B, D], permutation [B], lam)``, ``lam`` a
    float or ``[B]`` (the partner's fraction, module docstring). Both are L2-normalised; the originals
    are detached. With ``s_ij = m_i . o_j / temperature`` over *all* originals ``j`` of the batch::

        w_i    = (1 - lam_i) * onehot(i) + lam_i * onehot(permutation[i])
        loss_i = -sum_j w_ij * log softmax_j(s_ij)
        L      = mean_i loss_i

    ``negatives="different_label"`` (the paper's ``diff_label`` option) keeps in the softmax only the two
    targets and the originals whose label differs from sample ``i``'s (then ``labels`` are needed).
    This is the one loss whose forward does not take ``(embeddings, labels)`` first: the Trainer calls it
    with both projections; ``labels`` and other keyword arguments are accepted after them.
    """

    name = "patch_mix"
    citation = PATCH_MIX_CITATION

    def __init__(
        self, temperature: float = 0.06, negatives: str = "all", *, gather_distributed: bool = True
    ) -> None:
        super().__init__(gather_distributed=gather_distributed)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if negatives not in ("all", "different_label"):
            raise ValueError(f"negatives must be 'all' or 'different_label', got {negatives!r}")
        self.temperature = float(temperature)
        self.negatives = negatives

    def get_config_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "negatives": self.negatives, **super().get_config_dict()}

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
            if self.gather_distributed:
                start, _ = global_batch_indices(batch, device)
                mixed = self._gather(mixed)
                original = self._gather_nograd(original)
                permutation = self._gather_nograd(permutation + start)
                lam = self._gather_nograd(lam.contiguous())
                if labels is not None:
                    labels = self._gather_nograd(labels.to(device))
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

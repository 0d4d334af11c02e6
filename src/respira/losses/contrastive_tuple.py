"""Contrastive-tuple loss (Song, Han & Song, ICASSP 2021).

For an anchor ``z``, a positive ``z+`` and ``N`` negatives ``z_k``, all L2-normalised::

    loss(z) = -log( exp(z.z+ / t) / (exp(z.z+ / t) + sum_k exp(z.z_k / t)) )

Batches are ``[anchors (A), positives (A)]`` (``ContrastiveTupleBatchSampler``; with accelerate keep
``split_batches=False`` and ``drop_last=True``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..models.respira.audio_decoding import check_whole
from .base import AuxiliaryLoss, as_float, full_precision, gather_labels, gather_with_grad, same_label_mask

_SEED_STRIDE = 1_000_003

CONTRASTIVE_TUPLE_CITATION = """@inproceedings{song2021contrastive,
  title     = {Contrastive Embedding Learning Method for Respiratory Sound Classification},
  author    = {Song, Wenjie and Han, Jiqing and Song, Hongwei},
  booktitle = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  pages     = {1275--1279},
  year      = {2021}
}"""
"""The paper of the loss and of its batches (and of the CNN encoder: the model card cites it)."""


def contrastive_tuple_loss(
    anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Per-anchor losses ``[A]`` for anchors ``[A, D]``, positives ``[A, D]`` and negatives ``[A, N, D]``."""
    anchors = nn.functional.normalize(anchors, dim=-1)
    positive = (anchors * nn.functional.normalize(positives, dim=-1)).sum(dim=-1, keepdim=True)
    negative = torch.einsum("ad,and->an", anchors, nn.functional.normalize(negatives, dim=-1))
    logits = torch.cat([positive, negative], dim=1) / temperature
    return torch.logsumexp(logits, dim=1) - logits[:, 0]


class ContrastiveTupleLoss(AuxiliaryLoss):
    """Contrastive-tuple loss over a batch ``[anchors, positives]``, averaged over anchors; each draws
    ``num_negatives`` other-class samples of the batch (seeded by ``seed`` and the step)."""

    name = "contrastive_tuple"
    citation = CONTRASTIVE_TUPLE_CITATION

    def __init__(self, num_negatives: int = 16, temperature: float = 1.0, seed: int = 0) -> None:
        super().__init__(temperature)
        check_whole(num_negatives, "num_negatives")
        self.num_negatives = int(num_negatives)
        self.seed = int(seed)
        self._step = 0
        self.last_negative_indices: torch.Tensor | None = None

    def _draw_negatives(self, candidates: torch.Tensor, step: int) -> torch.Tensor:
        """``[A, N]`` column indices of ``candidates`` (bool ``[A, M]``), -1 rows where none exists."""
        generator = torch.Generator().manual_seed((self.seed * _SEED_STRIDE + step) % (2**63 - 1))
        candidates = candidates.cpu()
        n = self.num_negatives
        counts = candidates.sum(dim=1)
        drawn = torch.full((candidates.shape[0], n), -1, dtype=torch.long)
        keys = torch.rand(candidates.shape, generator=generator, dtype=torch.float64)
        if candidates.shape[1] >= n:
            enough = counts >= n
            order = keys.masked_fill(~candidates, 2.0).argsort(dim=1)[:, :n]
            drawn[enough] = order[enough]
        few = (counts > 0) & (counts < n)
        if few.any():
            drawn[few] = torch.multinomial(candidates[few].double(), n, replacement=True, generator=generator)
        return drawn

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, *, step: int | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if embeddings.dim() != 2 or embeddings.shape[0] % 2:
            raise ValueError(
                "ContrastiveTupleLoss takes [2 * anchors, dim] embeddings laid out [anchors, positives] "
                f"(ContrastiveTupleBatchSampler), got {tuple(embeddings.shape)}"
            )
        if labels is None or labels.shape[0] != embeddings.shape[0]:
            raise ValueError("ContrastiveTupleLoss needs one label per embedding")
        if step is None:
            step = self._step
            self._step += 1
        half = embeddings.shape[0] // 2
        with full_precision(embeddings.device):
            z = nn.functional.normalize(as_float(embeddings), dim=-1)
            labels = labels.to(z.device)
            anchors, positives = gather_with_grad(z[:half]), gather_with_grad(z[half:])
            anchor_labels, positive_labels = gather_labels(labels[:half]), gather_labels(labels[half:])
            if not bool(same_label_mask(anchor_labels, positive_labels).diagonal().all()):
                raise ValueError(
                    "positive i must have anchor i's class: lay the batch out [anchors, positives] "
                    "as ContrastiveTupleBatchSampler does"
                )
            pool = torch.cat([anchors, positives])
            candidates = ~same_label_mask(anchor_labels, torch.cat([anchor_labels, positive_labels]))
            drawn = self._draw_negatives(candidates, step).to(z.device)
            valid = drawn[:, 0] >= 0
            self.last_negative_indices = drawn
            if valid.any():
                per_anchor = contrastive_tuple_loss(
                    anchors[valid], positives[valid], pool[drawn[valid]], self.temperature
                )
                loss = per_anchor.mean()
            else:
                loss = z.sum() * 0.0
        self._record_anchors(loss, valid, "skipped_anchors")
        return loss

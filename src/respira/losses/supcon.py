"""Supervised contrastive loss (Khosla et al., 2020) and a metadata-negatives contrastive loss.

Embeddings come as ``[B, D]``, views stacked view-major ``[V * B, D]`` or ``[B, V, D]``; every one is an
anchor, ``s_ij = z_i . z_j / temperature``.

:class:`SupConLoss` ("L_out" form; no ``base_temperature`` factor)::

    loss_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip) / sum_{a != i} exp(s_ia) )

``P(i)``: the other embeddings of samples equal to ``i`` on every ``positive_key`` (``"labels"`` or a
metadata key given to forward). Anchors without a positive are left out and counted.

:class:`MetadataContrastiveLoss` (after Moummad & Farrugia, 2023)::

    loss_i = -1/|P(i)| * sum_{p in P(i)} log( exp(s_ip) / sum_{a in P(i) | N(i)} exp(s_ia) )

``P(i)``: the other views of the same sample; ``N(i)``: samples whose ``negative_keys`` metadata differ.
Needs ``V >= 2`` views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .base import (
    AuxiliaryLoss,
    as_float,
    full_precision,
    gather_labels,
    gather_with_grad,
    metadata_keys,
    same_metadata_mask,
)


def _as_views(
    embeddings: torch.Tensor, labels: torch.Tensor | None, keys: Sequence[str], values: Mapping[str, Any]
) -> torch.Tensor:
    """``[B, V, D]`` from ``[B, V, D]``, ``[B, D]`` or view-major ``[V * B, D]`` (``B``: the number of labels,
    else of the first metadata in ``keys``)."""
    if embeddings.dim() == 3:
        return embeddings
    if embeddings.dim() != 2:
        raise ValueError(f"embeddings must be [N, dim] or [batch, views, dim], got {tuple(embeddings.shape)}")
    sizes = [len(values[key]) for key in keys if key != "labels" and values.get(key) is not None]
    batch_size = labels.shape[0] if labels is not None else next(iter(sizes), embeddings.shape[0])
    if batch_size == 0 or embeddings.shape[0] % batch_size:
        raise ValueError(
            f"{embeddings.shape[0]} embeddings for a batch of {batch_size}: pass [views * batch, dim] "
            "stacked view-major (torch.cat([view_1, view_2])) or [batch, views, dim]"
        )
    views = embeddings.shape[0] // batch_size
    return embeddings.reshape(views, batch_size, -1).transpose(0, 1)


def _view_major(views: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The global batch's L2-normalised views as view-major anchors ``[V * B, D]``, and its labels."""
    z = gather_with_grad(nn.functional.normalize(as_float(views), dim=-1))
    if labels is not None:
        labels = gather_labels(labels.to(z.device))
    return z.transpose(0, 1).reshape(z.shape[0] * z.shape[1], -1), labels


def _mean_loss(
    features: torch.Tensor,
    temperature: float,
    positives: torch.Tensor,
    allowed: torch.Tensor,
    valid: torch.Tensor,
) -> torch.Tensor:
    """Mean over ``valid`` anchors of ``-mean_{p positive} (s_ip - logsumexp_{a allowed} s_ia)``."""
    logits = features @ features.T / temperature
    log_prob = logits - torch.logsumexp(logits.masked_fill(~allowed, float("-inf")), dim=1, keepdim=True)
    summed = torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    per_anchor = -(summed / positives.sum(dim=1).clamp_min(1))
    return per_anchor[valid].mean() if valid.any() else features.sum() * 0.0


class SupConLoss(AuxiliaryLoss):
    """Supervised contrastive loss with label or metadata positives (module docstring)."""

    name = "supcon"
    citation = """@inproceedings{khosla2020supcon,
  title     = {Supervised Contrastive Learning},
  author    = {Khosla, Prannay and Teterwak, Piotr and Wang, Chen and Sarna, Aaron and Tian, Yonglong
               and Isola, Phillip and Maschinot, Aaron and Liu, Ce and Krishnan, Dilip},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {33},
  pages     = {18661--18673},
  year      = {2020}
}"""

    def __init__(self, temperature: float = 0.07, positive_key: str | Sequence[str] | None = None) -> None:
        super().__init__(temperature)
        self.positive_key = metadata_keys(positive_key) or ("labels",)

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        views = _as_views(embeddings, labels, self.positive_key, kwargs)
        size = views.shape[0]
        if labels is not None and labels.shape[0] != size:
            raise ValueError(f"got {labels.shape[0]} labels for a batch of {size} samples")
        with full_precision(embeddings.device):
            features, labels = _view_major(views, labels)
            same = self.positive_pairs(labels, kwargs, size, features.device)
            not_self = ~torch.eye(features.shape[0], dtype=torch.bool, device=features.device)
            n_views = views.shape[1]
            positives = same.repeat(n_views, n_views) & not_self
            valid = positives.any(dim=1)
            loss = _mean_loss(features, self.temperature, positives, not_self, valid)
        self._record_anchors(loss, valid, "anchors_without_positive")
        return loss

    def positive_pairs(
        self, labels: torch.Tensor | None, values: Mapping[str, Any], size: int, device: torch.device
    ) -> torch.Tensor:
        """``[B, B]``: whether samples ``i`` and ``j`` are equal on every ``positive_key``."""
        return same_metadata_mask(self.positive_key, values, size, device, labels=labels)


class MetadataContrastiveLoss(AuxiliaryLoss):
    """Two-view contrastive loss whose negatives are only the samples with different metadata."""

    name = "metadata_contrastive"
    citation = """@inproceedings{moummad2023metadata,
  title     = {Pretraining Respiratory Sound Representations using Metadata and Contrastive Learning},
  author    = {Moummad, Ilyass and Farrugia, Nicolas},
  booktitle = {IEEE Workshop on Applications of Signal Processing to Audio and Acoustics (WASPAA)},
  year      = {2023}
}"""

    def __init__(
        self, negative_keys: str | Sequence[str] = ("age_group", "sex"), temperature: float = 0.1
    ) -> None:
        super().__init__(temperature)
        self.negative_keys = metadata_keys(negative_keys)
        if not self.negative_keys:
            raise ValueError("negative_keys must name at least one metadata key")

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        labels = labels if "labels" in self.negative_keys else None
        views = _as_views(embeddings, labels, self.negative_keys, kwargs)
        size = views.shape[0]
        if views.shape[1] < 2:
            raise ValueError("MetadataContrastiveLoss needs at least two views per sample")
        with full_precision(embeddings.device):
            features, labels = _view_major(views, labels)
            device, n_views = features.device, views.shape[1]
            batch = features.shape[0] // n_views  # the global batch
            same_metadata = same_metadata_mask(self.negative_keys, kwargs, size, device, labels=labels)
            not_self = ~torch.eye(features.shape[0], dtype=torch.bool, device=device)
            positives = torch.eye(batch, dtype=torch.bool, device=device).repeat(n_views, n_views) & not_self
            negatives = (~same_metadata).repeat(n_views, n_views)
            valid = negatives.any(dim=1)
            loss = _mean_loss(features, self.temperature, positives, positives | negatives, valid)
        per_anchor = {f"{self.name}_negatives_per_anchor": float(negatives.sum(dim=1).float().mean())}
        self._record_anchors(loss, valid, "anchors_without_negative", **per_anchor)
        return loss

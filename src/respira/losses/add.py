"""ADD: the Angular Distance Distribution loss (Almudévar, Serizel & Ortega, 2024), hard and soft forms.

With ``z`` L2-normalised and pairs ``i < j``::

    d_ij = 1 - cos(z_i, z_j)
    D+   = {d_ij ** 2       : i, j same class}
    D-   = {(1 - d_ij) ** 2 : i, j different class}
    L    = lm+ * mean(D+) + ls+ * std(D+) + lm- * mean(D-) + ls- * std(D-)

Same class follows :func:`~respira.losses.base.same_label_mask`; std is the population one (0 for one
pair, zero gradient at 0); an empty pair set's terms are skipped (``add_skipped_pos`` / ``_neg``).

Soft form (mixup labels, or ``soft=True``), positives where ``cos(y_i, y_j) >= soft_positive_threshold``::

    L = lm_soft * mean_{i<j} (dy_ij - dz_ij) ** 2 + ls+ * std{dz_ij : positive}
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
    label_kind,
    same_label_mask,
)


def _safe_std(values: torch.Tensor) -> torch.Tensor:
    """Population std; 0 with zero gradient where the variance is exactly 0 (sqrt'(0) is infinite)."""
    variance = (values - values.mean()).square().mean()
    tiny = torch.finfo(variance.dtype).tiny
    return torch.where(variance > 0, variance.clamp_min(tiny).sqrt(), torch.zeros_like(variance))


def _upper_pairs(matrix: torch.Tensor) -> torch.Tensor:
    """The entries ``i < j`` of a square matrix, row-major."""
    n = matrix.shape[0]
    rows, cols = torch.triu_indices(n, n, offset=1, device=matrix.device)
    return matrix[rows, cols]


def _label_cosine(labels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cosine similarity of label vectors (class indices one-hot); two all-zero rows count as identical."""
    if labels.dim() == 1:
        num_classes = int(labels.max().item()) + 1 if labels.numel() else 1
        labels = nn.functional.one_hot(labels.long(), num_classes=num_classes)
    labels = labels.to(dtype)
    norms = labels.norm(dim=1)
    unit = labels / norms.clamp_min(torch.finfo(labels.dtype).tiny).unsqueeze(1)
    cosine = unit @ unit.T
    zero = norms == 0
    return torch.where(zero.unsqueeze(1) & zero.unsqueeze(0), torch.ones_like(cosine), cosine)


class ADDLoss(AuxiliaryLoss):
    """Angular Distance Distribution loss (module docstring): ``forward(embeddings [B, D], labels)`` with
    class indices, multi-hot flags or soft labels."""

    name = "add"
    citation = """@article{almudevar2024add,
  title   = {Angular Distance Distribution Loss for Audio Classification},
  author  = {Almud{\\'e}var, Antonio and Serizel, Romain and Ortega, Alfonso},
  journal = {arXiv preprint arXiv:2411.00153},
  year    = {2024}
}"""

    def __init__(
        self,
        lambda_mean_pos: float = 1.0,
        lambda_std_pos: float = 1.0,
        lambda_mean_neg: float = 1.0,
        lambda_std_neg: float = 1.0,
        *,
        soft: bool | None = None,
        lambda_mean_soft: float = 1.0,
        soft_positive_threshold: float = 0.5,
    ) -> None:
        super().__init__()
        self.lambda_mean_pos = float(lambda_mean_pos)
        self.lambda_std_pos = float(lambda_std_pos)
        self.lambda_mean_neg = float(lambda_mean_neg)
        self.lambda_std_neg = float(lambda_std_neg)
        self.soft = soft if soft is None else bool(soft)
        self.lambda_mean_soft = float(lambda_mean_soft)
        self.soft_positive_threshold = float(soft_positive_threshold)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if embeddings.dim() != 2:
            raise ValueError(f"ADDLoss takes embeddings [batch, dim], got {tuple(embeddings.shape)}")
        if labels is None or labels.shape[0] != embeddings.shape[0]:
            raise ValueError("ADDLoss needs one label (row) per embedding")
        with full_precision(embeddings.device):
            z = gather_with_grad(nn.functional.normalize(as_float(embeddings), dim=-1))
            labels = gather_labels(labels.to(z.device))
            soft = self.soft if self.soft is not None else label_kind(labels) == "soft"
            if soft:
                return self._soft_loss(z, labels)
            return self._hard_loss(z, labels)

    def _hard_loss(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        distance = _upper_pairs(1.0 - z @ z.T)
        same = _upper_pairs(same_label_mask(labels))
        positives = distance[same].square()
        negatives = (1.0 - distance[~same]).square()
        loss = z.sum() * 0.0  # a zero that keeps the graph (zero gradient) when every term is skipped
        components: dict[str, float | torch.Tensor] = {
            "add_pos_pairs": positives.numel(),
            "add_neg_pairs": negatives.numel(),
            "add_skipped_pos": float(positives.numel() == 0),
            "add_skipped_neg": float(negatives.numel() == 0),
        }
        for sign, values, lambda_mean, lambda_std in (
            ("pos", positives, self.lambda_mean_pos, self.lambda_std_pos),
            ("neg", negatives, self.lambda_mean_neg, self.lambda_std_neg),
        ):
            if values.numel() == 0:
                continue
            mean, std = values.mean(), _safe_std(values)
            loss = loss + lambda_mean * mean + lambda_std * std
            components[f"add_mean_{sign}"] = mean
            components[f"add_std_{sign}"] = std
        components["add"] = loss
        self._record(components)
        return loss

    def _soft_loss(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        label_cos = _upper_pairs(_label_cosine(labels, z.dtype))
        distance = _upper_pairs(1.0 - z @ z.T)
        positives = distance[label_cos >= self.soft_positive_threshold]
        loss = z.sum() * 0.0
        components: dict[str, float | torch.Tensor] = {
            "add_pairs": distance.numel(),
            "add_pos_pairs": positives.numel(),
            "add_skipped_pairs": float(distance.numel() == 0),
            "add_skipped_pos": float(positives.numel() == 0),
        }
        if distance.numel():
            mse = ((1.0 - label_cos) - distance).square().mean()
            loss = loss + self.lambda_mean_soft * mse
            components["add_soft_mse"] = mse
        if positives.numel():
            std = _safe_std(positives)
            loss = loss + self.lambda_std_pos * std
            components["add_soft_std_pos"] = std
        components["add"] = loss
        self._record(components)
        return loss

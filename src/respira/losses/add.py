"""ADD: the Angular Distance Distribution loss (Almudévar, Serizel & Ortega, 2024), hard and soft forms.

Definitions (``z`` L2-normalised inside, pairs are the unordered pairs ``i < j`` of the batch)::

    d_ij = 1 - cos(z_i, z_j)                        in [0, 2]
    D+   = {d_ij ** 2       : i, j same class}       pulls same-class embeddings together
    D-   = {(1 - d_ij) ** 2 : i, j different class} = cos ** 2: pushes other classes to orthogonality
    L    = lm+ * mean(D+) + ls+ * std(D+) + lm- * mean(D-) + ls- * std(D-)

* **Same class** follows :func:`~respira.losses.base.same_label_mask`: equal class indices, or
  *identical* multi-hot vectors (``(1, 0)`` crackle and ``(1, 1)`` both are different classes).
* **std** is the *population* standard deviation (``unbiased=False``): defined for a single pair (0),
  and the mean and std are the same whether pairs are counted once (``i < j``) or twice (``i != j``).
  Its square root is made safe: where the variance is exactly 0 the std is 0 with zero gradient.
* A term whose pair set is empty (no same-class pair, no different-class pair) is **skipped**: it adds
  0 with zero gradient and ``last_components`` records ``add_skipped_pos`` / ``add_skipped_neg`` = 1.

**Soft form** (mixup; used when the labels are soft, i.e. a float ``[B, C]`` holding a value strictly
between 0 and 1, or always with ``soft=True``)::

    dy_ij = 1 - cos(y_i, y_j)    (label vectors; two all-zero rows have cos 1, one zero row cos 0)
    dz_ij = 1 - cos(z_i, z_j)
    L     = lm_soft * mean_{i<j} (dy_ij - dz_ij) ** 2 + ls+ * std{dz_ij : cos(y_i, y_j) >= threshold}

"Positive" pairs of the soft form are those whose label cosine similarity is at least
``soft_positive_threshold`` (0.5: the labels share at least half their direction, e.g. a 50/50 mix of
crackle and normal against pure crackle has cos 0.71, against pure normal 0.71, against wheeze 0). With
one-hot labels the first term equals the pooled mean of D+ and D- above. Class-index labels with
``soft=True`` are one-hot encoded. Multi-hot mixup rows are compared by direction only, so
``(0.3, 0)`` (30% crackle, 70% normal) has the same direction as ``(1, 0)``: prefer 4-class soft labels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import AuxiliaryLoss, as_float, full_precision, label_kind, same_label_mask

__all__ = ["ADDLoss"]

ADD_CITATION = """@article{almudevar2024add,
  title   = {Angular Distance Distribution Loss for Audio Classification},
  author  = {Almud{\\'e}var, Antonio and Serizel, Romain and Ortega, Alfonso},
  journal = {arXiv preprint arXiv:2411.00153},
  year    = {2024}
}"""


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


def _as_label_matrix(labels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if labels.dim() == 1:
        num_classes = int(labels.max().item()) + 1 if labels.numel() else 1
        labels = nn.functional.one_hot(labels.long(), num_classes=num_classes)
    return labels.to(dtype)


def _label_cosine(labels: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of label vectors; two all-zero rows count as identical (cos 1)."""
    norms = labels.norm(dim=1)
    unit = labels / norms.clamp_min(torch.finfo(labels.dtype).tiny).unsqueeze(1)
    cosine = unit @ unit.T
    zero = norms == 0
    return torch.where(zero.unsqueeze(1) & zero.unsqueeze(0), torch.ones_like(cosine), cosine)


class ADDLoss(AuxiliaryLoss):
    """Angular Distance Distribution loss; see the module docstring for the exact definitions.

    ``forward(embeddings [B, D], labels)`` with labels ``[B]`` class indices, ``[B, C]`` multi-hot flags
    or ``[B, C]`` soft labels (mixup, soft form). ``last_components``: ``add`` (the loss), the unweighted
    terms (``add_mean_pos``, ``add_std_pos``, ``add_mean_neg``, ``add_std_neg``; soft form:
    ``add_soft_mse``, ``add_soft_std_pos``), pair counts and ``add_skipped_*`` flags.
    """

    name = "add"
    citation = ADD_CITATION

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
        gather_distributed: bool = True,
    ) -> None:
        super().__init__(gather_distributed=gather_distributed)
        self.lambda_mean_pos = float(lambda_mean_pos)
        self.lambda_std_pos = float(lambda_std_pos)
        self.lambda_mean_neg = float(lambda_mean_neg)
        self.lambda_std_neg = float(lambda_std_neg)
        self.soft = soft if soft is None else bool(soft)
        self.lambda_mean_soft = float(lambda_mean_soft)
        self.soft_positive_threshold = float(soft_positive_threshold)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "lambda_mean_pos": self.lambda_mean_pos,
            "lambda_std_pos": self.lambda_std_pos,
            "lambda_mean_neg": self.lambda_mean_neg,
            "lambda_std_neg": self.lambda_std_neg,
            "soft": self.soft,
            "lambda_mean_soft": self.lambda_mean_soft,
            "soft_positive_threshold": self.soft_positive_threshold,
            **super().get_config_dict(),
        }

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if embeddings.dim() != 2:
            raise ValueError(f"ADDLoss takes embeddings [batch, dim], got {tuple(embeddings.shape)}")
        if labels is None or labels.shape[0] != embeddings.shape[0]:
            raise ValueError("ADDLoss needs one label (row) per embedding")
        with full_precision(embeddings.device):
            z = self._gather(nn.functional.normalize(as_float(embeddings), dim=-1))
            labels = self._gather_nograd(labels.to(z.device))
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
        label_cos = _upper_pairs(_label_cosine(_as_label_matrix(labels, z.dtype)))
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

"""ADD's intra- and inter-class angular distances of a set of embeddings, for reports (imports torch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..losses.base import same_label_mask

__all__ = ["add_properties"]


@torch.no_grad()
def add_properties(
    embeddings: torch.Tensor, labels: torch.Tensor, *, chunk_size: int = 1024
) -> dict[str, float]:
    """Intra- and inter-class angular distances (``d = 1 - cos``) of a set of embeddings.

    Returns ``intra_mean``, ``inter_mean`` and their coefficients of variation ``intra_cv``, ``inter_cv``
    (NaN without any pair); same class as in :class:`respira.losses.ADDLoss`.
    """
    z = nn.functional.normalize(embeddings.detach().to(torch.float64), dim=-1)
    labels = labels.to(z.device)
    totals = {"intra": [0, 0.0, 0.0], "inter": [0, 0.0, 0.0]}  # count, sum, sum of squares
    n = z.shape[0]
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        distance = 1.0 - z[start:stop] @ z.T
        same = same_label_mask(labels[start:stop], labels)
        not_self = torch.ones_like(same)
        rows = torch.arange(stop - start, device=z.device)
        not_self[rows, rows + start] = False
        for name, mask in (("intra", same & not_self), ("inter", ~same)):
            values = distance[mask]
            totals[name][0] += values.numel()
            totals[name][1] += float(values.sum())
            totals[name][2] += float(values.square().sum())
    result: dict[str, float] = {}
    for name, (count, total, squares) in totals.items():
        if count == 0:
            result[f"{name}_mean"] = result[f"{name}_cv"] = math.nan
            continue
        mean = total / count
        std = math.sqrt(max(squares / count - mean * mean, 0.0))
        result[f"{name}_mean"] = mean
        result[f"{name}_cv"] = std / mean if mean > 0 else 0.0
    return result

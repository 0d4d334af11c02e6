"""The geometry of a set of embeddings: ADD's intra- and inter-class angular distances, for reports.

A diagnostic, not a loss: it measures on (validation or test) embeddings what the ADD loss
(:class:`respira.losses.ADDLoss`) shapes during training, with the same distance and the same
same-class rule (:func:`respira.losses.base.same_label_mask`). It imports torch, so it is not loaded
by ``import respira.metrics``: import it from ``respira.metrics.embedding_geometry``.
"""

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
    """Intra- and inter-class angular distances of a set of embeddings, for reports.

    With ``d = 1 - cos`` (the ADD loss's distance) over all pairs ``i != j``: ``intra_mean`` /
    ``inter_mean`` the mean distance over same-class / different-class pairs, and ``intra_cv`` /
    ``inter_cv`` the coefficient of variation (population std / mean; 0 when the mean is 0). A value
    without any pair is NaN. Same class as in :class:`ADDLoss` (identical multi-hot vectors). Computed in
    float64, ``chunk_size`` rows at a time (memory O(chunk_size x N)).
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

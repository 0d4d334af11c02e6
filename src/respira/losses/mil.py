"""Multiple-instance learning: a recording-labelled example as a bag of window logits (Dietterich et al.
1997), max-pooled into a logit trained with binary cross-entropy against the recording's flags."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


def pool_bags(logits: torch.Tensor, bags: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Max-pool window ``logits`` ``[N, labels]`` by bag id: ``(bag_logits [M, labels], bag_ids [M])``."""
    if logits.dim() != 2 or bags.dim() != 1 or bags.shape[0] != logits.shape[0]:
        raise ValueError(
            f"expected logits [windows, labels] and bags [windows], got {tuple(logits.shape)} and "
            f"{tuple(bags.shape)}"
        )
    ids, inverse = torch.unique(bags, return_inverse=True)
    index = inverse.unsqueeze(1).expand(-1, logits.shape[1])
    pooled = logits.new_full((ids.shape[0], logits.shape[1]), -torch.inf)
    return pooled.scatter_reduce(0, index, logits, reduce="amax", include_self=True), ids


class MultipleInstanceLoss(nn.Module):
    """Binary cross-entropy of max-pooled bag logits against each bag's first window's flags:
    ``forward(logits [N, labels], bags [N], flags [N, labels]) -> scalar``."""

    citation: ClassVar[str] = """\
@article{dietterich1997multiple,
  title   = {Solving the multiple instance problem with axis-parallel rectangles},
  author  = {Dietterich, Thomas G. and Lathrop, Richard H. and Lozano-P{\\'e}rez, Tom{\\'a}s},
  journal = {Artificial Intelligence}, volume = {89}, number = {1-2}, pages = {31--71}, year = {1997}
}
"""

    def forward(self, logits: torch.Tensor, bags: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        bag_logits, ids = pool_bags(logits.float(), bags)
        first = torch.searchsorted(ids, bags)
        order = torch.arange(bags.shape[0], device=bags.device)
        rows = torch.full_like(ids, bags.shape[0]).scatter_reduce(0, first, order, reduce="amin")
        targets = flags[rows].to(bag_logits.dtype)
        return nn.functional.binary_cross_entropy_with_logits(bag_logits, targets)

"""Multiple-instance learning: a recording-labelled example as a bag of window logits (Dietterich et al.
1997), pooled into a logit trained with binary cross-entropy against the recording's flags:

* ``max``: the largest window logit;
* ``noisy_or``: ``1 − Π_k (1 − p_k)`` (Maron and Lozano-Pérez 1998), in log space;
* ``attention``: ``Σ_k a_k p_k`` with ``a = softmax(α · z)``, the parameter-free auto-pool of McFee,
  Salamon and Bello (2018) (``α → ∞``: max, ``α = 0``: mean).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

__all__ = ["MIL_POOLINGS", "MultipleInstanceLoss", "pool_bags"]

MIL_POOLINGS: tuple[str, ...] = ("max", "noisy_or", "attention")
"""Poolings of window logits into a bag's logit (see the module docstring)."""

_EPSILON = 1e-6


def pool_bags(
    logits: torch.Tensor, bags: torch.Tensor, pooling: str = "max", *, alpha: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pool window ``logits`` ``[N, labels]`` by bag id: ``(bag_logits [M, labels], bag_ids [M])``."""
    if pooling not in MIL_POOLINGS:
        raise ValueError(f"MIL pooling must be one of {', '.join(MIL_POOLINGS)}, got {pooling!r}")
    if logits.dim() != 2 or bags.dim() != 1 or bags.shape[0] != logits.shape[0]:
        raise ValueError(
            f"expected logits [windows, labels] and bags [windows], got {tuple(logits.shape)} and "
            f"{tuple(bags.shape)}"
        )
    ids, inverse = torch.unique(bags, return_inverse=True)
    count, labels = ids.shape[0], logits.shape[1]
    index = inverse.unsqueeze(1).expand(-1, labels)
    if pooling == "max":
        pooled = logits.new_full((count, labels), -torch.inf)
        return pooled.scatter_reduce(0, index, logits, reduce="amax", include_self=True), ids
    if pooling == "noisy_or":
        # log(1 - P) = sum_k log(1 - p_k); P = 1 - exp(S); logit(P) = log(-expm1(S)) - S
        log_none = logits.new_zeros((count, labels)).index_add(0, inverse, -nn.functional.softplus(logits))
        log_none = log_none.clamp(max=-_EPSILON)
        return torch.log(-torch.expm1(log_none)) - log_none, ids
    scores = alpha * logits
    largest = scores.new_full((count, labels), -torch.inf).scatter_reduce(
        0, index, scores, reduce="amax", include_self=True
    )
    weights = torch.exp(scores - largest.detach()[inverse])
    totals = weights.new_zeros((count, labels)).index_add(0, inverse, weights)
    weights = weights / totals[inverse]
    probability = weights.new_zeros((count, labels)).index_add(0, inverse, weights * torch.sigmoid(logits))
    clamped = probability.clamp(_EPSILON, 1 - _EPSILON)
    return torch.log(clamped) - torch.log1p(-clamped), ids


class MultipleInstanceLoss(nn.Module):
    """Binary cross-entropy of pooled bag logits against each bag's first window's flags:
    ``forward(logits [N, labels], bags [N], flags [N, labels]) -> scalar``."""

    citation: ClassVar[str] = """\
@article{dietterich1997multiple,
  title   = {Solving the multiple instance problem with axis-parallel rectangles},
  author  = {Dietterich, Thomas G. and Lathrop, Richard H. and Lozano-P{\\'e}rez, Tom{\\'a}s},
  journal = {Artificial Intelligence}, volume = {89}, number = {1-2}, pages = {31--71}, year = {1997}
}
@inproceedings{maron1998framework,
  title     = {A framework for multiple-instance learning},
  author    = {Maron, Oded and Lozano-P{\\'e}rez, Tom{\\'a}s},
  booktitle = {Advances in Neural Information Processing Systems 10}, pages = {570--576}, year = {1998}
}
@inproceedings{ilse2018attention,
  title     = {Attention-based deep multiple instance learning},
  author    = {Ilse, Maximilian and Tomczak, Jakub M. and Welling, Max},
  booktitle = {Proceedings of the 35th International Conference on Machine Learning}, year = {2018}
}
@article{mcfee2018adaptive,
  title   = {Adaptive pooling operators for weakly labeled sound event detection},
  author  = {McFee, Brian and Salamon, Justin and Bello, Juan Pablo},
  journal = {IEEE/ACM Transactions on Audio, Speech, and Language Processing},
  volume  = {26}, number = {11}, pages = {2180--2193}, year = {2018}
}
"""

    def __init__(self, pooling: str = "max", alpha: float = 1.0) -> None:
        super().__init__()
        if pooling not in MIL_POOLINGS:
            raise ValueError(f"MIL pooling must be one of {', '.join(MIL_POOLINGS)}, got {pooling!r}")
        self.pooling, self.alpha = pooling, float(alpha)
        self.last_components: dict[str, Any] = {}

    def get_config_dict(self) -> dict[str, Any]:
        return {"pooling": self.pooling, "alpha": self.alpha}

    def forward(self, logits: torch.Tensor, bags: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        bag_logits, ids = pool_bags(logits.float(), bags, self.pooling, alpha=self.alpha)
        first = torch.searchsorted(ids, bags)
        order = torch.arange(bags.shape[0], device=bags.device)
        rows = torch.full_like(ids, bags.shape[0]).scatter_reduce(0, first, order, reduce="amin")
        targets = flags[rows].to(bag_logits.dtype)
        self.last_components = {"bags": float(ids.shape[0])}
        return nn.functional.binary_cross_entropy_with_logits(bag_logits, targets)

"""Multiple-instance max pooling and loss (respira.losses.mil) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from respira.losses import MultipleInstanceLoss, pool_bags

# two bags: id 5 (rows 0, 1, 3) and id 7 (row 2), two labels
LOGITS = torch.tensor([[0.0, 1.0], [2.0, -1.0], [-1.0, 0.5], [0.3, 0.3]], dtype=torch.float64)
BAGS = torch.tensor([5, 5, 7, 5])


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _probabilities() -> torch.Tensor:
    logits, ids = pool_bags(LOGITS, BAGS)
    assert ids.tolist() == [5, 7]
    return torch.sigmoid(logits)


def test_max_is_the_largest_window_probability() -> None:
    expected = [[_sigmoid(2.0), _sigmoid(1.0)], [_sigmoid(-1.0), _sigmoid(0.5)]]
    assert _probabilities().numpy() == pytest.approx(np.array(expected))


def test_a_bag_of_one_window_is_that_window() -> None:
    logits, _ = pool_bags(LOGITS, torch.arange(4))
    assert torch.sigmoid(logits).numpy() == pytest.approx(torch.sigmoid(LOGITS).numpy(), rel=1e-5)


def test_the_loss_is_bce_of_the_pooled_bags() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    flags = torch.tensor([[1, 0], [1, 0], [0, 1], [1, 0]])
    loss = MultipleInstanceLoss()(logits, BAGS, flags)
    pooled = _probabilities()
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    expected = torch.nn.functional.binary_cross_entropy(pooled, targets)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_max_pooling_trains_only_the_top_window() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    MultipleInstanceLoss()(logits, BAGS, torch.tensor([[1, 0], [1, 0], [0, 1], [1, 0]])).backward()
    assert (logits.grad[:, 0] != 0).tolist() == [False, True, True, False]

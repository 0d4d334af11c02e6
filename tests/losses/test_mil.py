"""Multiple-instance pooling and loss (respira.losses.mil) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from respira.losses import MIL_POOLINGS, MultipleInstanceLoss, pool_bags

# two bags: id 5 (rows 0, 1, 3) and id 7 (row 2), two labels
LOGITS = torch.tensor([[0.0, 1.0], [2.0, -1.0], [-1.0, 0.5], [0.3, 0.3]], dtype=torch.float64)
BAGS = torch.tensor([5, 5, 7, 5])


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _probabilities(pooling: str, **options) -> torch.Tensor:
    logits, ids = pool_bags(LOGITS, BAGS, pooling, **options)
    assert ids.tolist() == [5, 7]
    return torch.sigmoid(logits)


def test_max_is_the_largest_window_probability() -> None:
    expected = [[_sigmoid(2.0), _sigmoid(1.0)], [_sigmoid(-1.0), _sigmoid(0.5)]]
    assert _probabilities("max").numpy() == pytest.approx(np.array(expected))


def test_noisy_or_is_one_minus_the_product_of_misses() -> None:
    crackle = 1 - (1 - _sigmoid(0.0)) * (1 - _sigmoid(2.0)) * (1 - _sigmoid(0.3))
    wheeze = 1 - (1 - _sigmoid(1.0)) * (1 - _sigmoid(-1.0)) * (1 - _sigmoid(0.3))
    expected = [[crackle, wheeze], [_sigmoid(-1.0), _sigmoid(0.5)]]
    assert _probabilities("noisy_or").numpy() == pytest.approx(np.array(expected), rel=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.0])
def test_attention_weights_are_a_softmax_of_the_logits_and_sum_to_one(alpha: float) -> None:
    expected = []
    for label in range(2):
        logits = [LOGITS[row, label].item() for row in (0, 1, 3)]
        weights = [math.exp(alpha * z) for z in logits]
        weights = [w / sum(weights) for w in weights]
        assert sum(weights) == pytest.approx(1.0)
        expected.append(sum(w * _sigmoid(z) for w, z in zip(weights, logits, strict=True)))
    pooled = _probabilities("attention", alpha=alpha)
    assert pooled[0].tolist() == pytest.approx(expected, rel=1e-6)
    assert pooled[1].tolist() == pytest.approx([_sigmoid(-1.0), _sigmoid(0.5)], rel=1e-6)


def test_attention_with_alpha_zero_is_the_mean_and_a_large_alpha_the_max() -> None:
    mean = torch.sigmoid(LOGITS[[0, 1, 3]]).mean(dim=0)
    assert _probabilities("attention", alpha=0.0)[0].tolist() == pytest.approx(mean.tolist(), rel=1e-6)
    assert _probabilities("attention", alpha=200.0)[0].tolist() == pytest.approx(
        _probabilities("max")[0].tolist(), rel=1e-4
    )


@pytest.mark.parametrize("pooling", MIL_POOLINGS)
def test_a_bag_of_one_window_is_that_window(pooling: str) -> None:
    logits, _ = pool_bags(LOGITS, torch.arange(4), pooling)
    assert torch.sigmoid(logits).numpy() == pytest.approx(torch.sigmoid(LOGITS).numpy(), rel=1e-5)


@pytest.mark.parametrize("pooling", MIL_POOLINGS)
def test_the_loss_is_bce_of_the_pooled_bags_and_trains_every_window_it_should(pooling: str) -> None:
    logits = LOGITS.clone().requires_grad_(True)
    flags = torch.tensor([[1, 0], [1, 0], [0, 1], [1, 0]])
    loss = MultipleInstanceLoss(pooling)(logits, BAGS, flags)
    pooled = _probabilities(pooling)
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    expected = torch.nn.functional.binary_cross_entropy(pooled, targets)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    if pooling != "max":  # every window of a bag gets a gradient (max: the top one only, below)
        assert bool((logits.grad != 0).all())


def test_max_pooling_trains_only_the_top_window() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    MultipleInstanceLoss("max")(logits, BAGS, torch.tensor([[1, 0], [1, 0], [0, 1], [1, 0]])).backward()
    assert (logits.grad[:, 0] != 0).tolist() == [False, True, True, False]


def test_config_round_trips_and_a_bad_pooling_is_refused() -> None:
    loss = MultipleInstanceLoss("attention", alpha=2.0)
    assert MultipleInstanceLoss(**loss.get_config_dict()).get_config_dict() == {
        "pooling": "attention",
        "alpha": 2.0,
    }
    assert "ilse2018attention" in loss.citation
    with pytest.raises(ValueError, match="MIL pooling must be one of max, noisy_or, attention"):
        MultipleInstanceLoss("mean")


def test_the_models_autopool_is_the_attention_pooling_of_each_examples_steps() -> None:
    """pooling=autopool (respira.models) and the attention MIL pooling (respira.losses.mil) are one formula
    in two layouts: [batch, steps] with a mask, and ragged bags."""
    from respira.models.respira.modeling_respira import auto_pool

    generator = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(3, 5, 2, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    rows = torch.arange(3).unsqueeze(1).expand_as(mask)
    pooled, ids = pool_bags(logits[mask], rows[mask], "attention", alpha=1.0)
    assert ids.tolist() == [0, 1, 2]
    torch.testing.assert_close(auto_pool(logits, mask), pooled, rtol=1e-5, atol=1e-5)

"""Frame-level losses: targets from event times, strong and weak terms against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from respira.losses import FrameLoss, event_rows, frame_targets


def test_event_rows_tell_weak_examples_from_examples_annotated_with_no_event() -> None:
    events, strong = event_rows(
        [
            None,
            [],
            [{"start": 0.5, "end": 1.0, "label": "wheeze"}, {"start": 0, "end": 0.2, "label": "crackle"}],
        ]
    )
    assert strong.tolist() == [False, True, True]
    assert events.shape == (3, 2, 3)
    assert torch.isnan(events[:2]).all()
    assert events[2].tolist() == [[0.5, 1.0, 1.0], [0.0, 0.2, 0.0]]
    with pytest.raises(ValueError, match="'normal' is not one of crackle, wheeze"):
        event_rows([[{"start": 0, "end": 1, "label": "normal"}]])


def test_frame_targets_by_hand() -> None:
    times = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])
    events, _ = event_rows(
        [
            [{"start": 0.2, "end": 0.5, "label": "crackle"}, {"start": 0.6, "end": 1.0, "label": "wheeze"}],
            [],
        ]
    )
    targets = frame_targets(times, events)
    # [onset, offset): the step at 0.5 is past the crackle; 0.3 is in it
    assert targets[0].tolist() == [[0, 0], [1, 0], [0, 0], [0, 1], [0, 1]]
    assert targets[1].sum() == 0


def test_frame_targets_repeat_a_short_example_as_repeat_padding_does() -> None:
    times = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])
    events, _ = event_rows([[{"start": 0.0, "end": 0.2, "label": "crackle"}]])
    # 0.4 s of real signal, repeat-padded: the steps at 0.5 and 0.9 read 0.1 and 0.1 again
    targets = frame_targets(times, events, lengths=torch.tensor([0.4]))
    assert targets[0, :, 0].tolist() == [1, 0, 1, 0, 1]
    per_row = frame_targets(times.expand(1, -1) + 0.2, events)  # [batch, steps] times: shifted by 0.2 s
    assert per_row[0, :, 0].tolist() == [0, 0, 0, 0, 0]


def _batch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 2, generator=generator, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    times = torch.tensor([0.25, 0.75, 1.25, 1.75])
    events, strong = event_rows(
        [
            [{"start": 0.5, "end": 1.0, "label": "crackle"}],
            None,  # labelled as a whole: no events
            [{"start": 0.0, "end": 2.0, "label": "wheeze"}],
        ]
    )
    return logits, mask, times, events, strong


def test_the_strong_term_is_the_bce_of_the_strong_examples_real_steps() -> None:
    logits, mask, times, events, strong = _batch()
    loss = FrameLoss(strong_weight=2.0)(logits, mask, times, events, strong)
    # by hand: example 0 steps 0-2 (crackle target at step 1 only), example 2 steps 0-1 (wheeze targets 1)
    targets0 = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    targets2 = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    chosen = torch.cat([logits[0, :3], logits[2, :2]])
    expected = nn.functional.binary_cross_entropy_with_logits(chosen, torch.cat([targets0, targets2]))
    assert loss.item() == pytest.approx(2.0 * expected.item(), rel=1e-6)
    loss.backward()
    assert logits.grad[1].abs().sum() == 0  # the weak example gets nothing from strong labels
    assert logits.grad[0, 3].abs().sum() == 0  # nor does a padded step


def test_the_options_round_trip() -> None:
    loss = FrameLoss(strong_weight=0.5)
    assert FrameLoss(**loss.get_config_dict()).get_config_dict() == {"strong_weight": 0.5}
    assert "mesaros2021sound" in FrameLoss.citation


def test_a_batch_without_strong_examples_has_no_strong_term() -> None:
    logits, mask, times, events, _ = _batch()
    loss = FrameLoss(strong_weight=1.0)(logits, mask, times, events, torch.zeros(3, dtype=torch.bool))
    assert loss.item() == 0.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strong_weight": -1.0}, "strong_weight must be a number greater than 0"),
        ({"strong_weight": 0.0}, "strong_weight must be a number greater than 0"),
        ({"strong_weight": math.nan}, "strong_weight must be"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FrameLoss(**options)

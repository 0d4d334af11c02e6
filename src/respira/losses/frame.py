"""Frame-level training for event detection: strong labels (annotated event times) and weak labels.

A model with ``output_frames=True`` gives logits on its encoder's time steps (``frame_logits [batch,
steps, labels]``, ``frame_mask``, ``frame_times``: the steps' centres in seconds of the input;
:mod:`respira.models.time_steps`). Two kinds of labels train them:

* **strong**: an example whose crackle / wheeze events are annotated with onset and offset (SPRSound)
  gives every step a target — 1 where its centre lies in ``[onset, offset)`` of an event of the label,
  0 elsewhere — and the loss is the binary cross-entropy over the example's real steps (Mesaros et al.,
  2021, the strongly-labelled sound-event-detection objective). The targets are read on the input the
  encoder saw: a shorter example repeat-padded to the model's length repeats its events too.
* **weak**: an example labelled as a whole (an ICBHI cycle flagged with crackles says one is somewhere
  in it) is a *bag* of its steps; the steps' logits are pooled per label
  (:func:`~respira.losses.mil.pool_bags`: max, noisy-or or the auto-pool attention of McFee, Salamon
  and Bello, 2018) and the pooled logit is trained with binary cross-entropy against the example's
  flags.

:class:`FrameLoss` is ``strong_weight`` × the first over the strongly-labelled examples of a batch +
``weak_weight`` × the second over every example (a strongly-labelled one's flags are those of its
events). Strong events arrive as ``events [batch, E, 3]`` rows ``(onset, offset, label index)`` in seconds
of the example, NaN rows padding (:func:`event_rows`), and ``strong [batch]`` says which examples'
events are the complete annotation (a weak example's rows are ignored).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from ..labels import MULTI_LABEL_NAMES
from .mil import MIL_POOLINGS, MultipleInstanceLoss

__all__ = ["FRAME_EVENTS_COLUMN", "FRAME_EVENT_FIELDS", "FrameLoss", "event_rows", "frame_targets"]

FRAME_EVENTS_COLUMN = "frame_events"
"""The training-split column of strong labels: an example's crackle / wheeze events (a list of
:data:`FRAME_EVENT_FIELDS`); ``None`` for an example labelled as a whole (weak)."""

FRAME_EVENT_FIELDS = ("start", "end", "label")
"""The fields of one strong event of a training example (seconds from the example's start, a label of
:data:`~respira.labels.MULTI_LABEL_NAMES`)."""


def event_rows(examples: Sequence[Iterable[Mapping[str, Any]] | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(events [batch, E, 3], strong [batch])`` of each example's list of ``{start, end, label}``:
    ``None`` marks an example without strong labels; an empty list one annotated with no event."""
    rows = [[] if events is None else list(events) for events in examples]
    width = max((len(events) for events in rows), default=0)
    table = torch.full((len(rows), max(width, 1), 3), math.nan, dtype=torch.float64)
    for row, events in enumerate(rows):
        for column, event in enumerate(events):
            label = event["label"]
            if label not in MULTI_LABEL_NAMES:
                raise ValueError(f"strong event label {label!r} is not one of {', '.join(MULTI_LABEL_NAMES)}")
            table[row, column] = torch.tensor(
                [float(event["start"]), float(event["end"]), float(MULTI_LABEL_NAMES.index(label))],
                dtype=torch.float64,
            )
    strong = torch.tensor([events is not None for events in examples], dtype=torch.bool)
    return table, strong


def frame_targets(
    frame_times: torch.Tensor,
    events: torch.Tensor,
    *,
    lengths: torch.Tensor | None = None,
    num_labels: int = len(MULTI_LABEL_NAMES),
) -> torch.Tensor:
    """``[batch, steps, num_labels]`` 0/1: whether each step's centre lies in ``[onset, offset)`` of an
    event of the label. ``frame_times``: ``[steps]`` or ``[batch, steps]`` seconds; ``events`` as
    :func:`event_rows`; ``lengths`` (seconds of real signal per example): a step past it reads the
    example from its start again (repeat padding)."""
    times = frame_times.to(torch.float64)
    if times.dim() == 1:
        times = times.unsqueeze(0).expand(events.shape[0], -1)
    if lengths is not None:
        times = torch.remainder(times, lengths.to(torch.float64).clamp_min(1e-9).unsqueeze(1))
    rows = events.to(device=times.device, dtype=torch.float64)
    start, end, label = rows[..., 0], rows[..., 1], rows[..., 2]
    valid = ~torch.isnan(label)
    inside = (times.unsqueeze(2) >= start.unsqueeze(1)) & (times.unsqueeze(2) < end.unsqueeze(1))
    inside = inside & valid.unsqueeze(1)  # [batch, steps, E]
    one_hot = nn.functional.one_hot(label.nan_to_num(0).long(), num_labels) * valid.unsqueeze(2)
    return (torch.einsum("bte,bel->btl", inside.to(torch.float64), one_hot.to(torch.float64)) > 0).float()


class FrameLoss(nn.Module):
    """``strong_weight`` × BCE of strongly-labelled examples' steps against their events + ``weak_weight``
    × BCE of every example's steps pooled per label (``pooling``) against its flags.

    ``forward(frame_logits [B, T, L], frame_mask [B, T], frame_times [T], flags [B, L], events [B, E, 3],
    strong [B], lengths [B] | None) -> scalar``; ``last_components`` holds each term of the last call
    (``frame_strong``, ``frame_weak``) and the number of strongly-labelled examples.
    """

    citation: ClassVar[str] = """\
@article{mesaros2021sound,
  title   = {Sound event detection: A tutorial},
  author  = {Mesaros, Annamaria and Heittola, Toni and Virtanen, Tuomas and Plumbley, Mark D.},
  journal = {IEEE Signal Processing Magazine}, volume = {38}, number = {5}, pages = {67--83}, year = {2021}
}
@article{mcfee2018adaptive,
  title   = {Adaptive pooling operators for weakly labeled sound event detection},
  author  = {McFee, Brian and Salamon, Justin and Bello, Juan Pablo},
  journal = {IEEE/ACM Transactions on Audio, Speech, and Language Processing},
  volume  = {26}, number = {11}, pages = {2180--2193}, year = {2018}
}
"""

    def __init__(
        self,
        strong_weight: float = 1.0,
        weak_weight: float = 0.0,
        pooling: str = "attention",
        alpha: float = 1.0,
    ) -> None:
        super().__init__()
        for name, value in (("strong_weight", strong_weight), ("weak_weight", weak_weight)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number at least 0, got {value!r}")
        if strong_weight == 0 and weak_weight == 0:
            raise ValueError("a frame loss needs a positive strong_weight or weak_weight")
        if pooling not in MIL_POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(MIL_POOLINGS)}, got {pooling!r}")
        self.strong_weight, self.weak_weight = float(strong_weight), float(weak_weight)
        self.weak = MultipleInstanceLoss(pooling, alpha)
        self.last_components: dict[str, Any] = {}

    def get_config_dict(self) -> dict[str, Any]:
        """The constructor options (``FrameLoss(**loss.get_config_dict())`` rebuilds it)."""
        return {
            "strong_weight": self.strong_weight,
            "weak_weight": self.weak_weight,
            **self.weak.get_config_dict(),
        }

    def forward(
        self,
        frame_logits: torch.Tensor,
        frame_mask: torch.Tensor,
        frame_times: torch.Tensor,
        flags: torch.Tensor,
        events: torch.Tensor,
        strong: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits = frame_logits.float()
        mask = frame_mask.bool()
        strong = strong.to(device=logits.device, dtype=torch.bool)
        loss = logits.new_zeros(())
        self.last_components = {"strong_examples": strong.sum().detach()}
        if self.strong_weight and bool(strong.any()):
            targets = frame_targets(frame_times, events, lengths=lengths, num_labels=logits.shape[-1]).to(
                logits.device
            )
            counted = (mask & strong.unsqueeze(1)).unsqueeze(-1).expand_as(logits)
            strong_loss = nn.functional.binary_cross_entropy_with_logits(logits[counted], targets[counted])
            self.last_components["frame_strong"] = strong_loss.detach()
            loss = loss + self.strong_weight * strong_loss
        if self.weak_weight:
            rows = torch.arange(logits.shape[0], device=logits.device).unsqueeze(1).expand_as(mask)
            weak_loss = self.weak(logits[mask], rows[mask], flags.to(logits.device)[rows[mask]])
            self.last_components["frame_weak"] = weak_loss.detach()
            loss = loss + self.weak_weight * weak_loss
        return loss

"""Frame-level training for event detection: strong labels (annotated event times).

A model with ``output_frames=True`` gives logits on its encoder's time steps (``frame_logits [batch,
steps, labels]``, ``frame_mask``, ``frame_times``: the steps' centres in seconds of the input;
:mod:`respira.models.time_steps`). An example whose crackle / wheeze events are annotated with onset and
offset (SPRSound) gives every step a target — 1 where its centre lies in ``[onset, offset)`` of an event
of the label, 0 elsewhere — and the loss is the binary cross-entropy over the example's real steps
(Mesaros et al., 2021, the strongly-labelled sound-event-detection objective). The targets are read on
the input the encoder saw: a shorter example repeat-padded to the model's length repeats its events too.

:class:`FrameLoss` is ``strong_weight`` × that loss over the strongly-labelled examples of a batch (an
example labelled as a whole, an ICBHI cycle, gets none: ``pooling: autopool`` trains its steps through
the clip's logit). Strong events arrive as ``events [batch, E, 3]`` rows ``(onset, offset, label
index)`` in seconds of the example, NaN rows padding (:func:`event_rows`), and ``strong [batch]`` says
which examples' events are the complete annotation (a weak example's rows are ignored).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from ..labels import MULTI_LABEL_NAMES

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
    """``strong_weight`` × BCE of strongly-labelled examples' steps against their events.

    ``forward(frame_logits [B, T, L], frame_mask [B, T], frame_times [T], events [B, E, 3], strong [B],
    lengths [B] | None) -> scalar``; ``last_components`` holds the term of the last call
    (``frame_strong``) and the number of strongly-labelled examples.
    """

    citation: ClassVar[str] = """\
@article{mesaros2021sound,
  title   = {Sound event detection: A tutorial},
  author  = {Mesaros, Annamaria and Heittola, Toni and Virtanen, Tuomas and Plumbley, Mark D.},
  journal = {IEEE Signal Processing Magazine}, volume = {38}, number = {5}, pages = {67--83}, year = {2021}
}
"""

    def __init__(self, strong_weight: float = 1.0) -> None:
        super().__init__()
        if isinstance(strong_weight, bool) or not math.isfinite(strong_weight) or strong_weight <= 0:
            raise ValueError(f"strong_weight must be a number greater than 0, got {strong_weight!r}")
        self.strong_weight = float(strong_weight)
        self.last_components: dict[str, Any] = {}

    def get_config_dict(self) -> dict[str, Any]:
        """The constructor options (``FrameLoss(**loss.get_config_dict())`` rebuilds it)."""
        return {"strong_weight": self.strong_weight}

    def forward(
        self,
        frame_logits: torch.Tensor,
        frame_mask: torch.Tensor,
        frame_times: torch.Tensor,
        events: torch.Tensor,
        strong: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits = frame_logits.float()
        mask = frame_mask.bool()
        strong = strong.to(device=logits.device, dtype=torch.bool)
        loss = logits.new_zeros(())
        self.last_components = {"strong_examples": strong.sum().detach()}
        if bool(strong.any()):
            targets = frame_targets(frame_times, events, lengths=lengths, num_labels=logits.shape[-1]).to(
                logits.device
            )
            counted = (mask & strong.unsqueeze(1)).unsqueeze(-1).expand_as(logits)
            strong_loss = nn.functional.binary_cross_entropy_with_logits(logits[counted], targets[counted])
            self.last_components["frame_strong"] = strong_loss.detach()
            loss = loss + self.strong_weight * strong_loss
        return loss

"""A finished training run, as :func:`respira.train` returns it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...run_record import RunRecord

if TYPE_CHECKING:
    from ...models import RespiraForAudioClassification

__all__ = ["TrainedRun"]


@dataclass(frozen=True)
class TrainedRun:
    """A run folder written by ``respira train`` or :func:`respira.train`.

    Example::

        run = respira.TrainedRun("runs/cnn_ce")
        run.metrics["test_icbhi_score"], run.record.selected_seed
    """

    output_dir: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", Path(self.output_dir).expanduser().absolute())

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """The run's ``metrics.json``."""
        from ..trainer.trainer import METRICS_FILE

        path = self.output_dir / METRICS_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} not found: not a finished respira run folder") from None

    @cached_property
    def record(self) -> RunRecord:
        """The run's ``respira_run.json``."""
        return RunRecord.load(self.output_dir)

    @cached_property
    def model(self) -> RespiraForAudioClassification:
        """The kept model, in eval mode on CUDA when available, else the CPU."""
        from ...hub.loading import load_model

        return load_model(self.output_dir)[0]

"""A finished training run, as :func:`respira.train` (and
:func:`~respira.training.run.training_run.run_training`)
returns it: its folder, and what the folder holds read on first use."""

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

    Its properties read the folder's files on first use (and keep them):

    * :attr:`metrics`: ``metrics.json``, the kept model's test metrics (``test_icbhi_score``, ...), the
      trivial baselines of the test split, ``seeds`` and ``selected_seed`` and, per seed, ``per_seed``.
      With several seeds it adds ``test_<metric>_mean`` / ``_std`` over them; a ``patient_kfold`` run
      adds ``per_fold``, the mean, standard deviation and 95 % interval over all folds x seeds, and
      ``out_of_fold`` (the pooled test folds); undefined values are ``None``;
    * :attr:`record`: ``respira_run.json``, the :class:`~respira.run_record.RunRecord`;
    * :attr:`model`: the kept model (of all seeds, and folds, the one with the best *validation* score),
      loaded with :func:`respira.hub.loading.load_model`.

    To predict recordings with it, ``respira.Detector.from_pretrained(run.output_dir)``.

    Example::

        run = respira.TrainedRun("runs/cnn_ce")
        run.metrics["test_icbhi_score"], run.record.selected_seed
    """

    output_dir: Path
    """The run folder (absolute)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "output_dir", Path(self.output_dir).expanduser().absolute())

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """The run's ``metrics.json`` (see the class docstring)."""
        from ..trainer.trainer import METRICS_FILE

        path = self.output_dir / METRICS_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path} not found: not a finished respira run folder") from None

    @cached_property
    def record(self) -> RunRecord:
        """The run's ``respira_run.json``: model, data and split, seeds, thresholds, hyper-parameters and
        results."""
        return RunRecord.load(self.output_dir)

    @cached_property
    def model(self) -> RespiraForAudioClassification:
        """The kept model, in eval mode on CUDA when available, else the CPU."""
        from ...hub.loading import load_model

        return load_model(self.output_dir)[0]

"""The decision rule of :class:`~respira.training.RespiraTrainer`'s evaluations (one rule everywhere).

Every validation evaluation tunes a multi-label model's thresholds for ``args.threshold_objective``
(:func:`respira.metrics.choose_thresholds`) and scores the checkpoint at them, storing them in
``config.decision_thresholds``; every other evaluation decides at the config's thresholds
(:func:`respira.core.decision.thresholds_of`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import datasets

from ...core.decision import thresholds_of
from ...labels import MULTI_LABEL, MULTI_LABEL_NAMES
from ...metrics import make_compute_metrics

__all__ = ["DecisionRule"]


class DecisionRule:
    """Mixin of ``RespiraTrainer``: the ``compute_metrics`` of each evaluation, and the thresholds kept."""

    _decides: bool
    thresholds_fixed: bool = False
    """Set when the kept thresholds were chosen elsewhere (``threshold_source: cross_fit``): validation
    evaluations then decide at ``config.decision_thresholds`` instead of tuning."""

    def _model_config(self) -> Any:
        return self.accelerator.unwrap_model(self.model).config

    def keep_thresholds(self, thresholds: list[float] | None) -> None:
        """Store thresholds chosen outside validation (``None``: 0.5) and decide at them from now on:
        later validation evaluations score at them instead of tuning (:attr:`thresholds_fixed`)."""
        self._model_config().decision_thresholds = thresholds
        self.thresholds_fixed = True

    def _tunes_thresholds(self) -> bool:
        """Whether validation evaluations tune the multi-label decision thresholds (and store them)."""
        return (
            self._decides
            and self._model_config().problem_type == MULTI_LABEL
            and self.args.threshold_objective != "fixed"
            and not self.thresholds_fixed
        )

    @contextlib.contextmanager
    def _decision_rule(self, dataset: Any, tune: bool) -> Iterator[None]:
        """``compute_metrics`` for one evaluation: thresholds tuned on it (validation, ``tune``) or the
        config's; the patient ids of ``dataset`` for per-patient scores and baselines."""
        if not self._decides:
            yield
            return
        config = self._model_config()
        multi_label = config.problem_type == MULTI_LABEL
        has_patients = isinstance(dataset, datasets.Dataset) and "patient_id" in dataset.column_names
        previous = self.compute_metrics
        self.compute_metrics = make_compute_metrics(
            problem_type=config.problem_type,
            thresholds=thresholds_of(config) if multi_label and not tune else None,
            threshold_objective=self.args.threshold_objective if multi_label and tune else "fixed",
            patient_ids=dataset["patient_id"] if has_patients else None,
        )
        try:
            yield
        finally:
            self.compute_metrics = previous

    def _set_thresholds(self, metrics: dict[str, Any], prefix: str) -> None:
        """Store the thresholds an evaluation tuned in the model config (``None``, i.e. 0.5, when the
        validation split could tune none)."""
        values = [metrics.get(f"{prefix}_threshold_{name}") for name in MULTI_LABEL_NAMES]
        if any(value is None for value in values):
            return
        tuned = metrics.get(f"{prefix}_thresholds_tuned", 0)
        self._model_config().decision_thresholds = [float(v) for v in values] if tuned else None

    def _restore_thresholds(self, step: int | None) -> None:
        """The thresholds the validation evaluation at ``step`` tuned (the best checkpoint's), from the
        log history (which a resumed run restores with the trainer state)."""
        if step is None or not self._tunes_thresholds():
            return
        logged = [
            entry
            for entry in self.state.log_history
            if entry.get("step") == step and "eval_threshold_crackle" in entry
        ]
        if logged:
            self._set_thresholds(logged[-1], "eval")

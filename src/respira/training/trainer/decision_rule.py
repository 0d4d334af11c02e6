"""The decision rule of :class:`~respira.training.RespiraTrainer`'s evaluations: validation tunes a
multi-label model's thresholds for ``args.threshold_objective`` and stores them in the config; every other
evaluation decides at the config's thresholds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import datasets

from ...metrics import make_compute_metrics
from ...models.respira.decision import thresholds_of
from ...models.respira.labels import MULTI_LABEL, MULTI_LABEL_NAMES

__all__ = ["DecisionRule"]


class DecisionRule:
    """Mixin of ``RespiraTrainer``: the ``compute_metrics`` of each evaluation, and the thresholds kept."""

    _decides: bool
    thresholds_fixed: bool = False  # chosen elsewhere (cross_fit): validation decides at them, tunes none

    def _model_config(self) -> Any:
        return self.accelerator.unwrap_model(self.model).config

    def keep_thresholds(self, thresholds: list[float] | None) -> None:
        """Store thresholds chosen outside validation (``None``: 0.5); later evaluations decide at them."""
        self._model_config().decision_thresholds = thresholds
        self.thresholds_fixed = True

    def _tunes_thresholds(self) -> bool:
        return (
            self._decides
            and self._model_config().problem_type == MULTI_LABEL
            and self.args.threshold_objective != "fixed"
            and not self.thresholds_fixed
        )

    @contextlib.contextmanager
    def _decision_rule(self, dataset: Any, tune: bool) -> Iterator[None]:
        """``compute_metrics`` for one evaluation of ``dataset``: thresholds tuned on it, or the config's."""
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
        """Store the thresholds an evaluation tuned in the model config (``None`` when it tuned none)."""
        values = [metrics.get(f"{prefix}_threshold_{name}") for name in MULTI_LABEL_NAMES]
        if any(value is None for value in values):
            return
        tuned = metrics.get(f"{prefix}_thresholds_tuned", 0)
        self._model_config().decision_thresholds = [float(v) for v in values] if tuned else None

    def _restore_thresholds(self, step: int | None) -> None:
        """Restore the thresholds the validation evaluation at ``step`` tuned, from the log history."""
        if step is None or not self._tunes_thresholds():
            return
        logged = [
            entry
            for entry in self.state.log_history
            if entry.get("step") == step and "eval_threshold_crackle" in entry
        ]
        if logged:
            self._set_thresholds(logged[-1], "eval")

    def _load_best_model(self) -> None:
        """Load the best checkpoint's weights and restore the thresholds its selection score used."""
        super()._load_best_model()
        self._restore_thresholds(self.state.best_global_step)

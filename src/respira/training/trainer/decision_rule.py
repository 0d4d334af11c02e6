"""The decision rule of :class:`~respira.training.RespiraTrainer`'s evaluations: validation tunes a
multi-label model's thresholds for ``args.threshold_objective`` and stores them in the config; every other
evaluation decides at the config's thresholds. An evaluation of weights already scored (the best checkpoint,
reloaded at the end of training) decides again on their predictions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import datasets
from transformers.trainer_utils import EvalLoopOutput, EvalPrediction, denumpify_detensorize

from ...core.decision import thresholds_of
from ...labels import MULTI_LABEL, MULTI_LABEL_NAMES
from ...metrics import make_compute_metrics

__all__ = ["DecisionRule"]


@dataclass
class _Scored:
    dataset: Any
    weights: tuple[tuple[int, int], ...]
    output: EvalLoopOutput
    loss: float | None


class DecisionRule:
    """Mixin of ``RespiraTrainer``: the ``compute_metrics`` of each evaluation, and the thresholds kept."""

    _decides: bool
    _scored: dict[int, _Scored]
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
        before = self._weights()
        super()._load_best_model()
        self._restore_thresholds(self.state.best_global_step)
        best = self._scored.get(self.state.best_global_step)
        if best is not None and self._weights() != before:  # the weights it scored are back
            best.weights = self._weights()

    def _weights(self) -> tuple[tuple[int, int], ...]:
        """Identifies the model's weights: an optimizer step or a loaded checkpoint bumps tensor versions."""
        tensors = self.model.state_dict(keep_vars=True).values()
        return tuple((tensor.data_ptr(), tensor._version) for tensor in tensors)

    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> EvalLoopOutput:
        """``Trainer.evaluation_loop``; an evaluation of weights it already scored on the same dataset (the
        best checkpoint, reloaded at the end) decides again on those predictions without a second pass."""
        args, prefix = self.args, metric_key_prefix
        memo = description == "Evaluation" and not (
            ignore_keys or prediction_loss_only or args.batch_eval_metrics or args.include_for_metrics
        )
        memo = memo and not (args.fp16_full_eval or args.bf16_full_eval)  # cast outside training only
        weights, dataset = self._weights(), dataloader.dataset
        found = [s for s in self._scored.values() if memo and s.dataset is dataset and s.weights == weights]
        if not found:
            output = super().evaluation_loop(
                dataloader, description, prediction_loss_only, ignore_keys, prefix
            )
            if memo and self.is_in_train:
                kept = {step: s for step, s in self._scored.items() if step == self.state.best_global_step}
                loss = output.metrics.get(f"{prefix}_loss")
                self._scored = {**kept, self.state.global_step: _Scored(dataset, weights, output, loss)}
            return output
        output, loss = found[0].output, found[0].loss  # the end of Trainer.evaluation_loop, as it writes it
        metrics: dict[str, Any] = {}
        if (
            self.compute_metrics is not None
            and output.predictions is not None
            and output.label_ids is not None
        ):
            prediction = EvalPrediction(predictions=output.predictions, label_ids=output.label_ids)
            metrics = denumpify_detensorize(self.compute_metrics(prediction))
        if loss is not None:
            metrics[f"{prefix}_loss"] = loss
        if hasattr(self, "model_preparation_time"):
            metrics[f"{prefix}_model_preparation_time"] = self.model_preparation_time
        for key in [key for key in metrics if not key.startswith(f"{prefix}_")]:
            metrics[f"{prefix}_{key}"] = metrics.pop(key)
        return output._replace(metrics=metrics)

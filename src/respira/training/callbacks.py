"""Trainer callbacks of respira's own that transformers' do not cover."""

from __future__ import annotations

from typing import Any

from transformers import EarlyStoppingCallback

__all__ = ["ValidationEarlyStopping"]


class ValidationEarlyStopping(EarlyStoppingCallback):
    """``EarlyStoppingCallback`` that counts only the validation evaluations.

    transformers' callback looks for ``eval_<metric_for_best_model>`` in every evaluation's metrics and
    warns ("early stopping required metric_for_best_model, but did not find ...") when it is absent, as
    it is in the test split's scoring (``test_*`` keys, :meth:`RespiraTrainer.evaluate_test`). Those
    evaluations never take part in early stopping, so they are passed over without a word.
    """

    def on_evaluate(self, args, state, control, metrics: dict[str, Any] | None = None, **kwargs):
        name = args.metric_for_best_model
        key = name if name.startswith("eval_") else f"eval_{name}"
        if not metrics or key not in metrics:
            return None
        return super().on_evaluate(args, state, control, metrics=metrics, **kwargs)

"""The ``Trainer`` callback that fills a model card as training runs."""

from __future__ import annotations

import contextlib

from transformers import TrainerCallback

from .card_data import RespiraModelCardData

__all__ = ["ModelCardCallback"]


class ModelCardCallback(TrainerCallback):
    """Fills a :class:`RespiraModelCardData` while a ``Trainer`` runs (``RespiraTrainer`` registers one): the
    model's config and the training arguments when training begins, ``eval_*`` / ``test_*`` metrics as they
    come, steps, epochs and the best validation score at the end."""

    def __init__(self, card_data: RespiraModelCardData | None = None) -> None:
        self.card_data = card_data if card_data is not None else RespiraModelCardData()

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is not None and getattr(model, "config", None) is not None:
            self.card_data.set_model_config(model.config)
            if self.card_data.num_parameters is None:
                with contextlib.suppress(AttributeError, TypeError):
                    self.card_data.num_parameters = sum(p.numel() for p in model.parameters())
        self.card_data.set_training_args(args)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics:
            self.card_data.add_metrics(metrics)

    def on_train_end(self, args, state, control, **kwargs):
        self.card_data.set_trainer_state(state)

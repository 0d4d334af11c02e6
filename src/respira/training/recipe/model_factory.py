"""The classifier a recipe describes: encoder (pretrained or fresh), head and LoRA."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...models.respira.audio_dsp import DEFAULT_LOWPASS_ORDER
from ...models.respira.encoders import get_encoder_spec
from .arguments import json_option
from .recipe_fields import ModelArguments

if TYPE_CHECKING:
    from torch import nn


def encoder_checkpoint(model: ModelArguments) -> str | None:
    """Where the encoder's weights come from: the recipe's ``encoder_name_or_path`` or the family default."""
    source = model.encoder_name_or_path
    if source is None and not json_option(model.encoder_config, "encoder_config"):
        source = get_encoder_spec(model.encoder).default_checkpoint
    return source


def model_sampling_rate(model: ModelArguments) -> int:
    """The rate (Hz) of the recipe's model and dataset: ``sampling_rate``, else its encoder family's."""
    if model.sampling_rate is not None:
        if model.sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive, got {model.sampling_rate}")
        return model.sampling_rate
    return get_encoder_spec(model.encoder).sampling_rate


def config_options(
    model: ModelArguments, *, lowpass_cutoff: float | None = None, lowpass_order: int = DEFAULT_LOWPASS_ORDER
) -> dict[str, Any]:
    """The :class:`~respira.models.RespiraConfig` options of the recipe's classifier, less its encoder's."""
    return {
        "problem_type": model.problem_type,
        "sampling_rate": model_sampling_rate(model),
        "target_seconds": model.target_seconds,
        "pad_mode": model.pad_mode,
        "ast_length_policy": model.ast_length_policy,
        "spec_augment": json_option(model.spec_augment, "spec_augment") or None,
        "pooling": model.pooling,
        "head": model.head,
        "head_dropout": model.head_dropout,
        "head_norm": model.head_norm,
        "head_hidden_size": model.head_hidden_size,
        "projector_dim": model.projector_dim,
        "freeze_encoder": model.freeze_encoder,
        "lowpass_cutoff": lowpass_cutoff or None,
        "lowpass_order": int(lowpass_order),
    }


def encoder_config(model: ModelArguments) -> dict[str, Any]:
    """The config of a randomly initialised encoder: its family's ``model_type`` and ``encoder_config``."""
    model_type = get_encoder_spec(model.encoder).model_type
    return {"model_type": model_type, **json_option(model.encoder_config, "encoder_config")}


def build_model(
    model: ModelArguments,
    *,
    lowpass_cutoff: float | None = None,
    lowpass_order: int = DEFAULT_LOWPASS_ORDER,
) -> nn.Module:
    """A fresh classifier for the recipe (pretrained encoder weights when ``encoder_name_or_path`` is set)."""
    from ...models import RespiraConfig, RespiraForAudioClassification

    options = config_options(model, lowpass_cutoff=lowpass_cutoff, lowpass_order=lowpass_order)
    source = encoder_checkpoint(model)
    if source is not None:
        classifier = RespiraForAudioClassification.from_encoder_pretrained(source, **options)
    else:
        config = RespiraConfig(encoder_config=encoder_config(model), **options)
        classifier = RespiraForAudioClassification(config)
    if model.lora_r:
        from ...models.lora import add_lora

        return add_lora(classifier, r=model.lora_r, alpha=2 * model.lora_r)
    return classifier

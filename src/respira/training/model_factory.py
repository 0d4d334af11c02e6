"""The classifier a recipe describes: encoder (pretrained or fresh), head, class weights and LoRA."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..data.corpus import CLASS_NAMES
from .recipe import DEFAULT_AST, ENCODERS, ModelArguments, json_option

if TYPE_CHECKING:
    from torch import nn


def class_weights(spec: str | None, labels: list[int], problem_type: str) -> list[float] | None:
    """``"balanced"`` (inverse training frequency) or comma-separated weights; ``None`` for none."""
    if not spec:
        return None
    if spec != "balanced":
        return [float(value) for value in spec.split(",")]
    labels_array = np.asarray(labels)
    if problem_type == "multi_label_classification":  # BCE positive weights: negatives / positives per flag
        flags = np.stack([labels_array & 1, labels_array >> 1], axis=1)
        positives = flags.sum(axis=0).clip(min=1)
        return [float(w) for w in (len(flags) - positives) / positives]
    counts = np.bincount(labels_array, minlength=len(CLASS_NAMES)).clip(min=1)
    return [float(w) for w in len(labels_array) / (len(CLASS_NAMES) * counts)]


def encoder_checkpoint(model: ModelArguments) -> str | None:
    """Where the encoder's weights come from: the recipe's ``encoder_name_or_path`` or the family default."""
    source = model.encoder_name_or_path
    if model.encoder == "ast" and source is None and not json_option(model.encoder_config, "encoder_config"):
        source = DEFAULT_AST
    return source


def build_model(model: ModelArguments, train_labels: list[int]) -> nn.Module:
    """A fresh classifier for the recipe (pretrained encoder weights when ``encoder_name_or_path`` is set)."""
    from ..models import RespiraConfig, RespiraForAudioClassification

    if model.encoder not in ENCODERS:
        raise ValueError(f"encoder={model.encoder!r} is not one of {', '.join(ENCODERS)}")
    options = {
        "problem_type": model.problem_type,
        "target_seconds": model.target_seconds,
        "pad_mode": model.pad_mode,
        "crop_mode": model.crop_mode,
        "ast_length_policy": model.ast_length_policy,
        "spec_augment": json_option(model.spec_augment, "spec_augment") or None,
        "pooling": model.pooling,
        "head": model.head,
        "head_dropout": model.head_dropout,
        "projector_dim": model.projector_dim,
        "class_weights": class_weights(model.class_weights, train_labels, model.problem_type),
        "freeze_encoder": model.freeze_encoder,
    }
    source = encoder_checkpoint(model)
    if source is not None:
        classifier = RespiraForAudioClassification.from_encoder_pretrained(source, **options)
    else:
        model_type = {
            "cnn": "respira_cnn",
            "ast": "audio-spectrogram-transformer",
            "beats": "beats",
            "efficientat": "efficientat",
        }[model.encoder]
        encoder_options = json_option(model.encoder_config, "encoder_config")
        config = RespiraConfig(encoder_config={"model_type": model_type, **encoder_options}, **options)
        classifier = RespiraForAudioClassification(config)
    if model.lora_r:
        from ..models.lora import add_lora

        return add_lora(classifier, r=model.lora_r, alpha=2 * model.lora_r)
    return classifier

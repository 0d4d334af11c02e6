"""The classifier a recipe describes: encoder (pretrained or fresh), head, loss weights and LoRA.

Loss weights for class imbalance (the recipe's ``class_weights`` and ``pos_weight``; see
``recipes/README.md`` for when to use which, and the class-balanced sampler):

* ``class_weights`` (single-label cross-entropy): ``inverse`` (alias ``balanced``) weighs class
  ``c`` by ``n / (C · n_c)``, the inverse of its training frequency; ``effective_number[:β]``
  (Cui et al., CVPR 2019, "Class-Balanced Loss Based on Effective Number of Samples") by
  ``(1 - β) / (1 - β^n_c)``, normalised to sum to ``C`` (β in [0, 1), default 0.999: β = 0 weighs
  every class the same, β → 1 tends to inverse frequency); or ``C`` comma-separated weights.
* ``pos_weight`` (multi-label BCE, one value per label): ``auto`` = negatives / positives of each
  label in the training split, or comma-separated values (crackle, wheeze).

``none`` (or leaving the option out) means no weighting. A class absent from the training split
(or a label without positives) counts as seen once where its count divides. The computed weights
become the model config's ``class_weights`` (the loss's ``weight`` for cross-entropy, its
``pos_weight`` for BCE).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...audio.dsp import DEFAULT_LOWPASS_ORDER
from ...labels import MULTI_LABEL, NUM_CLASSES, SINGLE_LABEL, classes_to_flags, label_names
from ...models.encoders import encoder_names, get_encoder_spec
from .recipe import json_option
from .recipe_fields import ModelArguments

if TYPE_CHECKING:
    from torch import nn

INVERSE = "inverse"
EFFECTIVE_NUMBER = "effective_number"
AUTO = "auto"
DEFAULT_BETA = 0.999
"""β of ``effective_number`` without a value (Cui et al. 2019 tried 0.9 to 0.9999)."""
_INVERSE_NAMES = (INVERSE, "balanced")
_NONE = ("", "none")


@dataclass(frozen=True)
class WeightSpec:
    """A parsed ``class_weights`` / ``pos_weight`` option: how the weights are made."""

    kind: str
    """``inverse``, ``effective_number``, ``auto`` (BCE: negatives / positives) or ``explicit``."""
    beta: float | None = None
    values: tuple[float, ...] = ()


def _numbers(spec: str) -> tuple[float, ...] | None:
    """Comma-separated finite numbers, or ``None``."""
    try:
        values = tuple(float(value) for value in spec.split(","))
    except ValueError:
        return None
    return values if all(math.isfinite(value) for value in values) else None


def parse_class_weights(spec: str | None, problem_type: str = SINGLE_LABEL) -> WeightSpec | None:
    """The ``class_weights`` option checked; ``None`` for no weighting. One-line ``ValueError`` otherwise."""
    text = "" if spec is None else str(spec).strip()
    if text.lower() in _NONE:
        return None
    if problem_type == MULTI_LABEL:
        raise ValueError(
            f"class_weights {text!r}: class weights are for single-label cross-entropy; a multi-label "
            "(BCE) model takes pos_weight: auto (negatives / positives per label) or crackle,wheeze values"
        )
    names = label_names(problem_type)
    expected = (
        f"{INVERSE} (or balanced), {EFFECTIVE_NUMBER}[:beta] with beta in [0, 1), "
        f"or {len(names)} comma-separated non-negative weights ({', '.join(names)})"
    )
    if text in _INVERSE_NAMES:
        return WeightSpec(INVERSE)
    if text == EFFECTIVE_NUMBER or text.startswith(f"{EFFECTIVE_NUMBER}:"):
        beta_text = text.partition(":")[2]
        try:
            beta = float(beta_text) if beta_text else DEFAULT_BETA
        except ValueError:
            beta = float("nan")
        if not 0 <= beta < 1:
            raise ValueError(f"class_weights {text!r}: beta must be a number in [0, 1); expected {expected}")
        return WeightSpec(EFFECTIVE_NUMBER, beta=beta)
    values = _numbers(text)
    if values is None or len(values) != len(names) or not all(v >= 0 for v in values) or not sum(values) > 0:
        raise ValueError(f"class_weights {text!r}: expected {expected}")
    return WeightSpec("explicit", values=values)


def parse_pos_weight(spec: str | None, problem_type: str = MULTI_LABEL) -> WeightSpec | None:
    """The ``pos_weight`` option checked; ``None`` for no weighting. One-line ``ValueError`` otherwise."""
    text = "" if spec is None else str(spec).strip()
    if text.lower() in _NONE:
        return None
    if problem_type != MULTI_LABEL:
        raise ValueError(
            f"pos_weight {text!r}: positive weights are for multi-label BCE; a single-label model takes "
            f"class_weights: {INVERSE}, {EFFECTIVE_NUMBER}[:beta] or one weight per class"
        )
    names = label_names(MULTI_LABEL)
    if text == AUTO:
        return WeightSpec(AUTO)
    values = _numbers(text)
    if values is None or len(values) != len(names) or not all(v > 0 for v in values):
        raise ValueError(
            f"pos_weight {text!r}: expected {AUTO} (negatives / positives per label) or "
            f"{len(names)} comma-separated positive values ({', '.join(names)})"
        )
    return WeightSpec("explicit", values=values)


def inverse_frequency_weights(counts: Sequence[int] | np.ndarray) -> np.ndarray:
    """``n / (C · n_c)`` per class (absent classes count as 1): 1 for every class when balanced."""
    counts = np.asarray(counts, dtype=np.float64)
    return counts.sum() / (len(counts) * counts.clip(min=1))


def effective_number_weights(counts: Sequence[int] | np.ndarray, beta: float) -> np.ndarray:
    """Cui et al. (2019): ``(1 - β) / (1 - β^n_c)`` per class, normalised to sum to ``C``."""
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    counts = np.asarray(counts, dtype=np.float64).clip(min=1)
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return weights * len(counts) / weights.sum()


def positive_weights(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Negatives / positives of each multi-label flag (crackle, wheeze) of class indices (≥ 1 positive)."""
    flags = classes_to_flags(np.asarray(labels))
    positives = flags.sum(axis=0).clip(min=1)
    return (len(flags) - positives) / positives


def loss_weights(model: ModelArguments, labels: Sequence[int]) -> list[float] | None:
    """The loss weights of the recipe's ``class_weights`` / ``pos_weight`` on the training ``labels``
    (class indices); ``None`` without weighting. See the module docstring."""
    if model.problem_type == MULTI_LABEL:
        parse_class_weights(model.class_weights, MULTI_LABEL)  # refuses class weights for BCE
        spec = parse_pos_weight(model.pos_weight, MULTI_LABEL)
        if spec is None:
            return None
        weights = positive_weights(labels) if spec.kind == AUTO else np.asarray(spec.values)
    else:
        parse_pos_weight(model.pos_weight, model.problem_type)
        spec = parse_class_weights(model.class_weights, model.problem_type)
        if spec is None:
            return None
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES)
        if spec.kind == INVERSE:
            weights = inverse_frequency_weights(counts)
        elif spec.kind == EFFECTIVE_NUMBER:
            weights = effective_number_weights(counts, spec.beta)
        else:
            weights = np.asarray(spec.values)
    return [float(weight) for weight in weights]


def encoder_checkpoint(model: ModelArguments) -> str | None:
    """Where the encoder's weights come from: the recipe's ``encoder_name_or_path`` or the family default."""
    source = model.encoder_name_or_path
    if source is None and not json_option(model.encoder_config, "encoder_config"):
        source = get_encoder_spec(model.encoder).default_checkpoint
    return source


def model_sampling_rate(model: ModelArguments) -> int:
    """The rate (Hz) of the recipe's model, and so of its dataset: the recipe's ``sampling_rate``, or
    the rate its encoder family was pretrained at (EfficientAT 32 kHz, the others 16 kHz)."""
    if model.sampling_rate is not None:
        if model.sampling_rate <= 0:
            raise ValueError(f"sampling_rate must be positive, got {model.sampling_rate}")
        return model.sampling_rate
    return get_encoder_spec(model.encoder).sampling_rate


def label_priors(train_labels: Sequence[int]) -> list[float] | None:
    """The (crackle, wheeze) prevalence of the training cycles (``None`` without any)."""
    if len(train_labels) == 0:
        return None
    flags = np.asarray(classes_to_flags(np.asarray(train_labels, dtype=np.int64)), dtype=np.float64)
    return [float(value) for value in flags.reshape(-1, 2).mean(axis=0)]


def _label_options(model: ModelArguments, train_labels: Sequence[int]) -> dict[str, list[float] | None]:
    """The config entries that follow the training labels: the loss weights and the label priors."""
    return {"class_weights": loss_weights(model, train_labels), "label_priors": label_priors(train_labels)}


def build_model(
    model: ModelArguments,
    train_labels: list[int],
    *,
    lowpass_cutoff: float | None = None,
    lowpass_order: int = DEFAULT_LOWPASS_ORDER,
) -> nn.Module:
    """A fresh classifier for the recipe (pretrained encoder weights when ``encoder_name_or_path`` is set).

    ``lowpass_cutoff`` / ``lowpass_order``: the low-pass the training data was built with; the config
    records it, so evaluate, predict, the pipeline and ONNX apply the same filter.
    """
    from ...models import RespiraConfig, RespiraForAudioClassification

    if model.encoder not in encoder_names():
        raise ValueError(f"encoder={model.encoder!r} is not one of {', '.join(encoder_names())}")
    options = {
        "problem_type": model.problem_type,
        "sampling_rate": model_sampling_rate(model),
        "target_seconds": model.target_seconds,
        "pad_mode": model.pad_mode,
        "crop_mode": model.crop_mode,
        "ast_length_policy": model.ast_length_policy,
        "spec_augment": json_option(model.spec_augment, "spec_augment") or None,
        "pooling": model.pooling,
        "head": model.head,
        "head_dropout": model.head_dropout,
        "head_norm": model.head_norm,
        "instance_norm": model.instance_norm,
        "head_hidden_size": model.head_hidden_size,
        "projector_dim": model.projector_dim,
        "freeze_encoder": model.freeze_encoder,
        "lowpass_cutoff": lowpass_cutoff or None,
        "lowpass_order": int(lowpass_order),
        **_label_options(model, train_labels),
    }
    source = encoder_checkpoint(model)
    if source is not None:
        classifier = RespiraForAudioClassification.from_encoder_pretrained(source, **options)
    else:
        model_type = get_encoder_spec(model.encoder).model_type
        encoder_options = json_option(model.encoder_config, "encoder_config")
        config = RespiraConfig(encoder_config={"model_type": model_type, **encoder_options}, **options)
        classifier = RespiraForAudioClassification(config)
    if model.lora_r:
        from ...models.lora import add_lora

        return add_lora(classifier, r=model.lora_r, alpha=2 * model.lora_r)
    return classifier


def relabel_model(template: nn.Module, model: ModelArguments, train_labels: Sequence[int]) -> nn.Module:
    """What :func:`build_model` gives for ``train_labels`` under the seed it built ``template`` with (for
    other labels, without LoRA): a copy of ``template``, its weights untouched, with the config entries
    and the loss weights that follow the training labels (class weights, label priors) set from
    ``train_labels``. A seed's models that differ only in their training rows (the cross-fit's group
    models) are made this way without loading and initialising the encoder again for each."""
    import copy

    import torch

    if model.lora_r:
        raise ValueError("relabel_model copies a plain classifier; a LoRA model is built with build_model")
    relabelled = copy.deepcopy(template)
    options = _label_options(model, train_labels)
    for key, value in options.items():
        setattr(relabelled.config, key, value)
    weights, buffer = options["class_weights"], relabelled.class_weights
    device = buffer.device if buffer is not None else next(relabelled.parameters()).device
    relabelled.class_weights = torch.tensor(weights, dtype=torch.float32, device=device) if weights else None
    return relabelled

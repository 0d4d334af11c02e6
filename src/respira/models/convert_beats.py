"""Convert an official BEATs checkpoint (microsoft/unilm ``beats/``) into a transformers folder.

An official checkpoint is a ``torch.save`` of ``{"cfg": dict, "model": state_dict}`` (fine-tuned ones add a
``"label_dict"``), read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import StrictDataclassError

from .checkpoints import (
    check_output_dir,
    load_checked,
    load_original_checkpoint,
    save_converted,
    summarise_keys,
)
from .respira.configuration_beats import BeatsConfig
from .respira.labels import MULTI_LABEL
from .respira.modeling_beats import BeatsForAudioClassification, BeatsModel

# Official BEATsConfig key → (BeatsConfig field, the official default). finetuned_model and predictor_class
# are checked against the state dict instead.
_CFG: dict[str, tuple[str | None, Any]] = {
    "input_patch_size": ("patch_size", -1),
    "embed_dim": ("patch_embedding_dim", 512),
    "conv_bias": ("conv_bias", False),
    "encoder_layers": ("num_hidden_layers", 12),
    "encoder_embed_dim": ("hidden_size", 768),
    "encoder_ffn_embed_dim": ("intermediate_size", 3072),
    "encoder_attention_heads": ("num_attention_heads", 12),
    "activation_fn": ("hidden_act", "gelu"),
    "layer_wise_gradient_decay_ratio": ("layer_wise_gradient_decay_ratio", 1.0),
    "layer_norm_first": ("layer_norm_first", False),
    "deep_norm": ("deep_norm", False),
    "dropout": ("hidden_dropout", 0.1),
    "attention_dropout": ("attention_dropout", 0.1),
    "activation_dropout": ("activation_dropout", 0.0),
    "encoder_layerdrop": ("layerdrop", 0.0),
    "dropout_input": ("input_dropout", 0.0),
    "conv_pos": ("conv_pos", 128),
    "conv_pos_groups": ("conv_pos_groups", 16),
    "relative_position_embedding": ("relative_position_embedding", False),
    "num_buckets": ("num_buckets", 320),
    "max_distance": ("max_distance", 1280),
    "gru_rel_pos": ("gated_relative_position_bias", False),
    "predictor_dropout": ("classifier_dropout", 0.1),
    "finetuned_model": (None, False),
    "predictor_class": (None, 527),
}

# Official activation names → transformers names ("glu" needs a different feed-forward and is not supported).
_ACTIVATIONS = {"gelu": "gelu", "gelu_accurate": "gelu_accurate", "gelu_fast": "gelu_accurate"}
_ACTIVATIONS.update((name, name) for name in ("relu", "tanh", "linear"))

# Our state-dict key prefixes (inside the base model) → the official ones; other keys are the same.
_PREFIXES = (
    ("patch_embeddings.projection.", "patch_embedding."),
    ("feature_projection.layer_norm.", "layer_norm."),
    ("feature_projection.projection.", "post_extract_proj."),
    ("encoder.pos_conv_embed.conv.parametrizations.weight.original0", "encoder.pos_conv.0.weight_g"),
    ("encoder.pos_conv_embed.conv.parametrizations.weight.original1", "encoder.pos_conv.0.weight_v"),
    ("encoder.pos_conv_embed.conv.", "encoder.pos_conv.0."),
)
_SHARED_BIAS = re.compile(r"^encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.weight$")


def _official_name(key: str) -> str:
    key = key.removeprefix("beats.")
    return next((theirs + key[len(ours) :] for ours, theirs in _PREFIXES if key.startswith(ours)), key)


def _our_name(key: str) -> str:
    return next((ours + key[len(theirs) :] for ours, theirs in _PREFIXES if key.startswith(theirs)), key)


def _load_official(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], Any]:
    not_beats = (
        f"{path} is not a BEATs checkpoint of the form {{'cfg': dict, 'model': state_dict}} "
        "(saved by torch.save and readable with torch.load(weights_only=True))"
    )
    checkpoint = load_original_checkpoint(path, "a BEATs checkpoint")
    if not isinstance(checkpoint, Mapping) or "cfg" not in checkpoint or "model" not in checkpoint:
        if not isinstance(checkpoint, Mapping):
            raise ValueError(f"{not_beats}; found a {type(checkpoint).__name__}")
        keys = list(map(str, checkpoint))
        efficientat = "features.0.0.weight" in keys
        hint = "; an EfficientAT state dict? use respira convert efficientat" if efficientat else ""
        raise ValueError(f"{not_beats}; found {len(keys)} keys: {summarise_keys(keys)}{hint}")
    cfg, state_dict = checkpoint["cfg"], checkpoint["model"]
    if not isinstance(cfg, Mapping):
        raise ValueError(f"{not_beats}; 'cfg' is a {type(cfg).__name__}")
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        raise ValueError(f"{not_beats}; 'model' is not a mapping of names to tensors")
    return dict(cfg), dict(state_dict), checkpoint.get("label_dict")


def _id2label(label_dict: Any, num_labels: int) -> dict[int, str]:
    if label_dict is None:
        return {i: f"LABEL_{i}" for i in range(num_labels)}
    if not isinstance(label_dict, Mapping):
        raise ValueError(f"'label_dict' must map class indices to labels, got a {type(label_dict).__name__}")
    try:
        id2label = {int(k): str(v) for k, v in label_dict.items()}
    except (TypeError, ValueError) as err:
        raise ValueError(f"'label_dict' keys must be class indices: {err}") from err
    if sorted(id2label) != list(range(num_labels)):
        raise ValueError(
            f"'label_dict' must name exactly the classes 0..{num_labels - 1}, got {len(id2label)} entries"
        )
    return id2label


def _map_state_dict(state_dict: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Our keys for the official ones (layer 0 keeps the relative position bias table all layers share)."""
    mapped: dict[str, torch.Tensor] = {}
    shared_bias = state_dict.get("encoder.layers.0.self_attn.relative_attention_bias.weight")
    for key, tensor in state_dict.items():
        shared = _SHARED_BIAS.match(key)
        if shared and shared.group(1) != "0":
            if shared_bias is None or not torch.equal(tensor, shared_bias):
                raise ValueError(
                    f"{key} is not equal to layer 0's relative position bias table, which the official "
                    "model shares with every layer"
                )
            continue
        mapped[key if key.startswith("predictor.") else prefix + _our_name(key)] = tensor
    return mapped


def _build_model(
    cfg: dict[str, Any], state_dict: dict[str, torch.Tensor], label_dict: Any
) -> BeatsModel | BeatsForAudioClassification:
    unknown = sorted(set(cfg) - set(_CFG), key=str)
    if unknown:  # training-only keys: the strict weight loading below rejects any other architecture
        warnings.warn(
            f"ignoring BEATs cfg key(s) {unknown} (not architecture options respira knows)", stacklevel=3
        )
    kwargs = {field: cfg.get(key, default) for key, (field, default) in _CFG.items() if field}
    if kwargs["hidden_act"] not in _ACTIVATIONS:
        raise ValueError(
            f"cfg['activation_fn']={kwargs['hidden_act']!r} is not one of {sorted(_ACTIVATIONS)}"
        )
    kwargs["hidden_act"] = _ACTIVATIONS[kwargs["hidden_act"]]
    has_predictor = any(key.startswith("predictor.") for key in state_dict)
    if "finetuned_model" in cfg and bool(cfg["finetuned_model"]) != has_predictor:
        raise ValueError(
            f"cfg['finetuned_model']={cfg['finetuned_model']!r} but the state dict "
            f"{'has' if has_predictor else 'has no'} predictor weights"
        )
    if has_predictor:
        weight = state_dict.get("predictor.weight")
        if weight is None or weight.dim() != 2:
            raise ValueError("the state dict has predictor tensors but no 2-D 'predictor.weight'")
        num_labels = weight.shape[0]
        if "predictor_class" in cfg and cfg["predictor_class"] != num_labels:
            raise ValueError(
                f"cfg['predictor_class']={cfg['predictor_class']!r} but predictor.weight has "
                f"{num_labels} rows"
            )
        id2label = _id2label(label_dict, num_labels)
        label2id = {label: index for index, label in id2label.items()}
        if len(label2id) != num_labels:
            raise ValueError("'label_dict' gives the same label to several classes")
        kwargs.update(id2label=id2label, label2id=label2id, problem_type=MULTI_LABEL)
    try:
        config = BeatsConfig(**kwargs)
    except (TypeError, ValueError, StrictDataclassError) as err:
        message = str(err)
        keys = [key for key, (field, _) in _CFG.items() if field and re.search(rf"\b{field}\b", message)]
        raise ValueError(
            f"the checkpoint's cfg describes an unsupported BEATs (cfg keys {keys}): {message}"
        ) from err

    model: BeatsModel | BeatsForAudioClassification
    model = BeatsForAudioClassification(config) if has_predictor else BeatsModel(config)
    prefix = "beats." if has_predictor else ""
    mapped = _map_state_dict(state_dict, prefix)
    load_checked(model, mapped, "the checkpoint's weights do not match its cfg", name=_official_name)
    return model.eval()


def convert_beats_checkpoint(
    checkpoint: str | Path, output_dir: str | Path, *, overwrite: bool = False
) -> Path:
    """Convert an official BEATs ``.pt`` checkpoint into a ``save_pretrained`` folder; return its path.

    An occupied ``output_dir`` is replaced only with ``overwrite``, once the new folder is complete. Raises
    ``FileNotFoundError``, ``FileExistsError``, or ``ValueError`` for a file that is no supported BEATs.
    """
    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    occupied = check_output_dir(output_dir, overwrite)  # the checkpoint is checked as it loads
    model = _build_model(*_load_official(checkpoint))
    return save_converted(model, output_dir, overwrite, occupied)


__all__ = ["convert_beats_checkpoint"]

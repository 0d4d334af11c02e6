"""Convert an official BEATs checkpoint (microsoft/unilm ``beats/``) into a transformers folder.

An official checkpoint is a ``torch.save`` of ``{"cfg": dict, "model": state_dict}``, with an optional
``"label_dict"`` (class index → label, e.g. AudioSet ids) in fine-tuned ones. It is read with
``torch.load(..., weights_only=True)``, so no arbitrary object is ever unpickled.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from huggingface_hub.errors import StrictDataclassError

from ...labels import MULTI_LABEL
from ..checkpoints import (
    check_output_dir,
    load_checked,
    load_original_checkpoint,
    save_converted,
    summarise_keys,
)
from .configuration_beats import BeatsConfig
from .modeling_beats import BeatsForAudioClassification, BeatsModel

# Defaults of the official BEATsConfig: the model is built from these, updated with the checkpoint's cfg.
OFFICIAL_CFG_DEFAULTS: dict[str, Any] = {
    "input_patch_size": -1,
    "embed_dim": 512,
    "conv_bias": False,
    "encoder_layers": 12,
    "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12,
    "activation_fn": "gelu",
    "layer_wise_gradient_decay_ratio": 1.0,
    "layer_norm_first": False,
    "deep_norm": False,
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "encoder_layerdrop": 0.0,
    "dropout_input": 0.0,
    "conv_pos": 128,
    "conv_pos_groups": 16,
    "relative_position_embedding": False,
    "num_buckets": 320,
    "max_distance": 1280,
    "gru_rel_pos": False,
    "finetuned_model": False,
    "predictor_dropout": 0.1,
    "predictor_class": 527,
}

# Official cfg key → (BeatsConfig field, kind). Kinds: "int" (positive), "bool", "prob" (in [0, 1)), "ratio"
# (positive float), "act". finetuned_model and predictor_class are checked against the state dict instead.
_CFG_TO_CONFIG: dict[str, tuple[str, str]] = {
    "input_patch_size": ("patch_size", "int"),
    "embed_dim": ("patch_embedding_dim", "int"),
    "conv_bias": ("conv_bias", "bool"),
    "encoder_layers": ("num_hidden_layers", "int"),
    "encoder_embed_dim": ("hidden_size", "int"),
    "encoder_ffn_embed_dim": ("intermediate_size", "int"),
    "encoder_attention_heads": ("num_attention_heads", "int"),
    "activation_fn": ("hidden_act", "act"),
    "layer_wise_gradient_decay_ratio": ("layer_wise_gradient_decay_ratio", "ratio"),
    "layer_norm_first": ("layer_norm_first", "bool"),
    "deep_norm": ("deep_norm", "bool"),
    "dropout": ("hidden_dropout", "prob"),
    "attention_dropout": ("attention_dropout", "prob"),
    "activation_dropout": ("activation_dropout", "prob"),
    "encoder_layerdrop": ("layerdrop", "prob"),
    "dropout_input": ("input_dropout", "prob"),
    "conv_pos": ("conv_pos", "int"),
    "conv_pos_groups": ("conv_pos_groups", "int"),
    "relative_position_embedding": ("relative_position_embedding", "bool"),
    "num_buckets": ("num_buckets", "int"),
    "max_distance": ("max_distance", "int"),
    "gru_rel_pos": ("gated_relative_position_bias", "bool"),
    "predictor_dropout": ("classifier_dropout", "prob"),
}

# Official activation names → transformers names ("glu" needs a different feed-forward and is not supported).
_ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_accurate": "gelu_accurate",
    "gelu_fast": "gelu_accurate",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}

# Official state-dict key patterns → our keys (inside the base model, without the "beats." prefix).
_KEY_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^patch_embedding\.(weight|bias)$"), r"patch_embeddings.projection.\1"),
    (re.compile(r"^layer_norm\.(weight|bias)$"), r"feature_projection.layer_norm.\1"),
    (re.compile(r"^post_extract_proj\.(weight|bias)$"), r"feature_projection.projection.\1"),
    (
        re.compile(r"^encoder\.pos_conv\.0\.weight_g$"),
        "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    ),
    (
        re.compile(r"^encoder\.pos_conv\.0\.weight_v$"),
        "encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    ),
    (re.compile(r"^encoder\.pos_conv\.0\.bias$"), "encoder.pos_conv_embed.conv.bias"),
    (re.compile(r"^encoder\.layer_norm\.(weight|bias)$"), r"encoder.layer_norm.\1"),
    (
        re.compile(
            r"^encoder\.layers\.(\d+)\.((?:self_attn\.(?:[qkv]_proj|out_proj|grep_linear)|self_attn_layer_norm|fc1|fc2"
            r"|final_layer_norm)\.(?:weight|bias)|self_attn\.grep_a|self_attn\.relative_attention_bias\.weight)$"
        ),
        r"encoder.layers.\1.\2",
    ),
]
_SHARED_BIAS = re.compile(r"^encoder\.layers\.(\d+)\.self_attn\.relative_attention_bias\.weight$")
_PLAIN_POS_CONV = "encoder.pos_conv.0.weight"


_INVERSE_PREFIXES = (
    ("patch_embeddings.projection.", "patch_embedding."),
    ("feature_projection.layer_norm.", "layer_norm."),
    ("feature_projection.projection.", "post_extract_proj."),
    ("encoder.pos_conv_embed.conv.parametrizations.weight.original0", "encoder.pos_conv.0.weight_g"),
    ("encoder.pos_conv_embed.conv.parametrizations.weight.original1", "encoder.pos_conv.0.weight_v"),
    ("encoder.pos_conv_embed.conv.", "encoder.pos_conv.0."),
)


def _official_name(key: str) -> str:
    """The official name of one of our state-dict keys (the inverse of ``_KEY_RULES``)."""
    key = key.removeprefix("beats.")
    for ours, theirs in _INVERSE_PREFIXES:
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    return key


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


def _check_value(key: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        raise ValueError(f"cfg[{key!r}] must be a bool, got {value!r}")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        raise ValueError(f"cfg[{key!r}] must be a positive integer, got {value!r}")
    if kind in ("prob", "ratio"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if kind == "prob" and 0.0 <= value < 1.0:
                return float(value)
            if kind == "ratio" and value > 0.0:
                return float(value)
        expected = "a probability in [0, 1)" if kind == "prob" else "a positive number"
        raise ValueError(f"cfg[{key!r}] must be {expected}, got {value!r}")
    if value not in _ACTIVATIONS:
        raise ValueError(f"cfg[{key!r}]={value!r} is not supported; supported: {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[value]


def _config_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(cfg) - set(OFFICIAL_CFG_DEFAULTS), key=str)
    if unknown:
        # Released checkpoints may carry training-only keys; the strict weight loading below still
        # rejects any architecture these options would have changed.
        warnings.warn(
            f"ignoring BEATs cfg key(s) {unknown} (not architecture options respira knows)", stacklevel=3
        )
    merged = {**OFFICIAL_CFG_DEFAULTS, **cfg}
    return {field: _check_value(key, kind, merged[key]) for key, (field, kind) in _CFG_TO_CONFIG.items()}


def _id2label(label_dict: Any, num_labels: int) -> dict[int, str]:
    if label_dict is None:
        return {i: f"LABEL_{i}" for i in range(num_labels)}
    if not isinstance(label_dict, Mapping):
        raise ValueError(f"'label_dict' must map class indices to labels, got a {type(label_dict).__name__}")
    items = list(label_dict.items())
    if items and all(isinstance(v, int) and not isinstance(v, bool) for _, v in items):
        items = [(v, k) for k, v in items]  # label → index, the other common orientation
    try:
        id2label = {int(k): str(v) for k, v in items}
    except (TypeError, ValueError) as err:
        raise ValueError(f"'label_dict' keys must be class indices: {err}") from err
    if sorted(id2label) != list(range(num_labels)):
        raise ValueError(
            f"'label_dict' must name exactly the classes 0..{num_labels - 1}, got {len(id2label)} entries"
        )
    return id2label


def _map_state_dict(
    state_dict: dict[str, torch.Tensor], prefix: str
) -> tuple[dict[str, torch.Tensor], dict[str, str], list[str]]:
    """Rename official keys; returns (mapped, our key → official key, official keys matching no rule)."""
    mapped: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    unmatched: list[str] = []
    shared_bias = state_dict.get("encoder.layers.0.self_attn.relative_attention_bias.weight")
    for key, tensor in state_dict.items():
        shared = _SHARED_BIAS.match(key)
        if shared and shared.group(1) != "0":
            # The official model ties every layer's bias table to layer 0's; only layer 0 keeps one here.
            if shared_bias is None or not torch.equal(tensor, shared_bias):
                raise ValueError(
                    f"{key} is not equal to layer 0's relative position bias table, which the official "
                    "model shares with every layer"
                )
            continue
        if key == _PLAIN_POS_CONV:  # a checkpoint saved with weight norm removed: re-split into g and v
            base = prefix + "encoder.pos_conv_embed.conv.parametrizations.weight."
            mapped[base + "original0"] = torch.norm_except_dim(tensor, 2, dim=2)
            mapped[base + "original1"] = tensor
            origin[base + "original0"] = origin[base + "original1"] = key
            continue
        if key.startswith("predictor."):
            new_key = key if key in ("predictor.weight", "predictor.bias") else None
        else:
            new_key = next((prefix + rx.sub(repl, key) for rx, repl in _KEY_RULES if rx.match(key)), None)
        if new_key is None:
            unmatched.append(key)
        else:
            mapped[new_key] = tensor
            origin[new_key] = key
    return mapped, origin, unmatched


def _build_model(
    cfg: dict[str, Any], state_dict: dict[str, torch.Tensor], label_dict: Any
) -> BeatsModel | BeatsForAudioClassification:
    kwargs = _config_kwargs(cfg)
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
        keys = [key for key, (field, _) in _CFG_TO_CONFIG.items() if re.search(rf"\b{field}\b", message)]
        raise ValueError(
            f"the checkpoint's cfg describes an unsupported BEATs (cfg keys {keys}): {message}"
        ) from err

    model: BeatsModel | BeatsForAudioClassification
    model = BeatsForAudioClassification(config) if has_predictor else BeatsModel(config)
    prefix = "beats." if has_predictor else ""
    mapped, origin, unmatched = _map_state_dict(state_dict, prefix)

    load_checked(
        model,
        mapped,
        "the checkpoint's weights do not match its cfg",
        name=lambda key: origin.get(key) or _official_name(key),
        unmatched=unmatched,
    )
    return model.eval()


def convert_beats_checkpoint(
    checkpoint: str | Path, output_dir: str | Path, *, overwrite: bool = False
) -> Path:
    """Convert an official BEATs checkpoint into a ``save_pretrained`` folder (``config.json`` + safetensors).

    Args:
        checkpoint: path of the official ``.pt`` file.
        output_dir: folder to create. It may exist only if empty, unless ``overwrite``.
        overwrite: replace an existing non-empty ``output_dir`` (only after the new folder is complete).

    Returns:
        ``output_dir`` as a ``Path``.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        FileExistsError: ``output_dir`` exists, is not empty (or not a folder) and ``overwrite`` is false.
        ValueError: the file is not an official BEATs checkpoint, its cfg has an unsupported
            value, or its weights do not match the cfg (the message lists the keys).
    """
    checkpoint, output_dir = Path(checkpoint), Path(output_dir)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"BEATs checkpoint not found: {checkpoint}")
    occupied = check_output_dir(output_dir, overwrite)
    model = _build_model(*_load_official(checkpoint))
    return save_converted(model, output_dir, overwrite, occupied)


__all__ = ["OFFICIAL_CFG_DEFAULTS", "convert_beats_checkpoint"]

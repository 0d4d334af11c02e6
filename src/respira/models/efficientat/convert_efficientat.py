"""Convert an original EfficientAT "mn" checkpoint (a plain PyTorch state dict) to a transformers folder.

    respira convert efficientat mn04_as_mAP_432.pt out/mn04-as --width 0.4

The result (``config.json`` + ``model.safetensors``) loads with
``AutoModelForAudioClassification.from_pretrained(folder)`` after ``import respira.models.efficientat``.

Key mapping (everything else is unchanged):

* ``features.…``                       → ``efficientat.features.…``
* ``….conc_se_layers.0.fc{1,2}.…``     → ``….fc{1,2}.…`` (the single channel-SE layer is not wrapped)
* ``classifier.2.…`` / ``classifier.5.…`` → ``classifier.dense.…`` / ``classifier.out_proj.…``

Labels: the AudioSet ontology cannot be fetched offline, so ``id2label`` is ``LABEL_i``; index ``i`` is
row ``i`` of AudioSet's ``class_labels_indices.csv`` (the order the EfficientAT heads were trained in).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ...labels import MULTI_LABEL
from ..checkpoints import (
    check_output_dir,
    load_checked,
    load_original_checkpoint,
    save_converted,
    summarise_keys,
)
from .configuration_efficientat import AUDIOSET_NUM_LABELS, MAX_WIDTH_MULT, MIN_WIDTH_MULT, EfficientATConfig
from .modeling_efficientat import EfficientATForAudioClassification

__all__ = ["convert_efficientat_checkpoint", "load_original_state_dict", "original_to_hf_key"]

_STEM_KEY = "features.0.0.weight"
_HEAD_DENSE_KEY = "classifier.2.weight"
_HEAD_OUT_KEY = "classifier.5.weight"
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")
_FEATURE_INDEX = re.compile(r"^features\.(\d+)\.")
# widths whose channel counts are compared when a checkpoint does not match the requested one
_CANDIDATE_WIDTHS = tuple(round(MIN_WIDTH_MULT + 0.05 * i, 2) for i in range(13))


def original_to_hf_key(key: str) -> str:
    """Name of an original EfficientAT state-dict entry in `EfficientATForAudioClassification`."""
    if key.startswith("features."):
        return "efficientat." + key.replace(".conc_se_layers.0.", ".")
    if key.startswith("classifier.2."):
        return "classifier.dense." + key.removeprefix("classifier.2.")
    if key.startswith("classifier.5."):
        return "classifier.out_proj." + key.removeprefix("classifier.5.")
    return key


def load_original_state_dict(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """Load an original checkpoint (``weights_only=True``) and check it is an EfficientAT "mn" state dict."""
    path = Path(checkpoint)
    loaded = load_original_checkpoint(path, "an EfficientAT checkpoint")
    if isinstance(loaded, Mapping):
        for wrapper in _WRAPPER_KEYS:
            if isinstance(loaded.get(wrapper), Mapping):
                loaded = loaded[wrapper]
                break
    if not isinstance(loaded, Mapping) or not loaded:
        raise ValueError(f"{path} does not hold a state dict (got {type(loaded).__name__})")
    not_tensors = [str(key) for key, value in loaded.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        entries = summarise_keys(not_tensors)
        raise ValueError(f"{path} is not a plain state dict: non-tensor entries {entries}")
    state_dict = {str(key): value for key, value in loaded.items()}
    if all(key.startswith("module.") for key in state_dict):
        state_dict = {key.removeprefix("module."): value for key, value in state_dict.items()}
    missing = [key for key in (_STEM_KEY, _HEAD_DENSE_KEY, _HEAD_OUT_KEY) if key not in state_dict]
    if missing:
        beats = any(key.startswith(("encoder.layers.", "patch_embedding.")) for key in state_dict)
        hint = "; a BEATs checkpoint? use respira convert beats" if beats else ""
        raise ValueError(
            f"{path} is not an EfficientAT MobileNetV3 ('mn', mlp head) state dict: "
            f"it lacks {', '.join(missing)}{hint}"
        )
    return state_dict


def _channel_signature(config: EfficientATConfig) -> dict[str, int]:
    blocks = config.block_settings
    return {
        "stem": config.stem_channels,
        **{f"block {i} out": block["out_channels"] for i, block in enumerate(blocks, start=1)},
        "embedding": config.hidden_size,
        "head hidden": config.head_hidden_size,
    }


def _found_signature(state_dict: Mapping[str, torch.Tensor], num_blocks: int) -> dict[str, int | None]:
    def out_channels(index: int) -> int | None:
        # the projection (last conv unit) of block `index`, or the single conv of stem / last layer
        candidates = [
            key
            for key in state_dict
            if key.startswith(f"features.{index}.")
            and key.endswith(".0.weight")
            and state_dict[key].dim() == 4
        ]
        if not candidates:
            return None
        return int(state_dict[max(candidates, key=_unit_order)].shape[0])

    found: dict[str, int | None] = {"stem": out_channels(0)}
    for i in range(1, num_blocks + 1):
        found[f"block {i} out"] = out_channels(i)
    found["embedding"] = out_channels(num_blocks + 1)
    found["head hidden"] = int(state_dict[_HEAD_DENSE_KEY].shape[0])
    return found


def _unit_order(key: str) -> tuple[int, ...]:
    return tuple(int(part) for part in key.split(".") if part.isdigit())


def _check_width(state_dict: Mapping[str, torch.Tensor], config: EfficientATConfig) -> None:
    num_blocks = len(config.inverted_residual_setting)
    indices = {int(m.group(1)) for key in state_dict if (m := _FEATURE_INDEX.match(key))}
    if indices != set(range(num_blocks + 2)):
        raise ValueError(
            f"checkpoint has feature stages {sorted(indices)}, but this architecture has "
            f"features.0 to features.{num_blocks + 1} "
            f"(stem, {num_blocks} inverted-residual blocks, last conv)"
        )
    expected = _channel_signature(config)
    found = _found_signature(state_dict, num_blocks)
    if found == expected:
        return
    matching = [
        width
        for width in _CANDIDATE_WIDTHS
        if _channel_signature(EfficientATConfig(width_mult=width, num_labels=config.num_labels)) == found
    ]
    differing = [name for name in expected if expected[name] != found[name]]
    summary = [name for name in differing if not name.startswith("block ")]
    blocks = [name for name in differing if name.startswith("block ")]
    if len(blocks) <= 2:
        summary, blocks = differing, []
    differences = "; ".join(f"{name}: expected {expected[name]}, found {found[name]}" for name in summary)
    if blocks:
        differences += f"; and the outputs of {len(blocks)} blocks"
    hint = f"; the checkpoint matches width {matching[0]}" if matching else ""
    raise ValueError(f"checkpoint channel counts do not match width {config.width_mult}: {differences}{hint}")


def infer_width(state_dict: Mapping[str, torch.Tensor]) -> float:
    """The width multiplier (0.4 to 1.0, step 0.05) whose channel counts match an original state dict."""
    num_labels = int(state_dict[_HEAD_OUT_KEY].shape[0])
    for width in _CANDIDATE_WIDTHS:
        config = EfficientATConfig(width_mult=width, num_labels=num_labels)
        found = _found_signature(state_dict, len(config.inverted_residual_setting))
        if found == _channel_signature(config):
            return width
    raise ValueError(
        f"no width between {MIN_WIDTH_MULT} and {MAX_WIDTH_MULT} matches the checkpoint's channel counts "
        f"(stem {int(state_dict[_STEM_KEY].shape[0])}, "
        f"head hidden {int(state_dict[_HEAD_DENSE_KEY].shape[0])})"
    )


def convert_efficientat_checkpoint(
    checkpoint: str | Path,
    output_dir: str | Path,
    *,
    width: float | None = 0.4,
    overwrite: bool = False,
) -> Path:
    """Convert an original EfficientAT "mn" checkpoint into a transformers folder and return its path.

    Args:
        checkpoint: the original ``.pt`` file (a plain state dict such as ``mn04_as_mAP_432.pt``).
        output_dir: folder to create; it receives ``config.json`` and ``model.safetensors``.
        width: the width multiplier the checkpoint was trained with (``mn04`` = 0.4, ``mn10`` = 1.0). It is
            verified against the tensor shapes; ``None`` infers it from them.
        overwrite: replace an existing non-empty ``output_dir`` (otherwise `FileExistsError`).

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist.
        FileExistsError: ``output_dir`` exists, is not empty and ``overwrite`` is false (or it is a file).
        ValueError: the file is not a loadable state dict of this architecture, the width does not match
            (the message lists expected and found channel counts), or keys are missing / unexpected.

    The folder is written to a temporary sibling, then renamed into place, so a
    failure never leaves a half-written ``output_dir``.
    """
    output_dir = Path(output_dir)
    occupied = check_output_dir(output_dir, overwrite)
    state_dict = load_original_state_dict(checkpoint)
    if width is None:
        width = infer_width(state_dict)
    num_labels = int(state_dict[_HEAD_OUT_KEY].shape[0])
    config = EfficientATConfig(
        width_mult=float(width),
        num_labels=num_labels,
        problem_type=MULTI_LABEL if num_labels == AUDIOSET_NUM_LABELS else None,
    )
    _check_width(state_dict, config)
    model = EfficientATForAudioClassification(config)
    mapped = {original_to_hf_key(key): value for key, value in state_dict.items()}
    load_checked(model, mapped, "checkpoint does not fit the EfficientAT architecture")
    return save_converted(model.eval(), output_dir, overwrite, occupied)

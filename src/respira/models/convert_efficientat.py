"""Convert an original EfficientAT "mn" checkpoint (a plain PyTorch state dict) to a transformers folder.

    respira convert efficientat mn04_as_mAP_432.pt out/mn04-as --width 0.4

``id2label`` is ``LABEL_i``: row ``i`` of AudioSet's ``class_labels_indices.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from .checkpoints import (
    check_output_dir,
    load_checked,
    load_original_checkpoint,
    save_converted,
    summarise_keys,
)
from .respira.configuration_efficientat import (
    AUDIOSET_NUM_LABELS,
    MAX_WIDTH_MULT,
    MIN_WIDTH_MULT,
    EfficientATConfig,
)
from .respira.labels import MULTI_LABEL
from .respira.modeling_efficientat import EfficientATForAudioClassification

__all__ = ["convert_efficientat_checkpoint", "load_original_state_dict", "original_to_hf_key"]

_STEM_KEY = "features.0.0.weight"
_HEAD_DENSE_KEY = "classifier.2.weight"
_HEAD_OUT_KEY = "classifier.5.weight"
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


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


def convert_efficientat_checkpoint(
    checkpoint: str | Path,
    output_dir: str | Path,
    *,
    width: float | None = 0.4,
    overwrite: bool = False,
) -> Path:
    """Convert an original EfficientAT "mn" checkpoint (e.g. ``mn04_as_mAP_432.pt``) into a transformers
    folder; return its path.

    ``width`` (``mn04`` = 0.4) is checked against the checkpoint's MLP head (``None``: whatever it has). An
    occupied ``output_dir`` is replaced only with ``overwrite``. Raises ``FileNotFoundError``,
    ``FileExistsError``, or ``ValueError`` for a file that is no such state dict.
    """
    output_dir = Path(output_dir)
    occupied = check_output_dir(output_dir, overwrite)
    state_dict = load_original_state_dict(checkpoint)
    hidden = int(state_dict[_HEAD_DENSE_KEY].shape[0])
    inferred = round(hidden / 1280, 2)  # the width multiplier: the MLP head's hidden units over 1280
    if not MIN_WIDTH_MULT <= inferred <= MAX_WIDTH_MULT:
        raise ValueError(f"the checkpoint's MLP head has {hidden} hidden units: no width from 0.4 to 1.0 has")
    if width is not None and float(width) != inferred:
        raise ValueError(f"the checkpoint has width {inferred} (by its MLP head), not width {width}")
    num_labels = int(state_dict[_HEAD_OUT_KEY].shape[0])
    config = EfficientATConfig(
        width_mult=inferred,
        num_labels=num_labels,
        problem_type=MULTI_LABEL if num_labels == AUDIOSET_NUM_LABELS else None,
    )
    model = EfficientATForAudioClassification(config)
    mapped = {original_to_hf_key(key): value for key, value in state_dict.items()}
    load_checked(model, mapped, "checkpoint does not fit the EfficientAT architecture")
    return save_converted(model.eval(), output_dir, overwrite, occupied)

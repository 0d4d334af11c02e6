"""respira's label scheme: the four ICBHI classes (single-label models), the two crackle/wheeze flags
(multi-label models) and the maps between them (class index = crackle + 2·wheeze)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

CLASS_NAMES: tuple[str, ...] = ("normal", "crackle", "wheeze", "both")
"""The four ICBHI classes, in class-index (and ``datasets.ClassLabel``) order."""
NUM_CLASSES: int = len(CLASS_NAMES)
MULTI_LABEL_NAMES: tuple[str, ...] = ("crackle", "wheeze")
"""The outputs of a multi-label model, in logit order (and the flags' column order)."""
RECORDING_LABELS: tuple[str, ...] = ("crackle", "wheeze", "normal")
"""The 0/1 flag columns of a recording-labelled corpus (KAUH), one label per recording."""

SINGLE_LABEL = "single_label_classification"
"""Four classes, softmax + cross-entropy (the default)."""
MULTI_LABEL = "multi_label_classification"
"""Crackle and wheeze flags, sigmoid + binary cross-entropy."""
PROBLEM_TYPES: tuple[str, ...] = (SINGLE_LABEL, MULTI_LABEL)


def label_names(problem_type: str | None) -> tuple[str, ...]:
    """The output names of a model of ``problem_type`` (``None``: the single-label default)."""
    if problem_type is None or problem_type == SINGLE_LABEL:
        return CLASS_NAMES
    if problem_type == MULTI_LABEL:
        return MULTI_LABEL_NAMES
    raise ValueError(f"problem_type must be one of {', '.join(PROBLEM_TYPES)}, got {problem_type!r}")


def cycle_label(crackle: int, wheeze: int) -> str:
    """The four-class label of a cycle from its crackle and wheeze flags."""
    return CLASS_NAMES[int(bool(crackle)) + 2 * int(bool(wheeze))]


def classes_to_flags(classes: Sequence[int] | np.ndarray | torch.Tensor) -> Any:
    """The ``[N, 2]`` (crackle, wheeze) int64 flags of 1-D class indices 0..3, as an array or a tensor
    like ``classes``; ``ValueError`` for an array of anything else (a tensor, the losses' hot path, is
    not checked)."""
    if type(classes).__module__.startswith("torch"):
        import torch

        indices = classes.long()
        return torch.stack([indices % 2, indices // 2], dim=1)
    array = np.asarray(classes)
    if array.ndim != 1:
        raise ValueError(f"classes must be a 1-D sequence of class indices, got shape {array.shape}")
    valid = np.isin(array, range(NUM_CLASSES)) if array.dtype.kind in "iuf" else None
    if valid is None or not np.all(valid):
        bad = array[~valid] if valid is not None else array
        raise ValueError(f"classes must be class indices in 0..3, got {bad.reshape(-1)[0].item()!r}")
    array = array.astype(np.int64)
    return np.stack([array % 2, array // 2], axis=1)


def binary_flags(values: Any, name: str = "flags") -> np.ndarray:
    """``values`` as int64 0/1 flags; ``ValueError`` naming ``name`` for anything else."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be 0/1, got dtype {array.dtype}")
    bad = ~np.isin(array, (0, 1))
    if np.any(bad):
        raise ValueError(f"{name} must be 0/1, got {array[bad].reshape(-1)[0].item()!r}")
    return array.astype(np.int64)


def flags_to_classes(flags: Sequence[Any] | np.ndarray) -> Any:
    """The int64 class indices of 0/1 ``[..., 2]`` (crackle, wheeze) flags (an ``int`` for one pair);
    ``ValueError`` for anything but 0/1."""
    array = np.asarray(flags)
    if array.shape[-1:] != (len(MULTI_LABEL_NAMES),):
        raise ValueError(f"flags must have shape [..., 2] (crackle, wheeze), got {array.shape}")
    array = binary_flags(array)
    classes = array[..., 0] + 2 * array[..., 1]
    return int(classes) if classes.ndim == 0 else classes


def tagging_loss(logits: torch.Tensor, labels: torch.Tensor, problem_type: str | None) -> torch.Tensor:
    """A standalone tagger's loss (BEATs, EfficientAT) by ``problem_type``, inferred as transformers does
    when ``None``: cross-entropy on class indices or BCE on multi-hot labels."""
    import torch
    from torch.nn import functional

    if problem_type is None:
        integer = labels.dtype in (torch.long, torch.int, torch.int16, torch.uint8)
        problem_type = SINGLE_LABEL if integer else MULTI_LABEL
    labels = labels.to(logits.device)
    if problem_type == SINGLE_LABEL:
        return functional.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1).long())
    if problem_type != MULTI_LABEL:
        raise ValueError(f"unsupported problem_type {problem_type!r}")
    if labels.shape != logits.shape:
        raise ValueError(
            f"multi-label targets must have the logits' shape {tuple(logits.shape)}, got "
            f"{tuple(labels.shape)}; for class indices set config.problem_type={SINGLE_LABEL!r}"
        )
    return functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))

"""ICBHI scores per recording condition (stethoscope, chest location), and the device-shift note
(ICBHI's largest test device, the Littmann 3200, is absent from its training split).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .icbhi import NORMAL, icbhi_scores, validate_labels_and_predictions

__all__ = [
    "GROUP_COLUMNS",
    "GROUP_SCORES",
    "device_shift_note",
    "scores_by_group",
    "scores_by_metadata",
    "splits_device_shift_note",
]

GROUP_COLUMNS: tuple[str, ...] = ("device", "chest_location")
"""The metadata columns scored separately (each as ``by_<column>``)."""
GROUP_SCORES: tuple[str, ...] = ("specificity", "sensitivity", "icbhi_score", "accuracy")
"""The :func:`~respira.metrics.icbhi.icbhi_scores` keys reported per group."""
UNKNOWN = "unknown"
"""The group of examples whose metadata value is missing."""


def _names(values: Sequence[Any] | np.ndarray) -> list[str]:
    return [UNKNOWN if value is None else str(value) for value in values]


def scores_by_group(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    groups: Sequence[Any] | np.ndarray,
) -> dict[str, dict[str, float | int]]:
    """Per distinct value of ``groups``: example counts and the :data:`GROUP_SCORES` on that group alone."""
    labels_array, predictions_array = validate_labels_and_predictions(labels, predictions)
    names = np.asarray(_names(groups), dtype=object)
    if len(names) != len(labels_array):
        raise ValueError(f"groups and labels have different lengths: {len(names)} != {len(labels_array)}")
    result: dict[str, dict[str, float | int]] = {}
    for name in sorted(set(names)):
        mask = names == name
        scores = icbhi_scores(labels_array[mask], predictions_array[mask], warn=False)
        normal = int(np.sum(labels_array[mask] == NORMAL))
        result[name] = {
            "num_examples": int(mask.sum()),
            "num_normal": normal,
            "num_abnormal": int(mask.sum()) - normal,
            **{key: scores[key] for key in GROUP_SCORES},
        }
    return result


def _columns(metadata: Any) -> list[str]:
    names = getattr(metadata, "column_names", None)  # a datasets.Dataset
    return list(names) if names is not None else list(metadata)


def scores_by_metadata(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    metadata: Mapping[str, Sequence[Any]] | Any,
    columns: Sequence[str] = GROUP_COLUMNS,
) -> dict[str, dict[str, dict[str, float | int]]]:
    """``{"by_<column>": scores_by_group(...)}`` for each of ``columns`` that ``metadata`` has."""
    present = set(_columns(metadata))
    return {
        f"by_{column}": scores_by_group(labels, predictions, metadata[column])
        for column in columns
        if column in present
    }


def device_shift_note(train_devices: Sequence[Any], test_devices: Sequence[Any]) -> str | None:
    """One line naming the test devices absent from training, or ``None``."""
    seen = set(_names(train_devices))
    names, counts = np.unique(np.asarray(_names(test_devices), dtype=object), return_counts=True)
    unseen = {name: int(count) for name, count in zip(names, counts, strict=True) if name not in seen}
    if not unseen:
        return None
    total = len(test_devices)
    parts = ", ".join(f"{name} ({count} of {total} test cycles)" for name, count in unseen.items())
    verb = "appears" if len(unseen) == 1 else "appear"
    return (
        f"device shift: {parts} never {verb} in the training split; scores there measure an unseen "
        "stethoscope (see by_device in the test evaluation's metrics.json)"
    )


def splits_device_shift_note(splits: Mapping[str, Any]) -> str | None:
    """:func:`device_shift_note` of a ``DatasetDict``'s ``train`` and ``test`` splits, or ``None``."""
    if "train" not in splits or "test" not in splits:
        return None
    train, test = splits["train"], splits["test"]
    if "device" not in _columns(train) or "device" not in _columns(test):
        return None
    return device_shift_note(train["device"], test["device"])

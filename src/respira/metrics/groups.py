"""ICBHI scores per recording condition (stethoscope, chest location), and the device-shift note."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .icbhi import NORMAL, icbhi_scores, validate_labels_and_predictions

GROUP_COLUMNS: tuple[str, ...] = ("device", "chest_location")
"""The metadata columns scored separately (each as ``by_<column>``)."""
GROUP_SCORES: tuple[str, ...] = ("specificity", "sensitivity", "icbhi_score", "accuracy")
"""The :func:`~respira.metrics.icbhi.icbhi_scores` keys reported per group."""
UNKNOWN = "unknown"  # the group of examples whose metadata value is missing


def group_selections(values: Sequence[Any] | None, count: int) -> dict[str, np.ndarray]:
    """``overall`` (all ``count`` rows), then each value of ``values`` with its rows; a row whose value is
    missing (``None`` or empty) counts in ``overall`` only."""
    selections = {"overall": np.ones(count, dtype=bool)}
    if values is not None:
        column = np.asarray(values, dtype=object)
        known = [value for value in dict.fromkeys(values) if value is not None and str(value).strip()]
        selections |= {str(value): column == value for value in known}
    return selections


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
        truth = labels_array[names == name]
        scores = icbhi_scores(truth, predictions_array[names == name], warn=False)
        normal = int(np.sum(truth == NORMAL))
        counts = {"num_examples": truth.size, "num_normal": normal, "num_abnormal": truth.size - normal}
        result[name] = counts | {key: scores[key] for key in GROUP_SCORES}
    return result


def _columns(metadata: Any) -> list[str]:
    return list(getattr(metadata, "column_names", None) or metadata)  # a datasets.Dataset, or a mapping


def scores_by_metadata(
    labels: Sequence[int] | np.ndarray,
    predictions: Sequence[int] | np.ndarray,
    metadata: Mapping[str, Sequence[Any]] | Any,
    columns: Sequence[str] = GROUP_COLUMNS,
) -> dict[str, dict[str, dict[str, float | int]]]:
    """``{"by_<column>": scores_by_group(...)}`` for each of ``columns`` that ``metadata`` has."""
    present = _columns(metadata)
    return {f"by_{c}": scores_by_group(labels, predictions, metadata[c]) for c in columns if c in present}


def splits_device_shift_note(splits: Mapping[str, Any]) -> str | None:
    """One line naming the devices of a ``DatasetDict``'s ``test`` split absent from its ``train`` split, or
    ``None``."""
    parts = [splits[name] for name in ("train", "test") if name in splits]
    if len(parts) < 2 or any("device" not in _columns(part) for part in parts):
        return None
    seen, test_devices = set(_names(parts[0]["device"])), _names(parts[1]["device"])
    unseen = {name: count for name, count in sorted(Counter(test_devices).items()) if name not in seen}
    if not unseen:
        return None
    total = len(test_devices)
    listed = ", ".join(f"{name} ({count} of {total} test cycles)" for name, count in unseen.items())
    verb = "appears" if len(unseen) == 1 else "appear"
    return (
        f"device shift: {listed} never {verb} in the training split; scores there measure an unseen "
        "stethoscope (see by_device in the test evaluation's metrics.json)"
    )

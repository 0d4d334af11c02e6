"""The decision rule: how a model's probabilities become the four ICBHI classes.

Multi-label models: a flag is present when its probability is ``>=`` its threshold
(``config.decision_thresholds``, else :data:`DEFAULT_THRESHOLD`). Single-label: the most probable class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .labels import (
    CLASS_NAMES,
    MULTI_LABEL,
    MULTI_LABEL_NAMES,
    SINGLE_LABEL,
    classes_to_flags,
    flags_to_classes,
)
from .windows import DEFAULT_AGGREGATION, DEFAULT_TOP_K, aggregate_windows, check_aggregation

if TYPE_CHECKING:
    import torch

DEFAULT_THRESHOLD: float = 0.5


def validate_thresholds(values: Sequence[Any] | None) -> tuple[float, float]:
    """``(crackle, wheeze)`` thresholds as floats in ``[0, 1]`` (``None``: the default)."""
    if values is None:
        return DEFAULT_THRESHOLD, DEFAULT_THRESHOLD
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) != len(MULTI_LABEL_NAMES) or not all(0.0 <= value <= 1.0 for value in numbers):
        raise ValueError(f"decision thresholds must be [crackle, wheeze] in [0, 1], got {values!r}")
    return numbers[0], numbers[1]


def thresholds_of(config: Any) -> tuple[float, float]:
    """The ``(crackle, wheeze)`` thresholds of a config (object or dict), or the default."""
    return validate_thresholds(config_field(config, "decision_thresholds"))


def has_tuned_thresholds(config: Any) -> bool:
    """Whether the config carries thresholds of its own."""
    return config_field(config, "decision_thresholds") is not None


def config_field(config: Any, name: str) -> Any:
    """Field ``name`` of a config object or ``config.json`` mapping (``None`` when absent)."""
    return config.get(name) if isinstance(config, Mapping) else getattr(config, name, None)


def is_multi_label(config: Any) -> bool:
    """Whether the model outputs the two flags rather than the four classes."""
    return (config_field(config, "problem_type") or SINGLE_LABEL) == MULTI_LABEL


def flag_order(config: Any) -> list[int]:
    """Output index of each flag (multi-label) or class (single-label), from the config's ``id2label``."""
    names = MULTI_LABEL_NAMES if is_multi_label(config) else CLASS_NAMES
    id2label = config_field(config, "id2label") or {}
    by_name = {str(label): int(index) for index, label in id2label.items()}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ValueError(f"the model's labels {sorted(by_name)} lack {missing}")
    return [by_name[name] for name in names]


def present(probabilities: Any, thresholds: Sequence[float]) -> np.ndarray:
    """Boolean flags ``[..., 2]``: each (crackle, wheeze) probability ``>=`` its threshold."""
    return np.asarray(probabilities, dtype=np.float64) >= np.asarray(validate_thresholds(thresholds))


@dataclass(frozen=True)
class Decision:
    """What a model decided for ``N`` inputs: (crackle, wheeze) probabilities ``flags`` ``[N, 2]``,
    ``present``, ``classes`` and the ``thresholds`` used (single-label: class sums, ``None``)."""

    flags: np.ndarray
    present: np.ndarray
    classes: np.ndarray
    thresholds: tuple[float, float] | None

    @property
    def labels(self) -> list[str]:
        """The class names of the decisions."""
        return [CLASS_NAMES[int(index)] for index in self.classes]


def decide_flags(flag_probabilities: Any, thresholds: Sequence[float] | None = None) -> Decision:
    """Decide ``[N, 2]`` (crackle, wheeze) probabilities at ``thresholds`` (``None``: the default)."""
    flags = np.atleast_2d(np.asarray(flag_probabilities, dtype=np.float64))
    chosen = validate_thresholds(thresholds)
    decided = present(flags, chosen)
    return Decision(flags, decided, np.atleast_1d(flags_to_classes(decided)).astype(np.int64), chosen)


def aggregation_of(config: Any) -> tuple[str, int | None]:
    """``(rule, top_k)`` a model's config gives for recording aggregation, or the default."""
    rule = config_field(config, "recording_aggregation") or DEFAULT_AGGREGATION
    top_k = config_field(config, "recording_top_k")
    if rule == "topk_mean" and top_k is None:
        top_k = DEFAULT_TOP_K
    check_aggregation(rule, top_k)
    return rule, (int(top_k) if rule == "topk_mean" else None)


def decide_recording(
    window_flags: Any, config: Any, aggregation: str = "max", top_k: int | None = None
) -> tuple[np.ndarray, Decision]:
    """A recording's ``(crackle, wheeze)`` probabilities and decision from its windows' ``[windows, 2]``."""
    aggregated = aggregate_windows(np.asarray(window_flags, dtype=np.float64), aggregation, top_k)
    return aggregated, decide_flags(aggregated[None, :], thresholds_of(config))


def decide_rows(
    rows: Sequence[Mapping[str, Any]], config: Any, aggregation: str | None = None, top_k: int | None = None
) -> tuple[np.ndarray, Decision]:
    """:func:`decide_recording` of a recording's :func:`decided_rows`: the verdict every runner gives."""
    if not rows:
        raise ValueError("no windows to decide")
    if aggregation is None:
        aggregation, top_k = aggregation_of(config)
    flags = [[float(row["crackle"]), float(row["wheeze"])] for row in rows]
    return decide_recording(flags, config, aggregation, top_k)


def decided_rows(
    probabilities: Any, spans: Sequence[tuple[float, float]], config: Any
) -> list[dict[str, Any]]:
    """One decided row per window (or cycle): ``start``, ``end``, ``crackle``, ``wheeze``, ``label``, ..."""
    array = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    decision = decide(array, config)
    rows: list[dict[str, Any]] = [
        {
            "start": start,
            "end": end,
            "crackle": float(decision.flags[index, 0]),
            "wheeze": float(decision.flags[index, 1]),
            "label": CLASS_NAMES[int(decision.classes[index])],
        }
        for index, (start, end) in enumerate(spans)
    ]
    if not is_multi_label(config):
        classes = array[:, flag_order(config)]
        for row, values in zip(rows, classes, strict=True):
            row.update({f"p_{name}": float(value) for name, value in zip(CLASS_NAMES, values, strict=True)})
    return rows


def decide(probabilities: Any, config: Any) -> Decision:
    """Decide a model's probabilities ``[N, outputs]`` (in the config's ``id2label`` order)."""
    array = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    order = flag_order(config)
    if is_multi_label(config):
        return decide_flags(array[:, order], thresholds_of(config))
    classes = array[:, order]
    indices = classes.argmax(axis=1).astype(np.int64)
    flags = np.stack([classes[:, 1] + classes[:, 3], classes[:, 2] + classes[:, 3]], axis=1)
    decided = classes_to_flags(indices).astype(bool)
    return Decision(flags, decided, indices, None)


def class_scores(probabilities: Any, config: Any) -> tuple[np.ndarray, Decision]:
    """A score per class ``[N, 4]`` that agrees with the decision, and the decision."""
    decision = decide(probabilities, config)
    array = np.atleast_2d(np.asarray(probabilities, dtype=np.float64))
    if not is_multi_label(config):
        return array[:, flag_order(config)], decision
    return flag_class_scores(decision.flags, decision.thresholds), decision


def flag_class_scores(flag_probabilities: Any, thresholds: Sequence[float] | None = None) -> np.ndarray:
    """Class scores ``[N, 4]`` of ``[N, 2]`` flag probabilities: each moved so its threshold maps to 0.5,
    then products of independent flags (they sum to 1; the decided class has the highest)."""
    flags = np.atleast_2d(np.asarray(flag_probabilities, dtype=np.float64))
    t = np.asarray(validate_thresholds(thresholds))
    below = 0.5 * np.divide(flags, t, out=np.ones_like(flags), where=t > 0)
    above = 0.5 + 0.5 * np.divide(flags - t, 1.0 - t, out=np.ones_like(flags), where=t < 1)
    crackle, wheeze = np.clip(np.where(flags >= t, above, below), 0.0, 1.0).T
    return np.stack(
        [(1 - crackle) * (1 - wheeze), crackle * (1 - wheeze), (1 - crackle) * wheeze, crackle * wheeze],
        axis=1,
    )


def decide_tensor(probabilities: torch.Tensor, config: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`decide` in torch, for the ONNX export: ``present`` ``[N, 2]`` and ``label`` ``[N]``."""
    import torch

    order = flag_order(config)
    selected = probabilities[:, order]
    if is_multi_label(config):
        limits = torch.tensor(thresholds_of(config), dtype=selected.dtype, device=selected.device)
        flags = selected >= limits
        label = flags[:, 0].long() + 2 * flags[:, 1].long()  # flags_to_classes
        return flags, label
    label = selected.argmax(dim=-1)
    crackle = (label == CLASS_NAMES.index("crackle")) | (label == CLASS_NAMES.index("both"))
    wheeze = (label == CLASS_NAMES.index("wheeze")) | (label == CLASS_NAMES.index("both"))
    return torch.stack([crackle, wheeze], dim=1), label

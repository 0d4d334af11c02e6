"""Console tables of an evaluation report: threshold-free scores per label, and scores per device."""

from __future__ import annotations

from typing import Any

from ..labels import CLASS_NAMES, MULTI_LABEL_NAMES
from ..utils.tables import format_percent, format_table

__all__ = ["device_table", "label_table"]


def _positives(metrics: dict[str, Any]) -> dict[str, int]:
    """Per label, the examples that carry it (from the confusion matrix's rows: crackle = crackle + both)."""
    rows = [sum(row) for row in metrics["confusion_matrix"]]
    count = dict(zip(CLASS_NAMES, rows, strict=True))
    return {"crackle": count["crackle"] + count["both"], "wheeze": count["wheeze"] + count["both"]}


def label_table(metrics: dict[str, Any]) -> str:
    """Per label (crackle, wheeze): how many examples carry it, its ROC AUC and average precision."""
    positives = _positives(metrics)
    total = metrics["num_examples"]
    rows = [
        (
            name,
            f"{positives[name]} of {total}",
            format_percent(metrics.get(f"auc_{name}")),
            format_percent(metrics.get(f"average_precision_{name}")),
        )
        for name in MULTI_LABEL_NAMES
    ]
    return format_table(rows, ("label", "positives", "AUC (%)", "AP (%)"), align="<>>>", indent="  ")


def device_table(metrics: dict[str, Any], column: str = "device") -> str:
    """The ICBHI scores per value of ``column`` (``by_<column>`` of the metrics; empty when absent)."""
    groups = metrics.get(f"by_{column}") or {}
    rows = [
        (
            name,
            scores["num_examples"],
            scores["num_normal"],
            scores["num_abnormal"],
            format_percent(scores.get("specificity")),
            format_percent(scores.get("sensitivity")),
            format_percent(scores.get("icbhi_score")),
        )
        for name, scores in groups.items()
    ]
    if not rows:
        return ""
    header = (column.replace("_", " "), "cycles", "normal", "abnormal", "Sp (%)", "Se (%)", "ICBHI score (%)")
    return format_table(rows, header, align="<>>>>>>", indent="  ")

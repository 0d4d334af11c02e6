"""The model card facts the app page states: what the model was trained on, its test score, and that it
is not a medical device — read from the model card's metadata (``README.md`` of an export or Hub
repo, :mod:`respira.hub.card_data` writes it) or, for a training run, its ``metrics.json``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["NOT_A_MEDICAL_DEVICE", "card_facts", "card_metadata"]

NOT_A_MEDICAL_DEVICE = (
    "**This is a research tool, not a medical device.** It has not been clinically validated; "
    "do not use it to diagnose or treat anyone."
)


def card_metadata(card: str | Path) -> dict[str, Any]:
    """The YAML front matter of a model card file (``{}`` when it has none or it does not parse)."""
    import yaml

    path = Path(card)
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    parts = text.split("\n---", 1)
    try:
        data = yaml.safe_load(parts[0][3:]) if len(parts) == 2 else None
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _results(metadata: Mapping[str, Any]) -> list[str]:
    facts = []
    for entry in metadata.get("model-index") or []:
        for result in entry.get("results") or []:
            dataset = (result.get("dataset") or {}).get("name", "the test split")
            split = (result.get("dataset") or {}).get("split")
            where = f"{dataset} ({split})" if split else dataset
            scores = [
                f"{metric.get('name') or metric.get('type')} {metric.get('value')}"
                for metric in result.get("metrics") or []
                if metric.get("value") is not None
            ]
            if scores:
                facts.append(f"Test score on {where}: " + ", ".join(scores))
    return facts


def card_facts(folder: str | Path | None, card: str | Path | None = None) -> list[str]:
    """Markdown lines about the model in ``folder`` (its card ``README.md`` unless ``card`` is given;
    ``metrics.json`` when the card has no results); the last line is :data:`NOT_A_MEDICAL_DEVICE`."""
    facts: list[str] = []
    folder = Path(folder) if folder is not None else None
    metadata = card_metadata(card if card is not None else folder / "README.md") if folder or card else {}
    datasets = [str(name) for name in metadata.get("datasets") or []]
    if not datasets:  # the card names its data in its results: trained on the same corpus's training part
        for entry in metadata.get("model-index") or []:
            for result in entry.get("results") or []:
                dataset = result.get("dataset") or {}
                split = f" ({dataset['config']} split, training part)" if dataset.get("config") else ""
                if dataset.get("name"):
                    datasets.append(f"{dataset['name']}{split}")
    if datasets:
        facts.append("Trained on: " + ", ".join(dict.fromkeys(datasets)))
    facts.extend(_results(metadata))
    if folder is not None and not _results(metadata) and (folder / "metrics.json").is_file():
        try:
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            metrics = {}
        score = metrics.get("test_icbhi_score") if isinstance(metrics, dict) else None
        if isinstance(score, (int, float)):
            facts.append(f"Test ICBHI score: {score:.3f} (metrics.json)")
    if not facts:
        facts.append("No model card facts (training data, test score) were found for this model.")
    facts.append(NOT_A_MEDICAL_DEVICE)
    return facts

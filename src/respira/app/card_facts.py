"""The model facts the app page states: what the model was trained on, how it scored where it was scored,
and that it is not a medical device.

"Trained on" comes from the training record (``respira_run.json``, which ``respira train`` writes:
the corpora and the split sizes it learnt from) or, for a folder ``respira fit-site`` wrote, its fit record
(``site_fit.json``: the base model and the site, as ``respira detectors`` says it), never from an
evaluation. The scores come from the model
card's ``model-index`` (``README.md`` of a model folder, an export, a Hub repo or the Space's ``model/``;
:mod:`respira.hub.card_data` writes it): each site with its split, its 95 % interval and the all-normal
baseline beside it; a training run without a card gives its ``metrics.json`` test score. This module is
also shipped in a Space, so it reads JSON and YAML only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..pretrained.fitted import SITE_FIT_FILE, fitted_on

__all__ = [
    "NOT_A_MEDICAL_DEVICE",
    "RUN_RECORD",
    "card_facts",
    "card_metadata",
    "trained_on",
]

NOT_A_MEDICAL_DEVICE = (
    "**This is a research tool, not a medical device.** It has not been clinically validated; "
    "do not use it to diagnose or treat anyone."
)
RUN_RECORD = "respira_run.json"
"""The training record (:class:`respira.run_record.RunRecord`), read here as plain JSON."""
PRIMARY = ("icbhi", "ICBHI 2017 Respiratory Sound Database")
"""The corpus a run learns from when its record names no other (``data.corpora`` empty)."""
ALL_NORMAL = "All-normal baseline (%)"
SERVES = "serves it: the interval's lower end lies above all-normal"
NOT_SHOWN = "not shown to beat calling every recording normal: the interval reaches all-normal"


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


def _read_json(path: Path | None) -> Any:
    if path is None or not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _results(metadata: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        result
        for entry in metadata.get("model-index") or []
        if isinstance(entry, Mapping)
        for result in entry.get("results") or []
        if isinstance(result, Mapping)
    ]


def trained_on(record: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> str | None:
    """``ICBHI 2017 Respiratory Sound Database (684 cycles of 26 patients: train 545, validation 139)``:
    what a run learnt from, by its training record; ``None`` when it is no run record. Corpus titles are
    the card's (its ``model-index`` names each dataset it scored), else the record's names."""
    data = record.get("data")
    if not isinstance(data, Mapping):
        return None
    if data.get("synthetic"):
        names = ["a synthetic ICBHI-format corpus (respira.synthetic.make_synthetic_icbhi)"]
    else:
        titles = {PRIMARY[0]: PRIMARY[1]}
        for result in _results(metadata or {}):
            dataset = result.get("dataset") or {}
            if dataset.get("type") and dataset.get("name"):
                titles[str(dataset["type"])] = str(dataset["name"])
        corpora = [str(c.get("name")) for c in data.get("corpora") or [] if isinstance(c, Mapping)]
        names = [titles.get(name, name) for name in corpora or [PRIMARY[0]]]
        if data.get("dataset_name"):
            names[0] = f"{names[0]} (the dataset {data['dataset_name']})"
    sizes = {
        split: size
        for split, size in (data.get("split_sizes") or {}).items()
        if split != "test" and isinstance(size, Mapping)
    }
    if sizes:
        cycles = sum(int(size.get("cycles") or 0) for size in sizes.values())
        patients = sum(int(size.get("patients") or 0) for size in sizes.values())
        parts = ", ".join(f"{split} {int(size.get('cycles') or 0)}" for split, size in sizes.items())
        names[0] += f" ({cycles} cycles of {patients} patients: {parts})"
    return "; ".join(names)


def _score_facts(metadata: Mapping[str, Any]) -> list[str]:
    """One line per ``model-index`` result: where, the score (with its interval) and all-normal."""
    facts = []
    for result in _results(metadata):
        dataset = result.get("dataset") or {}
        where = str(dataset.get("name") or "the test split")
        details = [str(dataset[key]) for key in ("split", "config") if dataset.get(key)]
        if details:
            where += f" ({', '.join(details)})"
        metrics = [metric for metric in result.get("metrics") or [] if metric.get("value") is not None]
        scores, baseline, serves = [], None, []
        for metric in metrics:
            if metric.get("name") == ALL_NORMAL:
                baseline = metric["value"]
                continue
            args = metric.get("args") or {}
            text = f"{metric.get('name') or metric.get('type')} {metric['value']}"
            interval = args.get("interval_95")
            if isinstance(interval, list) and len(interval) == 2:
                text += f" [{interval[0]}, {interval[1]}]"
            if isinstance(args.get("serves"), bool):
                serves.append(args["serves"])
            scores.append(text)
        if scores:
            line = f"Scored on {where}: " + ", ".join(scores)
            line += f" vs all-normal {baseline}" if baseline is not None else ""
            if serves:
                line += f" ({SERVES if all(serves) else NOT_SHOWN})"
            facts.append(line)
    return facts


def card_facts(
    folder: str | Path | None, card: str | Path | None = None, record: str | Path | None = None
) -> list[str]:
    """Markdown lines about the model in ``folder`` (its card ``README.md`` and training record
    ``respira_run.json`` unless ``card`` / ``record`` are given; ``metrics.json`` when the card has no
    results); the last line is :data:`NOT_A_MEDICAL_DEVICE`."""
    folder = Path(folder) if folder is not None else None
    beside = (lambda name: folder / name) if folder is not None else (lambda name: None)
    card_path = Path(card) if card is not None else beside("README.md")
    record_path = Path(record) if record is not None else beside(RUN_RECORD)
    metadata = card_metadata(card_path) if card_path is not None else {}
    facts: list[str] = []
    run = _read_json(record_path)
    learnt = trained_on(run, metadata) if isinstance(run, Mapping) else None
    fitted = fitted_on(_read_json(beside(SITE_FIT_FILE))) if not learnt else None
    if learnt:
        facts.append(f"Trained on: {learnt}, by its training record ({RUN_RECORD})")
    elif fitted:
        facts.append(f"Trained on: {fitted}, by its site-fit record ({SITE_FIT_FILE})")
    else:
        facts.append(f"Trained on: not recorded (no {RUN_RECORD} or {SITE_FIT_FILE} beside the model)")
    scores = _score_facts(metadata)
    facts.extend(scores)
    if folder is not None and not scores:
        metrics = _read_json(folder / "metrics.json")
        score = metrics.get("test_icbhi_score") if isinstance(metrics, dict) else None
        if isinstance(score, (int, float)):
            facts.append(f"Test ICBHI score: {100 * score:.1f} % (metrics.json)")
    facts.append(NOT_A_MEDICAL_DEVICE)
    return facts

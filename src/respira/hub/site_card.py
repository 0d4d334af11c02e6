"""What the card of a folder ``respira fit-site`` wrote says of the fit, from the folder's own files (its
:data:`FIT_EVIDENCE` travels with it, so every card rendered from it says the same)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..labels import MULTI_LABEL_NAMES
from ..pretrained import SITE_FIT_FILE, SITE_FIT_PROTOCOL, site_verdicts
from ..pretrained.sites import site_fit_verdict
from ..utils.tables import format_percent, format_score

if TYPE_CHECKING:
    from .card_data import RespiraModelCardData

__all__ = [
    "CURVE_FIGURE",
    "CURVE_FILE",
    "FIT_EVIDENCE",
    "NESTED_CV_FILE",
    "read_site_fit",
    "set_site_fit",
    "site_fit_context",
]

NESTED_CV_FILE = "nested_cv.csv"
CURVE_FILE = "learning_curve.csv"
CURVE_FIGURE = "learning_curve.png"
FIT_EVIDENCE: tuple[str, ...] = (SITE_FIT_FILE, NESTED_CV_FILE, CURVE_FILE, CURVE_FIGURE)
"""The files a fitted folder's card is rendered from, carried wherever the folder goes."""
MIX_WORDS = {"normal": "normal", "crackle": "crackle only", "wheeze": "wheeze only", "both": "with both"}


def read_site_fit(folder: str | Path) -> dict[str, Any] | None:
    """The fit record (``site_fit.json``) of ``folder``."""
    try:
        record = json.loads((Path(folder) / SITE_FIT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "nested_cv" in record else None


def _base_model_folder(record: dict[str, Any]) -> Path | None:
    """The folder of the base model a fit record names, when it is (still) there."""
    from .loading import local_model_folder

    name = str(record.get("base_model") or "").split(" (")[0]
    try:
        folder = local_model_folder(name) if name else None
    except ValueError:
        return None
    return folder if folder is not None and (folder / "config.json").is_file() else None


def _percent(value: Any, interval: Any = None) -> str:
    text = format_percent(value, missing="–")
    pair = isinstance(interval, (list, tuple)) and len(interval) == 2
    if pair and all(isinstance(v, (int, float)) for v in interval):
        return f"{text} ({format_percent(interval[0])}–{format_percent(interval[1])})"
    return text


def site_fit_context(record: dict[str, Any] | None, base_folder: Path | None = None) -> dict[str, Any]:
    """What the template's ``site_fit`` block shows of a fit ``record`` beside the base model's verdicts
    (read from ``base_folder``, else from the base the record names)."""
    if record is None:
        return {"site_fit": None}
    verdict = site_fit_verdict(record["nested_cv"], record["dataset"])
    mix = record.get("label_mix")
    base = base_folder if base_folder is not None else _base_model_folder(record)
    verdicts = site_verdicts(base) if base is not None else []
    same_sample = [
        v
        for v in verdicts
        if v.site == record["dataset"] and v.unit == "recordings" and v.count == record["recordings"]
    ]
    rates = ("icbhi_score", "specificity", "sensitivity")
    return {
        "site_fit": record,
        "site_name": record.get("site_name") or record["dataset"],
        "site_chosen": ", ".join(
            f"{n}: `{how}`" for n, how in zip(MULTI_LABEL_NAMES, record["chosen"], strict=True)
        ),
        "site_thresholds": ", ".join(
            f"{n} {t:.3f}" for n, t in zip(MULTI_LABEL_NAMES, record["thresholds"], strict=True)
        ),
        "site_not_shown": (" nor ".join(verdict.not_shown()) if verdict is not None else "no score")
        if record["applied_anyway"] or (verdict is not None and not verdict.serves)
        else None,
        "site_claimed": "" if verdict is None else f" ({format_score(verdict.score, verdict.interval)})",
        "site_mix": ", ".join(f"{mix.get(name, 0)} {words}" for name, words in MIX_WORDS.items())
        if isinstance(mix, dict)
        else "its record does not give their label mix",
        "nested_cv_rows": [
            [str(row["candidate"]).replace("_", " ")]
            + [_percent(row.get(key), [row.get(f"{key}_low"), row.get(f"{key}_high")]) for key in rates]
            + [_percent(row.get(key)) for key in ("crackle_auc", "wheeze_auc")]
            for row in record["nested_cv"]
        ],
        "base_rows": [
            [v.site, v.protocol, f"{v.count} {v.unit}", _percent(v.score, v.interval), _percent(v.all_normal)]
            for v in verdicts
            if v not in same_sample
        ],
        "base_same_sample": bool(same_sample),
        "fit_files": {"nested_cv": NESTED_CV_FILE, "curve": CURVE_FILE, "figure": CURVE_FIGURE},
    }


def set_site_fit(card: RespiraModelCardData, folder: Path) -> None:
    """Give ``card`` the fit ``folder`` claims (its ``site_fit.json`` among its site verdicts): the title
    names the site, the thresholds are said to be fit-site's, the encoder the base model's."""
    record = read_site_fit(folder)
    if record is None or not any(v.protocol == SITE_FIT_PROTOCOL for v in card.site_verdicts):
        return
    card.site_fit = record
    card.hyperparameters["threshold_source"] = "site_fit"
    site = record.get("site_name") or record.get("dataset")
    card.model_name = f"{card.get_model_name()}, fitted to the site {site}"

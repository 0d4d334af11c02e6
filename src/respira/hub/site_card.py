"""What the card of a folder ``respira fit-site`` wrote says of the fit, from the folder's own files.

The fit's evidence (:data:`FIT_EVIDENCE`) travels with the folder, so every card rendered from it by
:func:`site_card_section` says the same; the base model's verdicts are quoted from its folder when
:func:`base_model_folder` finds it.
"""

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
    "add_site_section",
    "base_model_folder",
    "read_site_fit",
    "set_site_fit",
    "site_card_section",
]

NESTED_CV_FILE = "nested_cv.csv"
CURVE_FILE = "learning_curve.csv"
CURVE_FIGURE = "learning_curve.png"
FIT_EVIDENCE: tuple[str, ...] = (SITE_FIT_FILE, NESTED_CV_FILE, CURVE_FILE, CURVE_FIGURE)
"""The files a fitted folder's card is rendered from, carried wherever the folder goes."""


def read_site_fit(folder: str | Path) -> dict[str, Any] | None:
    """The fit record (``site_fit.json``) of ``folder``."""
    try:
        record = json.loads((Path(folder) / SITE_FIT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "nested_cv" in record else None


def base_model_folder(record: dict[str, Any]) -> Path | None:
    """The folder of the base model a fit record names (a shipped detector's name, or the folder as the
    fit was given it, when it is still there); ``None`` when it cannot be found."""
    from .loading import local_model_folder

    name = str(record.get("base_model") or "").split(" (")[0]
    try:
        folder = local_model_folder(name) if name else None
    except ValueError:
        return None
    return folder if folder is not None and (folder / "config.json").is_file() else None


def _percent(value: Any) -> str:
    return format_percent(value, missing="–")


def _interval(value: Any) -> str:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
    ):
        return f" ({_percent(value[0])}–{_percent(value[1])})"
    return ""


def site_card_section(folder: str | Path, *, base_folder: Path | None = None) -> str:
    """The card's section on the site fit, rendered from :data:`SITE_FIT_FILE` in ``folder`` alone, and the
    base model's site verdicts (read from ``base_folder``'s evaluation files, else from the base the record
    names: :func:`base_model_folder`), said to be the base's."""
    record = read_site_fit(folder)
    if record is None:
        raise ValueError(f"{Path(folder) / SITE_FIT_FILE} is not respira fit-site's record")
    units = record["units"]
    unit_words = (
        f"{units} patients"
        if record["units_are_patients"]
        else f"{units} recordings, each its own unit "
        "(the sample names no patient: two recordings of one person count as independent)"
    )
    chosen = ", ".join(
        f"{name}: `{how}`" for name, how in zip(MULTI_LABEL_NAMES, record["chosen"], strict=True)
    )
    thresholds = ", ".join(
        f"{name} {t:.3f}" for name, t in zip(MULTI_LABEL_NAMES, record["thresholds"], strict=True)
    )
    lines = [
        "## Fitted to a site (`respira fit-site`)",
        "",
        f"This model is `{record['base_model']}` fitted with `respira fit-site` on the labelled sample "
        f"`{record['data_dir']}` (site `{record.get('site_name') or record['dataset']}`, read as "
        f"{record['dataset']}: {record['recordings']} recordings of {unit_words}"
        + (f"; {record['left_out']} recordings too poor to judge left out" if record.get("left_out") else "")
        + f"). Per label: {chosen}; thresholds {thresholds}.",
        "",
    ]
    if record.get("recording_rule"):
        lines += [f"Recording rule: {record['recording_rule']}.", ""]
    if record.get("selection"):
        lines += [
            f"Choice rule: `{record['selection']}` (how the inner cross-validation may replace the model "
            f"as is); thresholds: `{record['threshold_rule']}` (`respira.sites.procedure`, measured in "
            "respira's BENCHMARKS.md).",
            "",
        ]
    verdict = site_fit_verdict(record["nested_cv"], record["dataset"])
    if record["applied_anyway"] or (verdict is not None and not verdict.serves):
        shown = " nor ".join(verdict.not_shown()) if verdict is not None else "no score"
        lines += [
            f"**Written with `--apply_anyway`**: out of sample it is not shown {shown} (table below).",
            "",
        ]
    lines += [
        f"Nested patient-wise cross-validation ({record['outer_folds']} outer folds; each outer fold's "
        "procedure, its inner choice included, fitted on the other units), per recording; 95 % intervals "
        f"resample units (bootstrap); the table is `{NESTED_CV_FILE}`:",
        "",
        "| procedure | ICBHI-style score (%) | specificity (%) | sensitivity (%) | crackle AUC (%) "
        "| wheeze AUC (%) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in record["nested_cv"]:
        cells = [
            _percent(row.get(key)) + _interval([row.get(f"{key}_low"), row.get(f"{key}_high")])
            for key in ("icbhi_score", "specificity", "sensitivity")
        ]
        cells += [_percent(row.get(key)) for key in ("crackle_auc", "wheeze_auc")]
        lines.append(f"| {str(row['candidate']).replace('_', ' ')} | " + " | ".join(cells) + " |")
    lines += ["", *_assumes(record, verdict)]
    lines += [
        f"![learning curve]({CURVE_FIGURE})",
        "",
        f"The learning curve (`{CURVE_FILE}`) scores the procedure fitted on a few of the sample's units on "
        "its other units: whether labelling more patients would pay.",
        "",
    ]
    lines += _base_rows(record, base_folder if base_folder is not None else base_model_folder(record))
    return "\n".join(lines)


MIX_WORDS = {"normal": "normal", "crackle": "crackle only", "wheeze": "wheeze only", "both": "with both"}
"""The record's ``label_mix`` keys, in the card's order and words."""


def _assumes(record: dict[str, Any], verdict: Any) -> list[str]:
    """What the nested cross-validation's estimate assumes (patients like the fitted ones) and how a site
    checks it on patients labelled since: ``respira evaluate`` (:mod:`respira.pretrained.site_claim`)."""
    mix = record.get("label_mix")
    mix_words = (
        ", ".join(f"{mix.get(name, 0)} {words}" for name, words in MIX_WORDS.items())
        if isinstance(mix, dict)
        else "its record does not give their label mix"
    )
    site = record.get("site_name") or record["dataset"]
    unit = "patients" if record["units_are_patients"] else "recordings"
    claimed = "" if verdict is None else f" ({format_score(verdict.score, verdict.interval)})"
    base = str(record["base_model"]).split(" (")[0]
    return [
        f"**What this estimate assumes.** The nested cross-validation scores patients *like the fitted "
        f"ones*: the {record['units']} {unit} of `{site}` it was fitted on ({record['recordings']} "
        f"recordings: {mix_words}), recorded at that site with its stethoscopes, from its population mix. "
        "Patients unlike them (another ward, device, filter mode, age or disease mix) may score lower. "
        "Check it on patients labelled since: "
        f"`respira evaluate MODEL --dataset {record['dataset']} --data_dir NEW_PATIENTS` compares their "
        f"score with this one{claimed} and says when it falls below; then refit with them: "
        f"`respira fit-site {base} --dataset {record['dataset']} --data_dir <the fitted and the new "
        "patients>`.",
        "",
    ]


def _base_rows(record: dict[str, Any], base_folder: Path | None) -> list[str]:
    """The base model's verdicts on the sites it was scored on, but the fitted sample's."""
    verdicts = site_verdicts(base_folder) if base_folder is not None else []
    same_sample = [
        v
        for v in verdicts
        if v.site == record["dataset"] and v.unit == "recordings" and v.count == record["recordings"]
    ]
    shown = [v for v in verdicts if v not in same_sample]
    if not shown:
        return []
    lines = [
        "### Where the base model serves (the base model's rows, before this site fit)",
        "",
        "| site | protocol | scored | ICBHI-style score | all-normal |",
        "| --- | --- | --- | --- | --- |",
    ]
    for verdict in shown:
        interval = _interval(list(verdict.interval)) if verdict.interval else ""
        lines.append(
            f"| {verdict.site} | {verdict.protocol} | {verdict.count} {verdict.unit} | "
            f"{_percent(verdict.score)}{interval} | {_percent(verdict.all_normal)} |"
        )
    lines += [
        "",
        "Every row above is the base model's; this folder's own numbers on the fitted site are the nested "
        "cross-validation above"
        + (
            f", whose `as is` row is the base model on these {record['recordings']} recordings."
            if same_sample
            else "."
        ),
        "",
    ]
    return lines


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


def add_site_section(card_file: Path, folder: Path, *, base_folder: Path | None = None) -> None:
    """Append :func:`site_card_section` of ``folder`` to the card saved in ``card_file``."""
    card = card_file.read_text(encoding="utf-8")
    section = site_card_section(folder, base_folder=base_folder)
    card_file.write_text(card.rstrip() + "\n\n" + section, encoding="utf-8")

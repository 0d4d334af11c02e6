"""The folder ``respira fit-site`` writes, in one home: its files' names; its record (``site_fit.json``) and
its config's ``calibration`` entry, written, read and matched; its verdict from the nested cross-validation
(its claim checked on new patients: :mod:`.site_claim`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..models.respira.decision import thresholds_of
from ..utils.files import read_json_object, write_json_atomic, write_text_atomic
from .site_verdict import (
    LABELS,
    SITE_FIT_PROTOCOL,
    LabelServe,
    SiteVerdict,
    label_aucs,
    number_or_none,
    number_pair,
)

SITE_FIT_FILE = "site_fit.json"
"""What ``respira fit-site`` records of its fit in the folder it writes (sample, choice, nested CV)."""
NESTED_CV_FILE = "nested_cv.csv"
CURVE_FILE = "learning_curve.csv"
CURVE_FIGURE = "learning_curve.png"
FIT_EVIDENCE: tuple[str, ...] = (SITE_FIT_FILE, NESTED_CV_FILE, CURVE_FILE, CURVE_FIGURE)
"""The files a fitted folder's card is rendered from, carried wherever the folder goes."""


CALIBRATION_KEYS: tuple[str, ...] = (
    *("procedure", "dataset", "site_name", "data_dir", "units", "units_are_patients", "recordings"),
    *("chosen", "thresholds", "applied_anyway"),
)
"""What the fitted model's config records of its fit (``calibration``), matched by :func:`not_this_fit`."""


def write_fit_record(folder: Path, record: Mapping[str, Any], curve: Sequence[Mapping[str, Any]]) -> None:
    """Write ``record``, its nested cross-validation rows and the learning ``curve`` (CSV) into ``folder``."""
    write_json_atomic(folder / SITE_FIT_FILE, dict(record))
    write_text_atomic(folder / NESTED_CV_FILE, _csv_text(record["nested_cv"]))
    write_text_atomic(folder / CURVE_FILE, _csv_text(curve))


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows([{key: _cell(row.get(key)) for key in columns} for row in rows])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return json.dumps([_cell(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def read_site_fit(folder: str | Path) -> dict[str, Any] | None:
    """The fit record (:data:`SITE_FIT_FILE`) of ``folder``; ``None`` where it has none."""
    record = read_json_object(Path(folder) / SITE_FIT_FILE)
    return record if record is not None and "nested_cv" in record else None


def fitted_on(record: Any) -> str | None:
    """``icbhi-crackle-wheeze, fitted to kauh (56 patients)``; ``None`` for anything not a fit record."""
    if not isinstance(record, Mapping):
        return None
    try:
        base = str(record["base_model"]).split(" (")[0]
        units = "patients" if record["units_are_patients"] else "recordings"
        site = record.get("site_name") or record["dataset"]
        return f"{base}, fitted to {site} ({record['units']} {units})"
    except (KeyError, TypeError):
        return None


def not_this_fit(folder: Path, record: Mapping[str, Any]) -> str:
    """Why ``record`` is not the fit of this folder's model ("" when it is)."""
    config = read_json_object(folder / "config.json") or {}
    fitted = config.get("calibration")
    if not isinstance(fitted, Mapping) or fitted.get("procedure") != record.get("procedure"):
        return "the folder's config records no site fit"
    same = all(fitted.get(key) == record.get(key) for key in ("dataset", "site_name", "chosen", "thresholds"))
    thresholds = [round(float(t), 6) for t in record.get("thresholds") or []]
    if not same or [round(float(t), 6) for t in thresholds_of(config)] != thresholds:
        return f"the folder's config records another fit (site, choice or thresholds) than {SITE_FIT_FILE}"
    return ""


def candidate_row(rows: Iterable[Mapping[str, Any]], candidate: str) -> Mapping[str, Any]:
    """The row of ``candidate`` (``chosen``, ``as_is``...) in a site fit's nested cross-validation."""
    for row in rows:
        if row["candidate"] == candidate:
            return row
    raise KeyError(f"no nested cross-validation row for {candidate!r}")


def site_fit_verdict(
    rows: Any,
    site: str,
    *,
    name: str = "",
    count: int | None = None,
    not_measurable: Mapping[str, str] | None = None,
    labels: Any = None,
    chosen_pair: Any = None,
) -> SiteVerdict | None:
    """The verdict of a site fit from its ``nested_cv`` rows (``None`` when they lack a score); ``labels``:
    the record's per-label verdicts (:func:`labels_json`), else read from ``chosen_pair`` (an older
    record's ``chosen``)."""
    by_name = {row.get("candidate"): row for row in rows or [] if isinstance(row, Mapping)}
    chosen, normal = by_name.get("chosen") or {}, by_name.get("all_normal") or {}
    score, baseline = number_or_none(chosen.get("icbhi_score")), number_or_none(normal.get("icbhi_score"))
    as_is = number_or_none((by_name.get("as_is") or {}).get("icbhi_score"))
    if score is None or baseline is None:
        return None

    def interval(key: str) -> tuple[float, float] | None:
        return number_pair([chosen.get(f"{key}_low"), chosen.get(f"{key}_high")])

    gain_value = number_or_none(chosen.get("gain_over_as_is"))
    gain = None if gain_value is None else (gain_value, interval("gain_over_as_is"))
    aucs = label_aucs({label: (chosen.get(f"{label}_auc"), interval(f"{label}_auc")) for label in LABELS})
    count = int(chosen.get("scored_recordings") or count or 0)
    alone = _not_measurable(not_measurable)
    return SiteVerdict(
        site, SITE_FIT_PROTOCOL, "recordings", count, score, interval("icbhi_score"), baseline, aucs,
        name=name, as_is=as_is, gain=gain, not_measurable=alone,
        labels=read_labels(labels, chosen_pair, aucs, dict(alone)),
    )  # fmt: skip


LABEL_KEYS: tuple[str, ...] = (
    "candidate",
    "served",
    "gain",
    "gain_low",
    "gain_high",
    "auc",
    "auc_low",
    "auc_high",
)
"""What ``site_fit.json``'s ``labels`` holds per label, with ``why`` (:func:`labels_json`)."""


def labels_json(labels: Sequence[LabelServe]) -> dict[str, dict[str, Any]]:
    """``site_fit.json``'s ``labels``: per label what the fit uses, whether it is served, its evidence."""
    found = {}
    for label in labels:
        gain, auc = label.gain_interval or (None, None), label.auc_interval or (None, None)
        values = (label.candidate, label.served, label.gain, *gain, label.auc, *auc)
        found[label.label] = {**dict(zip(LABEL_KEYS, values, strict=True)), "why": label.why}
    return found


def read_labels(
    labels: Any, chosen: Any, aucs: Sequence[Any], alone: Mapping[str, str]
) -> tuple[LabelServe, ...]:
    """A record's per-label verdicts; an older record without ``labels`` judged per label by the whole
    model's gain and each label's AUC (said so); none where neither can be read."""
    if isinstance(labels, Mapping):
        found = []
        for label in LABELS:
            entry = labels.get(label)
            if not isinstance(entry, Mapping) or not isinstance(entry.get("candidate"), str):
                return ()
            found.append(
                LabelServe(
                    label,
                    entry["candidate"],
                    number_or_none(entry.get("gain")),
                    number_pair([entry.get("gain_low"), entry.get("gain_high")]),
                    number_or_none(entry.get("auc")),
                    number_pair([entry.get("auc_low"), entry.get("auc_high")]),
                    why=str(entry.get("why") or ""),
                )
            )
        return tuple(found)
    if not isinstance(chosen, (list, tuple)) or len(chosen) != len(LABELS):
        return ()
    by_label = {auc.label: auc for auc in aucs}
    return tuple(
        LabelServe(
            label,
            str(how),
            auc=getattr(by_label.get(label), "auc", None),
            auc_interval=getattr(by_label.get(label), "interval", None),
            why=alone.get(label, ""),
            whole=True,
        )
        for label, how in zip(LABELS, chosen, strict=True)
    )


def _not_measurable(labels: Any) -> tuple[tuple[str, str], ...]:
    """A record's ``not_measurable`` (label to why) as pairs, in label order; none where it holds none."""
    if not isinstance(labels, Mapping):
        return ()
    return tuple((label, str(labels[label])) for label in LABELS if isinstance(labels.get(label), str))


def fit_verdict(record: Mapping[str, Any]) -> SiteVerdict | None:
    """The verdict of a fit record (``site_fit.json``)."""
    site = record.get("dataset")
    if not isinstance(site, str):
        return None
    name, count = record.get("site_name"), record.get("recordings")
    return site_fit_verdict(
        record.get("nested_cv"), site, name=name if isinstance(name, str) else "",
        count=count if isinstance(count, int) else None, not_measurable=record.get("not_measurable"),
        labels=record.get("labels"), chosen_pair=record.get("chosen"),
    )  # fmt: skip

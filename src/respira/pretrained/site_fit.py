"""The files of a folder ``respira fit-site`` wrote: their names, and its fit record (``site_fit.json``)
written, read and matched against the folder's config.
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

SITE_FIT_FILE = "site_fit.json"
"""What ``respira fit-site`` records of its fit in the folder it writes (sample, choice, nested CV)."""
NESTED_CV_FILE = "nested_cv.csv"
CURVE_FILE = "learning_curve.csv"
CURVE_FIGURE = "learning_curve.png"
FIT_EVIDENCE: tuple[str, ...] = (SITE_FIT_FILE, NESTED_CV_FILE, CURVE_FILE, CURVE_FIGURE)
"""The files a fitted folder's card is rendered from, carried wherever the folder goes."""


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

"""The folder ``respira fit-site`` writes, in one home: its files' names; its record (:class:`SiteFitRecord`,
``site_fit.json``, checked field by field when read: :class:`SiteFitRecordError`) and its config's
``calibration`` entry, written, read and matched; its verdict from the nested cross-validation (its claim
checked on new patients: :mod:`.site_claim`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.respira.decision import thresholds_of
from ..utils.files import read_json_object, write_json_atomic, write_text_atomic
from .run import convert_json, json_type, read_record
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


class SiteFitRecordError(ValueError):
    """A ``site_fit.json`` is not a valid fit record; the one-line message names the file."""


@dataclass(frozen=True)
class LabelRecord:
    """One label of ``site_fit.json``'s ``labels``: what the fit uses for it, whether it is served, and the
    nested cross-validation's evidence (:class:`~.site_verdict.LabelServe` as written)."""

    candidate: str
    served: bool
    gain: float | None
    gain_low: float | None
    gain_high: float | None
    auc: float | None
    auc_low: float | None
    auc_high: float | None
    why: str = ""
    given: bool = False
    """Fitted because a study chose the procedure (``fit-site --chosen_by``); written only when true."""

    @classmethod
    def of(cls, label: LabelServe) -> LabelRecord:
        """How ``label`` is written."""
        gain, auc = label.gain_interval or (None, None), label.auc_interval or (None, None)
        values = (label.candidate, label.served, label.gain, *gain, label.auc, *auc)
        return cls(*values, why=label.why, given=label.given)

    def serve(self, label: str) -> LabelServe:
        """The verdict of ``label`` this entry records."""
        return LabelServe(
            label,
            self.candidate,
            number_or_none(self.gain),
            number_pair([self.gain_low, self.gain_high]),
            number_or_none(self.auc),
            number_pair([self.auc_low, self.auc_high]),
            why=self.why,
            given=self.given,
        )


@dataclass(frozen=True)
class SiteFitRecord:
    """What ``respira fit-site`` records of a fit (``site_fit.json``): its sample, the procedure asked for,
    what it chose and how the nested cross-validation scored it. A field added later comes last (before
    :attr:`absent`) with a default (``None``): an older record reads it as that default and is written
    back without it."""

    procedure: str
    base_model: str
    """The model it fitted, as named (the shipped detector: ``icbhi-crackle-wheeze (respira's ...)``)."""
    dataset: str
    """The corpus reader the fit read its site with (``kauh``, ``sprsound``, ``labelled``)."""
    data_dir: str | list[str]
    """The site's folder, or its folders (``--data_dir A B``)."""
    units: int
    units_are_patients: bool
    recordings: int
    left_out: int
    """Recordings marked too poor to judge, left out."""
    windows: int
    audio_seconds: float
    candidates: list[str]
    outer_folds: int
    seed: int
    chosen: list[str]
    """Per label (crackle, wheeze), the candidate the fit on every unit chose."""
    thresholds: list[float]
    base_thresholds: list[float]
    applies: bool
    applied_anyway: bool
    nested_cv: list[dict[str, Any]]
    """The rows of ``nested_cv.csv``: per candidate, chosen and all-normal, the scores with intervals."""
    fit: dict[str, Any]
    """The fit itself (``respira.sites.out_of_sample.SiteFit.to_json``: heads, folds, choices)."""
    site_name: str | None = None
    """The site as the fit named it (``None``: a record from before sites were named)."""
    selection: str | None = None
    threshold_rule: str | None = None
    recording_aggregation: str | None = None
    recording_top_k: int | None = None
    recording_rule: str | None = None
    """The recording rule the fit chose, in words."""
    label_mix: dict[str, int] | None = None
    """Recordings per class (normal, crackle, wheeze, both)."""
    fitted_units: list[str] | None = None
    """The units it was fitted on."""
    not_measurable: dict[str, str] | None = None
    """The labels its recordings could not measure, with why (left as the base model has them)."""
    labels: dict[str, LabelRecord] | None = None
    """Per label, what the fit uses and whether it is served (``None``: before the per-label rule)."""
    seconds: dict[str, float] | None = None
    """Wall time of its stages (``embedding``, ``fitting``; a shipped folder's build leaves them out)."""
    chosen_by: dict[str, str] | None = None
    """The study that chose the procedure (``fit-site --chosen_by``: its file, SHA-256 and procedure)."""
    absent: tuple[str, ...] = dataclasses.field(default=(), repr=False, compare=False)
    """The later fields its file was written without, left out again when it is written back."""

    @property
    def site(self) -> str:
        """The site as the fit named it, else (an older record) its corpus."""
        return self.site_name or self.dataset

    def fitted_on(self) -> str:
        """``icbhi-crackle-wheeze, fitted to kauh (56 patients)``; a build's head (issue 83), whose base is no
        model a user has by name: ``its head fitted to icbhi (65 patients) as choose_detector.json chose``."""
        units = "patients" if self.units_are_patients else "recordings"
        fitted = f"fitted to {self.site} ({self.units} {units})"
        if self.chosen_by:
            return f"its head {fitted} as {self.chosen_by['file']} chose"
        return f"{self.base_model.split(' (')[0]}, {fitted}"

    def calibration(self) -> dict[str, Any]:
        """What the fitted model's config records of this fit (:data:`CALIBRATION_KEYS`)."""
        return {key: getattr(self, key) for key in CALIBRATION_KEYS}

    def verdict(self) -> SiteVerdict | None:
        """The fit's verdict (``None`` when its nested cross-validation lacks a score)."""
        return site_fit_verdict(
            self.nested_cv, self.dataset, name=self.site_name or "", count=self.recordings,
            not_measurable=self.not_measurable, labels=self.labels, chosen_pair=self.chosen,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The record as ``site_fit.json`` holds it."""
        data = dataclasses.asdict(self)
        for label in (data["labels"] or {}).values():
            if not label["given"]:
                del label["given"]
        return {key: data[key] for key in data if key != "absent" and key not in self.absent}

    @classmethod
    def from_json(cls, data: Any) -> SiteFitRecord:
        """Check ``data`` (parsed JSON) against the record's fields; ``ValueError`` naming the bad one."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {json_type(data)}")
        if "absent" in data:
            raise ValueError("unknown key 'absent'")
        absent = tuple(field.name for field in dataclasses.fields(cls) if field.name not in {*data, "absent"})
        record = dataclasses.replace(convert_json(data, cls), absent=absent)
        if record.procedure != "fit-site":
            raise ValueError(f"procedure should be 'fit-site', got {record.procedure!r}")
        for key in ("chosen", "thresholds", "base_thresholds"):
            if len(getattr(record, key)) != len(LABELS):
                raise ValueError(f"{key} should hold one value per label ({', '.join(LABELS)})")
        return record

    def save(self, folder: str | Path, curve: Sequence[Mapping[str, Any]] = ()) -> Path:
        """Write the record, its nested cross-validation rows and the learning ``curve`` (CSV) into
        ``folder``; return the record's path."""
        path = write_json_atomic(Path(folder) / SITE_FIT_FILE, self.to_json())
        write_text_atomic(Path(folder) / NESTED_CV_FILE, _csv_text(self.nested_cv))
        write_text_atomic(Path(folder) / CURVE_FILE, _csv_text(curve))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> SiteFitRecord:
        """Read ``folder``'s record; :class:`SiteFitRecordError` (one line naming the file) when invalid."""
        path = Path(folder) / SITE_FIT_FILE
        what, where = "a valid respira fit-site record", "a folder respira fit-site wrote"
        return read_record(path, cls.from_json, SiteFitRecordError, what, where)

    @classmethod
    def load_if_present(cls, folder: str | Path) -> SiteFitRecord | None:
        """:meth:`load`, or ``None`` when ``folder`` has no ``site_fit.json``."""
        return cls.load(folder) if (Path(folder) / SITE_FIT_FILE).is_file() else None


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


def not_this_fit(folder: Path, record: SiteFitRecord) -> str:
    """Why ``record`` is not the fit of this folder's model ("" when it is)."""
    config = read_json_object(folder / "config.json") or {}
    fitted = config.get("calibration")
    if not isinstance(fitted, Mapping) or fitted.get("procedure") != record.procedure:
        return "the folder's config records no site fit"
    keys = ("dataset", "site_name", "chosen", "thresholds")
    same = all(fitted.get(key) == getattr(record, key) for key in keys)
    thresholds = [round(float(t), 6) for t in record.thresholds]
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
    labels: Mapping[str, LabelRecord] | None = None,
    chosen_pair: Sequence[str] | None = None,
) -> SiteVerdict | None:
    """The verdict of a site fit from its ``nested_cv`` rows (``None`` when they lack a score); ``labels``:
    the record's per-label verdicts (:attr:`SiteFitRecord.labels`), else read from ``chosen_pair`` (an
    older record's ``chosen``)."""
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


def read_labels(
    labels: Mapping[str, LabelRecord] | None,
    chosen: Sequence[str] | None,
    aucs: Sequence[Any],
    alone: Mapping[str, str],
) -> tuple[LabelServe, ...]:
    """A record's per-label verdicts; an older record without ``labels`` judged per label by the whole
    model's gain and each label's AUC (said so); none where neither can be read."""
    if labels is not None:
        return tuple(labels[label].serve(label) for label in LABELS) if set(LABELS) <= set(labels) else ()
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


def _not_measurable(labels: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """A record's ``not_measurable`` (label to why) as pairs, in label order; none where it holds none."""
    if labels is None:
        return ()
    return tuple((label, str(labels[label])) for label in LABELS if isinstance(labels.get(label), str))

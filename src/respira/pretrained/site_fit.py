"""The folder ``respira fit-site`` writes, in one home: its files' names; its record (``site_fit.json``) and
its config's ``calibration`` entry, written, read and matched; its verdict from the nested cross-validation;
and its claim checked on newly labelled patients of its site (:data:`OUTSIDE_RULE` and :data:`AGREE_RULE`,
MOVER: Zou & Donner 2008; scored on the units it was not fitted on, else ``not_compared``, saying why).
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.respira.decision import thresholds_of
from ..utils.files import read_json_object, write_json_atomic, write_text_atomic
from ..utils.tables import format_percent, format_score
from .site_verdict import (
    LABELS,
    SITE_FIT_PROTOCOL,
    LabelServe,
    SiteVerdict,
    format_gain,
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
        fitted = f"fitted to {site} ({record['units']} {units})"
        if record.get("chosen_by"):  # a build's head (issue 83): its base is no model a user has by name
            return f"its head {fitted} as {record['chosen_by']['file']} chose"
        return f"{base}, {fitted}"
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
        if label.given:
            found[label.label]["given"] = True
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
                    given=entry.get("given") is True,
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


OUTSIDE_RULE = (
    "outside when the 95 % interval of (new score - claimed score) lies wholly below or above 0 "
    "(MOVER from the two patient-bootstrap intervals of disjoint patients)"
)
AGREE_RULE = (  # the claim's width, not its half-width, which no number of new patients could meet
    "agrees when that interval reaches 0 and its lower end lies above minus the width of the claim's "
    "95 % interval (the card's own margin); else not shown to differ"
)


def difference_interval(
    new: float, new_interval: tuple[float, float], claim: float, claim_interval: tuple[float, float]
) -> tuple[float, float]:
    """The 95 % interval of ``new − claim`` for two independent estimates (MOVER)."""
    difference = new - claim
    low = difference - math.hypot(new - new_interval[0], claim_interval[1] - claim)
    high = difference + math.hypot(new_interval[1] - new, claim - claim_interval[0])
    return low, high


@dataclass(frozen=True)
class SiteClaim:
    """What a fitted folder's card claims of its site, from its recorded ``site_fit.json``."""

    dataset: str
    """The corpus reader the fit read its site with (``kauh``, ``sprsound``, ``labelled``)."""
    name: str
    """The site as the fit named it."""
    score: float
    interval: tuple[float, float] | None
    units: int
    units_are_patients: bool
    recordings: int
    base_model: str
    aggregation: tuple[str, int | None]
    """The recording rule the fit chose (``recording_aggregation``, ``recording_top_k``)."""
    fitted_units: frozenset[str] | None = None
    """The units it was fitted on (``site_fit.json``'s ``fitted_units``; ``None``: an older record)."""

    @classmethod
    def of_record(cls, record: Mapping[str, Any] | None) -> SiteClaim | None:
        """The claim of a fit record (``None``: none, or one without a score)."""
        verdict = None if record is None else fit_verdict(record)
        if verdict is None or record is None:
            return None
        top_k = record.get("recording_top_k")
        return cls(
            dataset=verdict.site,
            name=verdict.name or verdict.site,
            score=verdict.score,
            interval=verdict.interval,
            units=int(record["units"]),
            units_are_patients=bool(record["units_are_patients"]),
            recordings=int(record["recordings"]),
            base_model=str(record.get("base_model") or "").split(" (")[0],
            aggregation=(str(record.get("recording_aggregation") or "max"), top_k),
            fitted_units=None if record.get("fitted_units") is None else frozenset(record["fitted_units"]),
        )

    @property
    def unit_words(self) -> str:
        """``56 patients`` (or ``12 recordings``, where the fit's sample named no patient)."""
        return f"{self.units} {'patients' if self.units_are_patients else 'recordings'}"

    def unit_keys(self, dataset: Any) -> list[str] | None:
        """Each recording's unit in :attr:`fitted_units`' terms (``None``: cannot be told)."""
        if self.fitted_units is None:
            return None
        if not self.units_are_patients:
            return [posixpath.normpath(str(name)) for name in dataset["recording"]]
        if "patient" in dataset.column_names:  # a labelled folder: its own patient cells
            named = list(dataset["patient"])
            return None if any(name is None for name in named) else [str(name) for name in named]
        return [str(patient) for patient in dataset["patient_id"]]

    def check(
        self, icbhi: Mapping[str, Any], *, blocker: str = "", left_out: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        """``metrics.json``'s ``site_claim``: the new recordings' ``icbhi`` scores against this claim.
        ``blocker``: why the two do not measure the same thing; ``left_out``: the fitted units left out."""
        if left_out is not None and not left_out["new_units"] and not blocker:
            blocker = (
                f"all {left_out['units']} {self._unit_name} ({left_out['recordings']} recordings) are among "
                f"the {self.unit_words} it was fitted on: none is new to it"
            )
        score = number_or_none(icbhi.get("icbhi_score"))
        found = (icbhi.get("ci") or {}).get("icbhi_score") or [None, None]
        interval = tuple(number_or_none(end) for end in found)
        normal, abnormal = int(icbhi.get("normal_recordings", 0)), int(icbhi.get("abnormal_recordings", 0))
        if not blocker and not (normal and abnormal):
            blocker = f"{normal} normal and {abnormal} abnormal recordings: the score is one side alone"
        if not blocker and (score is None or self.interval is None or None in interval):
            blocker = "a score or its interval is missing"
        result: dict[str, Any] = {
            "site": self.name,
            "dataset": self.dataset,
            "claimed": {
                "icbhi_score": self.score,
                "ci": list(self.interval) if self.interval else None,
                "units": self.units,
                "units_are_patients": self.units_are_patients,
                "recordings": self.recordings,
                "source": f"{SITE_FIT_FILE}: nested cross-validation, chosen procedure",
            },
            "icbhi_score": score,
            "ci": list(interval),
            "rule": OUTSIDE_RULE,
            "agree_rule": AGREE_RULE,
            "new_patients": self.fitted_words(left_out),
            "left_out_fitted": None if left_out is None else dict(left_out),
            "verdict": "not_compared",
            "reason": blocker,
            "difference": None,
            "difference_ci": None,
        }
        if blocker:
            return result
        low, high = difference_interval(score, interval, self.score, self.interval)  # type: ignore[arg-type]
        margin = self.interval[1] - self.interval[0]  # type: ignore[index]
        verdict = "below" if high < 0 else "above" if low > 0 else "agrees" if low > -margin else "not_shown"
        return result | {
            "verdict": verdict,
            "difference": score - self.score,  # type: ignore[operator]
            "difference_ci": [low, high],
            "margin": margin,
        }

    @property
    def _unit_name(self) -> str:
        return "patients" if self.units_are_patients else "recordings"

    def fitted_words(self, left_out: Mapping[str, int] | None) -> str:
        """What the check says of the units it was fitted on (``new_patients``)."""
        if left_out is None:
            why = "these recordings name no patient"
            if self.fitted_units is None:
                why = f"{SITE_FIT_FILE} does not list them"
            return f"assuming none of them was among the {self.unit_words} it was fitted on: {why}"
        if not left_out["units"]:
            return f"none of them among the {self.unit_words} it was fitted on"
        return (
            f"scored on the {left_out['new_units']} new {self._unit_name}: the {left_out['units']} "
            f"{self._unit_name} ({left_out['recordings']} recordings) it was fitted on left out"
        )


def claim_line(check: Mapping[str, Any], claim: SiteClaim) -> str:
    """What ``respira evaluate`` prints of :meth:`SiteClaim.check`: one line, plainly."""
    claimed = f"what its card claims on {claim.name} ({format_score(claim.score, claim.interval)})"
    left_out = check.get("left_out_fitted") or {}
    fitted = f" ({check['new_patients']})"
    if check["verdict"] == "not_compared":
        some = left_out.get("units") and left_out.get("new_units")
        return f"not compared with {claimed}: {check['reason']}" + (fitted if some else "")
    new = f"these patients score {format_score(check['icbhi_score'], check['ci'])}"
    difference = f"difference {format_gain(check['difference'], tuple(check['difference_ci']))}"
    if check["verdict"] == "below":  # refit the base model on the fitted patients and these
        site = f" --site_name {claim.name}" if claim.name != claim.dataset else ""
        data = "<its labelled sample and these patients>"
        refit = f"respira fit-site {claim.base_model} --dataset {claim.dataset} --data_dir {data}{site}"
        return (
            f"drift: {new}, below {claimed}; {difference}: these patients differ from those it was "
            f"fitted on — refit with them: {refit}{fitted}"
        )
    if check["verdict"] == "above":
        return f"{new}, above {claimed}; {difference}{fitted}"
    if check["verdict"] == "not_shown":
        low, high = check["difference_ci"]
        return (
            f"{new}, not shown to differ ({format_gain(low)} to {format_gain(high)}) from {claimed}: the "
            f"{difference} reaches both 0 and a drop larger than the card's own margin "
            f"({format_percent(check['margin'])}); too few new patients to tell{fitted}"
        )
    return (
        f"{new}, which agrees with {claimed}; {difference}, its interval reaches 0 and no drop larger than "
        f"the card's own margin ({format_percent(check['margin'])}){fitted}"
    )

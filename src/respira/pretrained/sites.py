"""What a model folder claims about the sites it was scored on, and the one rule for "it serves a site".

A folder's claims are its *recorded* evaluations (:func:`recorded_evaluations`, :func:`why_not_claimed`):
in a folder built by ``make detector`` or ``make site-detectors`` (it has ``build_record.json``), the
evaluation files that record lists with their SHA-256, and no other; in any other model folder, the
``evaluation_*`` folders ``respira evaluate --record`` wrote there (a plain ``respira evaluate`` writes
outside the model folder) while they are of this model: its weights (by SHA-256) and thresholds, not
adapted, on a corpus it was not trained on; and the ``site_fit.json`` of ``respira fit-site`` while the
folder's config still records that fit (its site, choice and thresholds). A file added later, changed
since, or of another model is no claim of the folder.

:func:`site_verdicts` reads them back: per site, its score with its 95 % interval, the all-normal baseline
of the same samples and each label's AUC with its interval. A site is *served* only when the interval's
lower end lies above all-normal; a label whose AUC interval reaches 0.5 (chance) is *not detected* there.
A fitted site's verdict is fit-site's own nested
cross-validation of the chosen procedure, per recording (protocol :data:`SITE_FIT_PROTOCOL`).
The card's table, ``respira predict``'s line (:func:`sites_line`), the README table and the app say it
from these verdicts.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.decision import thresholds_of
from ..labels import MULTI_LABEL_NAMES
from ..utils.tables import format_percent, format_score

__all__ = [
    "BUILD_RECORD",
    "CROSS_VALIDATION_FOLDER",
    "SITE_FIT_FILE",
    "SITE_FIT_PROTOCOL",
    "LabelAuc",
    "SiteVerdict",
    "evaluation_digests",
    "number_or_none",
    "recorded_evaluations",
    "site_verdicts",
    "sites_line",
    "why_not_claimed",
]

CROSS_VALIDATION_FOLDER = "evaluation_cross_validation"
"""Where a model folder keeps the ``metrics.json`` of its recipe's patient-wise cross-validation."""
BUILD_RECORD = "build_record.json"
"""The record ``make detector`` writes into the folder it builds (inputs, versions, its evaluations)."""
SITE_FIT_FILE = "site_fit.json"
"""What ``respira fit-site`` records of its fit in the folder it writes (sample, choice, nested CV)."""
SITE_FIT_PROTOCOL = "fitted here, nested cross-validation"
"""The protocol of a site a model was fitted to by ``respira fit-site``: scored out of sample by nested
patient-wise cross-validation of the whole procedure."""
ALL_NORMAL = "baseline_all_normal_icbhi_score"
CHANCE = 0.5
LABELS = MULTI_LABEL_NAMES


@dataclass(frozen=True)
class LabelAuc:
    """One label's threshold-free ranking on a site: its AUC and 95 % interval (``None``: none recorded)."""

    label: str
    auc: float
    interval: tuple[float, float] | None

    @property
    def detected(self) -> bool | None:
        """Its AUC interval lies above chance (``None`` without an interval: not known)."""
        return None if self.interval is None else self.interval[0] > CHANCE


@dataclass(frozen=True)
class SiteVerdict:
    """How the detector scored on one site, against the all-normal baseline of the same samples."""

    site: str
    """``icbhi``, ``kauh`` or ``sprsound``."""
    protocol: str
    """``in domain`` (new patients of a site it learnt from), ``held out`` (a site it never heard) or
    :data:`SITE_FIT_PROTOCOL` (the site ``respira fit-site`` fitted it to)."""
    unit: str
    """What was scored: cycles, recordings or events."""
    count: int
    score: float
    interval: tuple[float, float] | None
    all_normal: float
    aucs: tuple[LabelAuc, ...] = ()

    @property
    def serves(self) -> bool:
        """It is shown to beat all-normal on this site: its 95 % interval's lower end lies above it."""
        return self.interval is not None and self.interval[0] > self.all_normal

    @property
    def not_detected(self) -> tuple[LabelAuc, ...]:
        """The labels whose AUC interval reaches chance (0.5) on this site."""
        return tuple(auc for auc in self.aucs if auc.detected is False)

    def described(self) -> str:
        """``kauh recordings (held out: 52.4 [45.9, 58.2] vs all-normal 50.0)``."""
        return (
            f"{self.site} {self.unit} ({self.protocol}: {format_score(self.score, self.interval)} "
            f"vs all-normal {format_percent(self.all_normal)})"
        )


def number_or_none(value: Any) -> float | None:
    """A JSON value read as a float, ``None`` when it is not a number (a bool, a string, missing) or NaN:
    how every reader of a folder's evaluation files takes its scores."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _pair(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    low, high = (number_or_none(end) for end in value)
    return None if low is None or high is None else (low, high)


def _read(path: Path) -> Mapping[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, Mapping) else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evaluation_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that may be claims: ``evaluation_*/**/metrics.json``, ``site_fit.json``."""
    found = sorted(folder.glob("evaluation_*/**/metrics.json"))
    return [*found, folder / SITE_FIT_FILE] if (folder / SITE_FIT_FILE).is_file() else found


def evaluation_digests(folder: str | Path) -> dict[str, str]:
    """SHA-256 of every ``evaluation_*/**/metrics.json`` (and ``site_fit.json``) of ``folder`` by relative
    path (what a build records in ``build_record.json``'s ``evaluations``)."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): _sha256(path) for path in _evaluation_files(folder)}


def _of_this_fit(folder: Path, record: Mapping[str, Any]) -> str:
    """Why ``site_fit.json`` is not the fit of this folder's model ("" when it is): its config records
    another fit (site, choice or thresholds) or none."""
    config = _read(folder / "config.json") or {}
    fitted = config.get("calibration")
    if not isinstance(fitted, Mapping) or fitted.get("procedure") != record.get("procedure"):
        return "the folder's config records no site fit"
    same = all(fitted.get(key) == record.get(key) for key in ("dataset", "chosen", "thresholds"))
    thresholds = [round(float(t), 6) for t in record.get("thresholds") or []]
    if not same or [round(float(t), 6) for t in thresholds_of(config)] != thresholds:
        return "the folder's config records another fit (site, choice or thresholds) than site_fit.json"
    return ""


def _of_this_model(folder: Path, corpus: str, metrics: Mapping[str, Any]) -> str:
    """Why ``metrics`` (an evaluation in ``folder``) is not this model's out-of-sample result ("" when it
    is): other weights, none recorded, the model adapted first, other thresholds, a corpus it learnt."""
    again = "run respira evaluate --record again to claim it"
    record = _read(folder / "respira_run.json") or {}
    corpora = [
        c.get("name") for c in (record.get("data") or {}).get("corpora") or [] if isinstance(c, Mapping)
    ]
    if corpus in (corpora or ["icbhi"]):
        return "it scores recordings of a corpus this model was trained on: not an external validation"
    scored = metrics.get("model")
    if not isinstance(scored, Mapping) or not scored.get("weights_sha256"):
        return f"it does not record which weights it scored; {again}"
    weights = folder / "model.safetensors"
    if not weights.is_file() or scored["weights_sha256"] != _sha256(weights):
        return f"it scored other weights than this folder's; {again}"
    if scored.get("adapted"):
        return "it scored the model adapted to those recordings (evaluate --adapt), not this one"
    recorded = metrics.get("thresholds")
    if isinstance(recorded, Mapping):
        config = _read(folder / "config.json") or {}
        if (recorded.get("crackle"), recorded.get("wheeze")) != thresholds_of(config):
            return f"it decided at other thresholds than this model's; {again}"
    return ""


def why_not_claimed(folder: str | Path, path: str | Path) -> str:
    """Why the evaluation file ``path`` (``folder/evaluation_<corpus>/.../metrics.json``) is no claim of
    the model folder ``folder`` ("" when it is one; see the module docstring)."""
    folder, path = Path(folder).expanduser(), Path(path)
    build = _read(folder / BUILD_RECORD)
    name = path.relative_to(folder).as_posix()
    if build is not None:
        listed = build.get("evaluations")
        if not isinstance(listed, Mapping) or name not in listed:
            return f"{BUILD_RECORD} does not list it (a built folder claims only its build's evaluations)"
        return "" if _sha256(path) == listed[name] else f"it changed since {BUILD_RECORD} recorded it"
    if name == SITE_FIT_FILE:
        record = _read(path)
        return "it is not respira fit-site's record" if record is None else _of_this_fit(folder, record)
    evaluation = folder / path.relative_to(folder).parts[0]
    metrics = _read(evaluation / "metrics.json")
    if metrics is None:
        return "it is not respira evaluate's metrics.json"
    return _of_this_model(folder, evaluation.name.removeprefix("evaluation_"), metrics)


def recorded_evaluations(folder: str | Path) -> list[Path]:
    """The ``metrics.json`` files of the evaluations ``folder`` claims (see the module docstring)."""
    folder = Path(folder).expanduser()
    return [path for path in _evaluation_files(folder) if not why_not_claimed(folder, path)]


def _aucs(values: Mapping[str, tuple[Any, Any]]) -> tuple[LabelAuc, ...]:
    found = []
    for label, (auc, interval) in values.items():
        if (value := number_or_none(auc)) is not None:
            found.append(LabelAuc(label, value, _pair(interval)))
    return tuple(found)


def _cross_validation(metrics: Mapping[str, Any]) -> SiteVerdict | None:
    pooled = metrics.get("out_of_fold") or {}
    score, baseline = (
        number_or_none(metrics.get("test_icbhi_score_mean")),
        number_or_none(pooled.get(ALL_NORMAL)),
    )
    if score is None or baseline is None:
        return None
    aucs = {
        label: (metrics.get(f"test_auc_{label}_mean"), metrics.get(f"test_auc_{label}_ci95"))
        for label in LABELS
    }
    interval = _pair(metrics.get("test_icbhi_score_ci95"))
    count = int(pooled.get("cycles", 0))
    return SiteVerdict("icbhi", "in domain", "cycles", count, score, interval, baseline, _aucs(aucs))


def _recordings(site: str, records: Mapping[str, Any]) -> SiteVerdict | None:
    """All recordings of ``respira evaluate --dataset kauh`` (or SPRSound's ``records``) per recording."""
    overall = (records.get("groups") or {}).get("overall") or {}
    icbhi = overall.get("icbhi") or {}
    score, baseline = number_or_none(icbhi.get("icbhi_score")), number_or_none(icbhi.get(ALL_NORMAL))
    if score is None or baseline is None:
        return None
    interval = _pair((icbhi.get("ci") or {}).get("icbhi_score"))
    scores = {label: overall.get(label) or {} for label in LABELS}
    aucs = {label: (found.get("auc"), (found.get("ci") or {}).get("auc")) for label, found in scores.items()}
    count = int(overall.get("num_recordings", 0))
    return SiteVerdict(site, "held out", "recordings", count, score, interval, baseline, _aucs(aucs))


def _events(site: str, events: Mapping[str, Any]) -> SiteVerdict | None:
    """Every annotated event scored as a cycle (SPRSound's ``events/metrics.json``; no interval)."""
    score, baseline = number_or_none(events.get("icbhi_score")), number_or_none(events.get(ALL_NORMAL))
    if score is None or baseline is None:
        return None
    aucs = _aucs({label: (events.get(f"auc_{label}"), None) for label in LABELS})
    count = int(events.get("num_examples", 0))
    return SiteVerdict(site, "held out", "events", count, score, None, baseline, aucs)


def _site_fit(record: Mapping[str, Any]) -> SiteVerdict | None:
    """The site ``respira fit-site`` fitted the model to: its chosen procedure's nested cross-validation
    per recording, with the patient-bootstrap interval, beside all-normal of the same recordings."""
    rows = {row.get("candidate"): row for row in record.get("nested_cv") or [] if isinstance(row, Mapping)}
    chosen, normal = rows.get("chosen") or {}, rows.get("all_normal") or {}
    score, baseline = number_or_none(chosen.get("icbhi_score")), number_or_none(normal.get("icbhi_score"))
    site = record.get("dataset")
    if score is None or baseline is None or not isinstance(site, str):
        return None
    interval = _pair([chosen.get("icbhi_score_low"), chosen.get("icbhi_score_high")])
    aucs = {
        label: (chosen.get(f"{label}_auc"), [chosen.get(f"{label}_auc_low"), chosen.get(f"{label}_auc_high")])
        for label in LABELS
    }
    count = int(chosen.get("scored_recordings") or record.get("recordings") or 0)
    return SiteVerdict(site, SITE_FIT_PROTOCOL, "recordings", count, score, interval, baseline, _aucs(aucs))


def _held_out(folder: Path, metrics: Mapping[str, Any], recorded: set[Path]) -> list[SiteVerdict]:
    """The verdicts of one ``evaluation_<site>`` folder: per event (when it has events) and per recording."""
    site = folder.name.removeprefix("evaluation_")
    found = []
    events_file = folder / "events" / "metrics.json"
    if "events" in metrics and events_file in recorded and (events := _read(events_file)) is not None:
        found.append(_events(site, events))
    found.append(_recordings(site, metrics.get("records") or metrics))
    return [verdict for verdict in found if verdict is not None]


def site_verdicts(folder: str | Path) -> list[SiteVerdict]:
    """Every site the model in ``folder`` was scored on, from its recorded evaluations
    (:func:`recorded_evaluations`): the site fit-site fitted it to, its cross-validation, then each
    ``evaluation_<corpus>/metrics.json``; empty when it has none."""
    folder = Path(folder).expanduser()
    recorded = set(recorded_evaluations(folder))
    verdicts = []
    fitted = _read(folder / SITE_FIT_FILE) if folder / SITE_FIT_FILE in recorded else None
    if fitted is not None and (verdict := _site_fit(fitted)) is not None:
        verdicts.append(verdict)
    cross = folder / CROSS_VALIDATION_FOLDER / "metrics.json"
    metrics = _read(cross) if cross in recorded else None
    if metrics is not None and (verdict := _cross_validation(metrics)) is not None:
        verdicts.append(verdict)
    for path in sorted(path for path in recorded if path.parent.parent == folder):
        if path.parent.name != CROSS_VALIDATION_FOLDER and (metrics := _read(path)) is not None:
            verdicts.extend(_held_out(path.parent, metrics, recorded))
    return verdicts


def sites_line(folder: str | Path) -> str:
    """One line saying, as the intervals say it, where the model is shown to beat calling every recording
    normal, where it is not, and which labels it does not detect where (empty without evaluations)."""
    verdicts = site_verdicts(folder)
    if not verdicts:
        return ""
    served = [verdict.described() for verdict in verdicts if verdict.serves]
    not_shown = [verdict.described() for verdict in verdicts if not verdict.serves]
    parts = [f"serves {', '.join(served)}" if served else "serves no site it was scored on"]
    if not_shown:
        parts.append(f"not shown to beat calling every recording normal on {', '.join(not_shown)}")
    for label in LABELS:
        where = [
            f"{verdict.site} {verdict.unit} (AUC {format_score(auc.auc, auc.interval)})"
            for verdict in verdicts
            for auc in verdict.not_detected
            if auc.label == label
        ]
        if where:
            parts.append(f"{label} not detected (AUC interval reaches chance, 50) on {', '.join(where)}")
    return "; ".join(parts)

"""What a model folder claims about the sites it was scored on, and the one rule for "it serves a site".

Its claims are its recorded evaluations: those ``build_record.json`` lists by SHA-256 in a built folder;
elsewhere the ``evaluation_*`` folders ``evaluate --record`` wrote of these weights and thresholds on a
corpus it was not trained on, and a ``site_fit.json`` its config still records. A site is *served* when
the score's interval lies above all-normal (and, on a fitted site, its gain over the model as is holds);
a label whose AUC interval reaches 0.5 is *not detected* there.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.respira.decision import thresholds_of
from ..models.respira.labels import MULTI_LABEL_NAMES
from ..utils.files import read_json_object
from ..utils.tables import format_percent, format_score
from .site_fit import SITE_FIT_FILE, not_this_fit

CROSS_VALIDATION_FOLDER = "evaluation_cross_validation"
"""Where a model folder keeps the ``metrics.json`` of its recipe's patient-wise cross-validation."""
BUILD_RECORD = "build_record.json"
"""The record ``make detector`` writes into the folder it builds (inputs, versions, its evaluations)."""
SITE_FIT_PROTOCOL = "fitted here, nested cross-validation"
"""The protocol of a site ``respira fit-site`` fitted a model to (nested cross-validation)."""
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
    """``in domain``, ``held out`` or :data:`SITE_FIT_PROTOCOL`."""
    unit: str
    """What was scored: cycles, recordings or events."""
    count: int
    score: float
    interval: tuple[float, float] | None
    all_normal: float
    aucs: tuple[LabelAuc, ...] = ()
    name: str = ""
    """What a site fit named the site (``--site_name``); "" for the others."""
    as_is: float | None = None
    """A fitted site's: the model as is scored by the same nested cross-validation."""
    gain: tuple[float, tuple[float, float] | None] | None = None
    """A fitted site's: the gain over the model as is and its paired interval."""
    not_measurable: tuple[tuple[str, str], ...] = ()
    """A fitted site's labels its recordings could not measure, with why (left as the model had them)."""

    @property
    def clears_all_normal(self) -> bool:
        """Its 95 % interval's lower end lies above all-normal."""
        return self.interval is not None and self.interval[0] > self.all_normal

    @property
    def beats_as_is(self) -> bool | None:
        """A fitted site's gain over the model as is holds (``None``: nothing was fitted to it)."""
        if self.as_is is None:
            return None
        if self.gain is not None and self.gain[1] is not None:
            return self.gain[1][0] > 0
        return self.score > self.as_is

    @property
    def serves(self) -> bool:
        """It beats all-normal here and, on a fitted site, the model as is."""
        return self.clears_all_normal and self.beats_as_is is not False

    def gain_words(self) -> str:
        """A fitted site's gain over the model as is: ``model as is 52.4, gain +13.2 [+7.0, +19.5]``."""
        if self.as_is is None:
            return ""
        gain = self.gain or (self.score - self.as_is, None)
        return f"model as is {format_percent(self.as_is)}, gain {format_gain(*gain)}"

    def not_shown(self) -> list[str]:
        """What :attr:`serves` needs and the scores do not show, in words (empty when it serves)."""
        missing = []
        if not self.clears_all_normal:
            reach = "no interval" if self.interval is None else f"reaches {format_percent(self.all_normal)}"
            missing.append(f"that it beats all-normal ({format_score(self.score, self.interval)} {reach})")
        if self.beats_as_is is False:
            reach = "its interval reaches 0" if self.gain and self.gain[1] else "not above 0"
            missing.append(f"that it beats the model as is ({self.gain_words()}: {reach})")
        return missing

    @property
    def not_detected(self) -> tuple[LabelAuc, ...]:
        """The labels whose AUC interval reaches chance (0.5) on this site."""
        return tuple(auc for auc in self.aucs if auc.detected is False)

    def detection_words(self) -> str:
        """The card's "Not detected" cell."""
        cells = [f"{auc.label} (AUC {format_score(auc.auc, auc.interval)})" for auc in self.not_detected]
        cells += [f"{label} {words}" for label, words in self.not_measurable]
        return ", ".join(cells) or "none"

    def described(self) -> str:
        """``kauh recordings (held out: 52.4 [45.9, 58.2] vs all-normal 50.0)``."""
        as_is = "" if self.as_is is None else f"; {self.gain_words()}"
        return (
            f"{self.name or self.site} {self.unit} ({self.protocol}: "
            f"{format_score(self.score, self.interval)} vs all-normal {format_percent(self.all_normal)}"
            f"{as_is})"
        )


def not_measurable_words(label: str, positives: int, negatives: int) -> str:
    """Why a label cannot be measured with these recording counts ("" when it can)."""
    if not positives:
        return f"not measurable here: no {label} recording among the labelled"
    if not negatives:
        return f"not measurable here: every labelled recording has {label}"
    return ""


def format_gain(value: float, interval: tuple[float, float] | None = None) -> str:
    """A gain in points, signed, with its interval: ``+13.2 [+7.0, +19.5]``."""

    def signed(number: float) -> str:
        return ("+" if number >= 0 else "-") + format_percent(abs(number))

    return signed(value) + ("" if interval is None else f" [{signed(interval[0])}, {signed(interval[1])}]")


def number_or_none(value: Any) -> float | None:
    """A JSON value as a float; ``None`` when it is not a number or is NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _pair(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    low, high = (number_or_none(end) for end in value)
    return None if low is None or high is None else (low, high)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evaluation_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that may be claims: ``evaluation_*/**/metrics.json``, ``site_fit.json``."""
    found = sorted(folder.glob("evaluation_*/**/metrics.json"))
    return [*found, folder / SITE_FIT_FILE] if (folder / SITE_FIT_FILE).is_file() else found


def evaluation_digests(folder: str | Path) -> dict[str, str]:
    """SHA-256 of each evaluation file of ``folder`` by relative path (``build_record.json``'s)."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): _sha256(path) for path in _evaluation_files(folder)}


def _of_this_model(folder: Path, corpus: str, metrics: Mapping[str, Any]) -> str:
    again = "run respira evaluate --record again to claim it"
    record = read_json_object(folder / "respira_run.json") or {}
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
    recorded = metrics.get("thresholds")
    if isinstance(recorded, Mapping):
        config = read_json_object(folder / "config.json") or {}
        if (recorded.get("crackle"), recorded.get("wheeze")) != thresholds_of(config):
            return f"it decided at other thresholds than this model's; {again}"
    return ""


def why_not_claimed(folder: str | Path, path: str | Path) -> str:
    """Why the evaluation file ``path`` is no claim of ``folder`` ("" when it is one)."""
    folder, path = Path(folder).expanduser(), Path(path)
    build = read_json_object(folder / BUILD_RECORD)
    name = path.relative_to(folder).as_posix()
    if build is not None:
        listed = build.get("evaluations")
        if not isinstance(listed, Mapping) or name not in listed:
            return f"{BUILD_RECORD} does not list it (a built folder claims only its build's evaluations)"
        return "" if _sha256(path) == listed[name] else f"it changed since {BUILD_RECORD} recorded it"
    if name == SITE_FIT_FILE:
        record = read_json_object(path)
        return "it is not respira fit-site's record" if record is None else not_this_fit(folder, record)
    evaluation = folder / path.relative_to(folder).parts[0]
    metrics = read_json_object(evaluation / "metrics.json")
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


def site_fit_verdict(
    rows: Any,
    site: str,
    *,
    name: str = "",
    count: int | None = None,
    not_measurable: Mapping[str, str] | None = None,
) -> SiteVerdict | None:
    """The verdict of a site fit from its ``nested_cv`` rows (``None`` when they lack a score)."""
    by_name = {row.get("candidate"): row for row in rows or [] if isinstance(row, Mapping)}
    chosen, normal = by_name.get("chosen") or {}, by_name.get("all_normal") or {}
    score, baseline = number_or_none(chosen.get("icbhi_score")), number_or_none(normal.get("icbhi_score"))
    as_is = number_or_none((by_name.get("as_is") or {}).get("icbhi_score"))
    if score is None or baseline is None:
        return None
    interval = _pair([chosen.get("icbhi_score_low"), chosen.get("icbhi_score_high")])
    gain_value = number_or_none(chosen.get("gain_over_as_is"))
    gain = None
    if gain_value is not None:
        gain = (gain_value, _pair([chosen.get("gain_over_as_is_low"), chosen.get("gain_over_as_is_high")]))
    aucs = {
        label: (chosen.get(f"{label}_auc"), [chosen.get(f"{label}_auc_low"), chosen.get(f"{label}_auc_high")])
        for label in LABELS
    }
    count = int(chosen.get("scored_recordings") or count or 0)
    return SiteVerdict(
        site, SITE_FIT_PROTOCOL, "recordings", count, score, interval, baseline, _aucs(aucs),
        name=name, as_is=as_is, gain=gain, not_measurable=_words(not_measurable),
    )  # fmt: skip


def _words(labels: Any) -> tuple[tuple[str, str], ...]:
    """A record's ``not_measurable`` (label to why) as pairs, in label order; none where it holds none."""
    if not isinstance(labels, Mapping):
        return ()
    return tuple((label, str(labels[label])) for label in LABELS if isinstance(labels.get(label), str))


def _site_fit(record: Mapping[str, Any]) -> SiteVerdict | None:
    site = record.get("dataset")
    if not isinstance(site, str):
        return None
    name, count = record.get("site_name"), record.get("recordings")
    return site_fit_verdict(
        record.get("nested_cv"), site, name=name if isinstance(name, str) else "",
        count=count if isinstance(count, int) else None, not_measurable=record.get("not_measurable"),
    )  # fmt: skip


def _held_out(folder: Path, metrics: Mapping[str, Any], recorded: set[Path]) -> list[SiteVerdict]:
    """The verdicts of one ``evaluation_<site>`` folder: per event (when it has events) and per recording."""
    site = folder.name.removeprefix("evaluation_")
    found = []
    events_file = folder / "events" / "metrics.json"
    if (
        "events" in metrics
        and events_file in recorded
        and (events := read_json_object(events_file)) is not None
    ):
        found.append(_events(site, events))
    found.append(_recordings(site, metrics.get("records") or metrics))
    return [verdict for verdict in found if verdict is not None]


def site_verdicts(folder: str | Path) -> list[SiteVerdict]:
    """Every site the model in ``folder`` was scored on, from its recorded evaluations."""
    folder = Path(folder).expanduser()
    recorded = set(recorded_evaluations(folder))
    verdicts = []
    fitted = read_json_object(folder / SITE_FIT_FILE) if folder / SITE_FIT_FILE in recorded else None
    if fitted is not None and (verdict := _site_fit(fitted)) is not None:
        verdicts.append(verdict)
    cross = folder / CROSS_VALIDATION_FOLDER / "metrics.json"
    metrics = read_json_object(cross) if cross in recorded else None
    if metrics is not None and (verdict := _cross_validation(metrics)) is not None:
        verdicts.append(verdict)
    for path in sorted(path for path in recorded if path.parent.parent == folder):
        if path.parent.name != CROSS_VALIDATION_FOLDER and (metrics := read_json_object(path)) is not None:
            verdicts.extend(_held_out(path.parent, metrics, recorded))
    return verdicts


def sites_line(folder: str | Path) -> str:
    """One line: where the model is shown to serve, where not, and which labels it does not detect."""
    verdicts = site_verdicts(folder)
    if not verdicts:
        return ""
    served = [verdict.described() for verdict in verdicts if verdict.serves]
    below_normal = [verdict.described() for verdict in verdicts if not verdict.clears_all_normal]
    below_as_is = [  # named alone where the line above already said its scores
        f"{v.name or v.site} {v.unit}" if not v.clears_all_normal else v.described()
        for v in verdicts
        if v.beats_as_is is False
    ]
    parts = [f"serves {', '.join(served)}" if served else "serves no site it was scored on"]
    if below_normal:
        parts.append(f"not shown to beat calling every recording normal on {', '.join(below_normal)}")
    if below_as_is:
        parts.append("not shown to beat the model as is on " + ", ".join(below_as_is))
    for label in LABELS:
        where = [
            f"{verdict.name or verdict.site} {verdict.unit} (AUC {format_score(auc.auc, auc.interval)})"
            for verdict in verdicts
            for auc in verdict.not_detected
            if auc.label == label
        ]
        if where:
            parts.append(f"{label} not detected (AUC interval reaches chance, 50) on {', '.join(where)}")
        for verdict in verdicts:
            parts += [
                f"{label} {words} ({verdict.name or verdict.site})"
                for named, words in verdict.not_measurable
                if named == label
            ]
    return "; ".join(parts)

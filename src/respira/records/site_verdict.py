"""A site's verdict: how a model scored on one site against all-normal, and the one rule for "it serves a
site" (its interval lies above all-normal and, on a fitted site, its gain over the model as is holds); a
label whose AUC interval reaches 0.5 is *not detected* there. Per label (:class:`LabelServe`), a fitted
site's label is served only where its own paired gain and its AUC are shown (:func:`label_gain_shown`);
elsewhere it stays as the base model has it. Read from the evaluations a folder records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.respira.audio_decoding import is_number
from ..models.respira.labels import MULTI_LABEL_NAMES
from ..utils.files import read_json_object
from ..utils.tables import format_percent, format_score

CROSS_VALIDATION_FOLDER = "evaluation_cross_validation"
"""Where a model folder keeps the ``metrics.json`` of its recipe's patient-wise cross-validation."""
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


def label_gain_shown(gain: tuple[float, float] | None, auc: tuple[float, float] | None) -> bool:
    """The per-label serve rule of a site fit: the paired 95 % interval of the label's own gain over the
    model as is lies above 0 and its AUC interval above chance (0.5)."""
    return gain is not None and auc is not None and gain[0] > 0 and auc[0] > CHANCE


@dataclass(frozen=True)
class LabelServe:
    """One label of a fitted site: what the fit uses for it (``as_is``: the base model's head and threshold)
    and the nested cross-validation's evidence, its own paired gain and its AUC, each with its interval."""

    label: str
    candidate: str
    gain: float | None = None
    gain_interval: tuple[float, float] | None = None
    auc: float | None = None
    auc_interval: tuple[float, float] | None = None
    why: str = ""
    """Why it stays as the base model has it beyond the rule (not measurable, the final choice)."""
    whole: bool = False
    """An older record's: judged by the whole model's gain (it predates the per-label rule)."""
    given: bool = False
    """Fitted because a study chose the procedure elsewhere (``fit-site --chosen_by``), whatever its own gain
    here shows."""

    @property
    def shown(self) -> bool:
        """Its own gain and its AUC are shown (:func:`label_gain_shown`); an older record's: its AUC."""
        if self.whole:
            return not self.why and self.auc_interval is not None and self.auc_interval[0] > CHANCE
        return not self.why and label_gain_shown(self.gain_interval, self.auc_interval)

    @property
    def served(self) -> bool:
        """Fitted here (its head or threshold) on the evidence of the rule (``given``: of a study's)."""
        return (self.shown or self.given) and self.candidate != "as_is"

    def evidence(self) -> str:
        """``its own gain +5.1 [+1.2, +9.0], AUC 80.7 [69.5, 89.4]``."""
        if self.whole:
            return "judged by the whole model's gain: its site_fit.json predates the per-label rule"
        gain = (
            "no gain measured"
            if self.gain is None
            else f"its own gain {format_gain(self.gain, self.gain_interval)}"
        )
        auc = "no AUC" if self.auc is None else f"AUC {format_score(self.auc, self.auc_interval)}"
        return f"{gain} over the model as is, {auc}"

    def words(self) -> str:
        """What every output says of this label."""
        if self.given and self.candidate != "as_is":
            how = self.candidate.replace("_", " ")
            shown = "shown" if self.shown else "not shown"
            return f"{self.label} fitted ({how}, as the study chose; here {shown}: {self.evidence()})"
        if self.served:
            return f"{self.label} fitted ({self.candidate.replace('_', ' ')}: {self.evidence()})"
        kept = f"{self.label} left as the base model has it (its head and threshold)"
        if self.why:
            return f"{kept}: {self.why}"
        if self.shown:
            return f"{kept}: the fit on every patient chose the model as is ({self.evidence()})"
        missing = []
        if self.gain_interval is None or self.gain_interval[0] <= 0:
            missing.append("its gain interval reaches 0" if self.gain_interval else "no gain interval")
        if self.auc_interval is None or self.auc_interval[0] <= CHANCE:
            missing.append("its AUC interval reaches 50" if self.auc_interval else "no AUC interval")
        return f"{kept}: no gain of its own shown ({self.evidence()}: {' and '.join(missing)})"


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
    labels: tuple[LabelServe, ...] = ()
    """A fitted site's labels, each served or left as the base model has it."""

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
        """It beats all-normal here and, on a fitted site, the model as is with at least one label served."""
        served = not self.labels or any(label.served for label in self.labels)
        return self.clears_all_normal and self.beats_as_is is not False and served

    def serves_label(self, label: str) -> bool:
        """It serves ``label`` here: the site is served and, fitted, the label's own rule holds; else the
        label is detected here (its AUC interval, where there is one, lies above chance)."""
        if not self.serves or any(named == label for named, _ in self.not_measurable):
            return False
        if self.labels:
            return any(found.label == label and found.served for found in self.labels)
        return all(auc.detected is not False for auc in self.aucs if auc.label == label)

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
        if self.labels and not any(label.served for label in self.labels):
            missing.append(f"that any label gains on its own ({self.labels_words()})")
        return missing

    def labels_words(self) -> str:
        """A fitted site's labels, each served or left as the base model has it ("" for another site)."""
        return "; ".join(label.words() for label in self.labels)

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


def format_gain(value: float, interval: tuple[float, float] | None = None) -> str:
    """A gain in points, signed, with its interval: ``+13.2 [+7.0, +19.5]``."""

    def signed(number: float) -> str:
        return ("+" if number >= 0 else "-") + format_percent(abs(number))

    return signed(value) + ("" if interval is None else f" [{signed(interval[0])}, {signed(interval[1])}]")


def number_or_none(value: Any) -> float | None:
    """A JSON value as a float; ``None`` when it is not a number or is NaN."""
    return float(value) if is_number(value) else None


def number_pair(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    low, high = (number_or_none(end) for end in value)
    return None if low is None or high is None else (low, high)


def label_aucs(values: Mapping[str, tuple[Any, Any]]) -> tuple[LabelAuc, ...]:
    found = []
    for label, (auc, interval) in values.items():
        if (value := number_or_none(auc)) is not None:
            found.append(LabelAuc(label, value, number_pair(interval)))
    return tuple(found)


def cross_validation_verdict(metrics: Mapping[str, Any]) -> SiteVerdict | None:
    pooled = metrics.get("out_of_fold") or {}
    score = number_or_none(metrics.get("test_icbhi_score_mean"))
    baseline = number_or_none(pooled.get(ALL_NORMAL))
    if score is None or baseline is None:
        return None
    aucs = {
        label: (metrics.get(f"test_auc_{label}_mean"), metrics.get(f"test_auc_{label}_ci95"))
        for label in LABELS
    }
    interval = number_pair(metrics.get("test_icbhi_score_ci95"))
    count = int(pooled.get("cycles", 0))
    return SiteVerdict("icbhi", "in domain", "cycles", count, score, interval, baseline, label_aucs(aucs))


def _recordings(site: str, records: Mapping[str, Any]) -> SiteVerdict | None:
    """All recordings of ``respira evaluate --dataset kauh`` (or SPRSound's ``records``) per recording."""
    overall = (records.get("groups") or {}).get("overall") or {}
    icbhi = overall.get("icbhi") or {}
    score, baseline = number_or_none(icbhi.get("icbhi_score")), number_or_none(icbhi.get(ALL_NORMAL))
    if score is None or baseline is None:
        return None
    interval = number_pair((icbhi.get("ci") or {}).get("icbhi_score"))
    scores = {label: overall.get(label) or {} for label in LABELS}
    aucs = {label: (found.get("auc"), (found.get("ci") or {}).get("auc")) for label, found in scores.items()}
    count = int(overall.get("num_recordings", 0))
    return SiteVerdict(site, "held out", "recordings", count, score, interval, baseline, label_aucs(aucs))


def _events(site: str, events: Mapping[str, Any]) -> SiteVerdict | None:
    """Every annotated event scored as a cycle (SPRSound's ``events/metrics.json``; no interval)."""
    score, baseline = number_or_none(events.get("icbhi_score")), number_or_none(events.get(ALL_NORMAL))
    if score is None or baseline is None:
        return None
    aucs = label_aucs({label: (events.get(f"auc_{label}"), None) for label in LABELS})
    count = int(events.get("num_examples", 0))
    return SiteVerdict(site, "held out", "events", count, score, None, baseline, aucs)


def held_out_verdicts(folder: Path, metrics: Mapping[str, Any], recorded: set[Path]) -> list[SiteVerdict]:
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

"""What a fitted folder's card claims of its site (:class:`SiteClaim`, from its ``site_fit.json``), checked on
newly labelled patients of that site: :data:`OUTSIDE_RULE` and :data:`AGREE_RULE` (MOVER: Zou & Donner
2008), scored on the units it was not fitted on, else ``not_compared``, saying why.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..utils.tables import format_percent, format_score
from .site_fit import SITE_FIT_FILE, SiteFitRecord
from .site_verdict import format_gain, number_or_none

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
    def of_record(cls, record: SiteFitRecord | None) -> SiteClaim | None:
        """The claim of a fit record (``None``: none, or one without a score)."""
        verdict = None if record is None else record.verdict()
        if verdict is None or record is None:
            return None
        return cls(
            dataset=verdict.site,
            name=verdict.name or verdict.site,
            score=verdict.score,
            interval=verdict.interval,
            units=record.units,
            units_are_patients=record.units_are_patients,
            recordings=record.recordings,
            base_model=record.base_model.split(" (")[0],
            aggregation=(record.recording_aggregation or "max", record.recording_top_k),
            fitted_units=None if record.fitted_units is None else frozenset(record.fitted_units),
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

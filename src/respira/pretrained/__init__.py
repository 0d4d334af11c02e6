"""The detector that ships with respira, and what it says about the sites it serves.

``respira predict recording.wav``, ``respira app`` and :meth:`respira.Detector.from_pretrained` with no
model use :func:`default_detector_dir`: a model folder in Hugging Face Hub layout installed with the
package (package data, so it works offline from a wheel). The folder is what ``respira push`` or the Hub's
own upload publishes, unchanged: weights (``model.safetensors``), ``config.json`` with its decision
thresholds and event settings, ``preprocessor_config.json``, the model's code for
``trust_remote_code=True``, ``model.onnx``, its card (``README.md``) and the files the runs that made it
wrote (``respira_run.json``, ``metrics.json``, ``evaluation_*/metrics.json``, ``build_record.json``).
``make detector`` rebuilds it from ``../shared`` (``scripts/build_detector.py``).

:func:`site_verdicts` reads those evaluation files back: per site the detector was scored on, its score,
interval and all-normal baseline, and whether it serves that site (it beats all-normal there). The card
and the default output both say it from this one function.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CROSS_VALIDATION_FOLDER",
    "DEFAULT_DETECTOR_NAME",
    "SiteVerdict",
    "default_detector_dir",
    "site_verdicts",
    "sites_line",
]

DEFAULT_DETECTOR_NAME = "icbhi-crackle-wheeze"
"""The folder name of the shipped detector (and the repository name it is published under)."""
CROSS_VALIDATION_FOLDER = "evaluation_cross_validation"
"""Where a model folder keeps the ``metrics.json`` of its recipe's patient-wise cross-validation."""
ALL_NORMAL = "baseline_all_normal_icbhi_score"


def default_detector_dir() -> Path:
    """The shipped detector's folder (inside the installed package).

    Raises :class:`FileNotFoundError` (one line) when it is missing, as in a source checkout whose
    package data was removed.
    """
    folder = Path(__file__).resolve().parent / DEFAULT_DETECTOR_NAME
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"respira's default detector is not installed ({folder} has no config.json): reinstall respira, "
            "rebuild it with `make detector`, or name a model"
        )
    return folder


@dataclass(frozen=True)
class SiteVerdict:
    """How the detector scored on one site, against the all-normal baseline of the same samples."""

    site: str
    """``icbhi``, ``kauh`` or ``sprsound``."""
    protocol: str
    """``in domain`` (new patients of a site it learnt from) or ``held out`` (a site it never heard)."""
    unit: str
    """What was scored: cycles, recordings or events."""
    count: int
    score: float
    interval: tuple[float, float] | None
    all_normal: float

    @property
    def serves(self) -> bool:
        """It beats the all-normal baseline on this site."""
        return self.score > self.all_normal

    @property
    def shown_better(self) -> bool:
        """Its 95 % interval lies above the all-normal baseline."""
        return self.interval is not None and self.interval[0] > self.all_normal


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _read(path: Path) -> Mapping[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, Mapping) else None


def _cross_validation(metrics: Mapping[str, Any]) -> SiteVerdict | None:
    pooled = metrics.get("out_of_fold") or {}
    score, low_high = _number(metrics.get("test_icbhi_score_mean")), metrics.get("test_icbhi_score_ci95")
    baseline = _number(pooled.get(ALL_NORMAL))
    if score is None or baseline is None:
        return None
    interval = tuple(float(v) for v in low_high) if isinstance(low_high, (list, tuple)) else None
    return SiteVerdict(
        "icbhi", "in domain", "cycles", int(pooled.get("cycles", 0)), score, interval, baseline
    )


def _recordings(site: str, records: Mapping[str, Any]) -> SiteVerdict | None:
    """All recordings of ``respira evaluate --dataset kauh`` (or SPRSound's ``records``) per recording."""
    overall = (records.get("groups") or {}).get("overall") or {}
    icbhi = overall.get("icbhi") or {}
    score, baseline = _number(icbhi.get("icbhi_score")), _number(icbhi.get(ALL_NORMAL))
    if score is None or baseline is None:
        return None
    interval = (icbhi.get("ci") or {}).get("icbhi_score")
    interval = (float(interval[0]), float(interval[1])) if interval and None not in interval else None
    count = int(overall.get("num_recordings", 0))
    return SiteVerdict(site, "held out", "recordings", count, score, interval, baseline)


def _events(site: str, events: Mapping[str, Any]) -> SiteVerdict | None:
    """Every annotated event scored as a cycle (SPRSound's ``events/metrics.json``)."""
    score, baseline = _number(events.get("icbhi_score")), _number(events.get(ALL_NORMAL))
    if score is None or baseline is None:
        return None
    return SiteVerdict(site, "held out", "events", int(events.get("num_examples", 0)), score, None, baseline)


def _held_out(folder: Path, metrics: Mapping[str, Any]) -> list[SiteVerdict]:
    """The verdicts of one ``evaluation_<site>`` folder: per event (when it has events) and per recording."""
    site = folder.name.removeprefix("evaluation_")
    found = []
    if "events" in metrics and (events := _read(folder / "events" / "metrics.json")) is not None:
        found.append(_events(site, events))
    found.append(_recordings(site, metrics.get("records") or metrics))
    return [verdict for verdict in found if verdict is not None]


def site_verdicts(folder: str | Path) -> list[SiteVerdict]:
    """Every site the model in ``folder`` was scored on (its cross-validation, then each
    ``evaluation_<corpus>/metrics.json``), in that order; empty when it has none."""
    folder = Path(folder).expanduser()
    verdicts = []
    cross = _read(folder / CROSS_VALIDATION_FOLDER / "metrics.json")
    if cross is not None and (verdict := _cross_validation(cross)) is not None:
        verdicts.append(verdict)
    for path in sorted(folder.glob("evaluation_*/metrics.json")):
        if path.parent.name != CROSS_VALIDATION_FOLDER and (metrics := _read(path)) is not None:
            verdicts.extend(_held_out(path.parent, metrics))
    return verdicts


def sites_line(folder: str | Path) -> str:
    """One line naming the sites the model serves and those it does not (empty without evaluations)."""
    verdicts = site_verdicts(folder)
    if not verdicts:
        return ""

    def name(verdict: SiteVerdict) -> str:
        score, baseline = 100 * verdict.score, 100 * verdict.all_normal
        return f"{verdict.site} {verdict.unit} ({verdict.protocol}: {score:.1f} vs all-normal {baseline:.1f})"

    served = [name(v) for v in verdicts if v.serves]
    not_served = [name(v) for v in verdicts if not v.serves]
    text = f"serves {', '.join(served) or 'no site'}"
    if not_served:
        text += f"; does NOT serve {', '.join(not_served)}: there it is no better than calling all normal"
    return text

"""What a model folder claims about the sites it was scored on: its recorded evaluations, read as
:class:`~respira.records.site_verdict.SiteVerdict` s.

Its claims are those ``build_record.json`` lists by SHA-256 in a built folder; elsewhere the
``evaluation_*`` folders ``evaluate --record`` wrote of these weights and thresholds on a corpus it was not
trained on, and a ``site_fit.json`` its config still records.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..models.respira.decision import thresholds_of
from ..utils.files import read_json_object, sha256_of
from ..utils.tables import format_score
from .run import RUN_RECORD_FILE
from .site_claim import SiteClaim
from .site_fit import SITE_FIT_FILE, SiteFitRecord, SiteFitRecordError, not_this_fit
from .site_verdict import (
    CROSS_VALIDATION_FOLDER,
    LABELS,
    SiteVerdict,
    cross_validation_verdict,
    held_out_verdicts,
)

WEIGHTS = "model.safetensors"
BUILD_RECORD = "build_record.json"
"""The record ``make detector`` writes into the folder it builds (inputs, versions, its evaluations)."""


def trained_corpora(folder: Path) -> list[str] | None:
    """The corpora ``folder``'s run record names (none named: ICBHI alone); ``None``: no record."""
    data = (read_json_object(folder / RUN_RECORD_FILE) or {}).get("data")
    if not isinstance(data, dict):
        return None
    corpora = [item.get("name") for item in data.get("corpora") or [] if isinstance(item, dict)]
    return [str(name) for name in corpora if name] or ["icbhi"]


def _evaluation_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that may be claims: ``evaluation_*/**/metrics.json``, ``site_fit.json``."""
    found = sorted(folder.glob("evaluation_*/**/metrics.json"))
    return [*found, folder / SITE_FIT_FILE] if (folder / SITE_FIT_FILE).is_file() else found


def evaluation_digests(folder: str | Path) -> dict[str, str]:
    """SHA-256 of each evaluation file of ``folder`` by relative path (``build_record.json``'s)."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): sha256_of(path) for path in _evaluation_files(folder)}


def scored_model(model: str | Path) -> dict[str, Any]:
    """What ``respira evaluate`` records of the model it scored (a claim's check): its weights' SHA-256."""
    weights = Path(model).expanduser() / WEIGHTS
    return {"weights_sha256": sha256_of(weights) if weights.is_file() else None}


def _of_this_model(folder: Path, corpus: str, metrics: Mapping[str, Any]) -> str:
    again = "run respira evaluate --record again to claim it"
    if corpus in (trained_corpora(folder) or ["icbhi"]):
        return "it scores recordings of a corpus this model was trained on: not an external validation"
    scored = metrics.get("model")
    if not isinstance(scored, Mapping) or not scored.get("weights_sha256"):
        return f"it does not record which weights it scored; {again}"
    weights = folder / WEIGHTS
    if not weights.is_file() or scored["weights_sha256"] != sha256_of(weights):
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
        return "" if sha256_of(path) == listed[name] else f"it changed since {BUILD_RECORD} recorded it"
    if name == SITE_FIT_FILE:
        try:
            return not_this_fit(folder, SiteFitRecord.load(folder))
        except SiteFitRecordError:
            return "it is not respira fit-site's record"
    evaluation = folder / path.relative_to(folder).parts[0]
    metrics = read_json_object(evaluation / "metrics.json")
    if metrics is None:
        return "it is not respira evaluate's metrics.json"
    return _of_this_model(folder, evaluation.name.removeprefix("evaluation_"), metrics)


def recorded_evaluations(folder: str | Path) -> list[Path]:
    """The ``metrics.json`` files of the evaluations ``folder`` claims (see the module docstring)."""
    folder = Path(folder).expanduser()
    return [path for path in _evaluation_files(folder) if not why_not_claimed(folder, path)]


def site_verdicts(folder: str | Path) -> list[SiteVerdict]:
    """Every site the model in ``folder`` was scored on, from its recorded evaluations."""
    folder = Path(folder).expanduser()
    recorded = set(recorded_evaluations(folder))
    verdicts = []
    fitted = SiteFitRecord.load(folder) if folder / SITE_FIT_FILE in recorded else None
    if fitted is not None and (verdict := fitted.verdict()) is not None:
        verdicts.append(verdict)
    cross = folder / CROSS_VALIDATION_FOLDER / "metrics.json"
    metrics = read_json_object(cross) if cross in recorded else None
    if metrics is not None and (verdict := cross_validation_verdict(metrics)) is not None:
        verdicts.append(verdict)
    for path in sorted(path for path in recorded if path.parent.parent == folder):
        if path.parent.name != CROSS_VALIDATION_FOLDER and (metrics := read_json_object(path)) is not None:
            verdicts.extend(held_out_verdicts(path.parent, metrics, recorded))
    return verdicts


def site_claim(folder: str | Path | None) -> SiteClaim | None:
    """The claim of ``folder``'s recorded site fit (``None``: no folder, or no site fit it claims)."""
    if folder is None:
        return None
    folder = Path(folder).expanduser()
    fitted = folder / SITE_FIT_FILE
    return SiteClaim.of_record(SiteFitRecord.load(folder)) if fitted in recorded_evaluations(folder) else None


def label_sites(verdicts: list[SiteVerdict]) -> dict[str, list[str]]:
    """Per label, the sites it is served on (:meth:`SiteVerdict.serves_label`): ``kauh recordings``..."""
    return {
        label: [f"{v.name or v.site} {v.unit}" for v in verdicts if v.serves_label(label)] for label in LABELS
    }


def label_sites_words(verdicts: list[SiteVerdict]) -> str:
    """``crackle: kauh recordings; wheeze: no site``: the sites each label is served on."""
    found = label_sites(verdicts)
    return "; ".join(f"{label}: {', '.join(found[label]) or 'no site'}" for label in LABELS)


def sites_line(folder: str | Path) -> str:
    """One line: where the model is shown to serve, where not, which labels it does not detect, and per
    label where it serves (a fitted site's labels each fitted or left as the base model has it)."""
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
    parts.append(f"per label it serves {label_sites_words(verdicts)}")
    parts += [f"on {v.name or v.site}: {v.labels_words()}" for v in verdicts if v.labels]
    return "; ".join(parts)

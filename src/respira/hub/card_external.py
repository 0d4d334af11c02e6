"""External validation on the model card: what ``respira evaluate MODEL --dataset CORPUS`` measured.

``respira evaluate`` on a recording-labelled corpus (KAUH) writes ``MODEL/evaluation_<corpus>/metrics.json``
with the per-recording scores and, under ``model``, which weights it scored (:func:`scored_model`: the
SHA-256 of ``model.safetensors``, whether the model was adapted first). :func:`external_validations`
reads those files back for the card (with every group whose score does not beat its trivial baseline, said
so), and keeps a result only when it is this folder's own model: the same
weights and thresholds, not adapted, and not trained on that corpus (then the scores are not out of
sample). For every result it leaves out it says why (:class:`StaleEvaluationWarning`, where the card
is built), so a stale evaluation neither reaches a card nor disappears silently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult
from transformers.utils import SAFE_WEIGHTS_NAME

from ..data.corpora import CORPORA
from ..metrics.baselines import icbhi_below_baselines
from ..utils.tables import PERCENT_DECIMALS, format_score
from .card_fields import HUB_METRIC_ARGS, HUB_METRIC_ID
from .checksums import sha256_of

__all__ = [
    "ExternalGroup",
    "ExternalValidation",
    "StaleEvaluationWarning",
    "external_eval_results",
    "external_rows",
    "external_validations",
    "scored_model",
]

OVERALL = "overall"
"""The group of all recordings in ``metrics.json`` (the others are the corpus's groups, e.g. filter modes)."""


class StaleEvaluationWarning(UserWarning):
    """An evaluation in a model folder is left off its card: not of this model, or not out of sample."""


def scored_model(model: str | Path, *, adapted: bool) -> dict[str, Any]:
    """What ``respira evaluate`` records of the model it scored (``metrics.json``'s ``model``)."""
    return {"weights_sha256": _weights_sha256(Path(model).expanduser()), "adapted": bool(adapted)}


def _weights_sha256(folder: Path) -> str | None:
    weights = folder / SAFE_WEIGHTS_NAME
    return sha256_of(weights) if weights.is_file() else None


@dataclass(frozen=True)
class ExternalGroup:
    """The scores of one group of recordings (all of them, or one filter mode)."""

    name: str
    recordings: int
    patients: int
    icbhi_score: float | None
    icbhi_score_ci: tuple[float | None, float | None]
    specificity: float | None
    sensitivity: float | None
    auc_crackle: float | None
    auc_wheeze: float | None


@dataclass(frozen=True)
class ExternalValidation:
    """One corpus's recording-level scores of this model, as the card shows them."""

    corpus: str
    title: str
    window_seconds: float
    hop_seconds: float
    aggregation: str
    thresholds: tuple[float, float]
    groups: tuple[ExternalGroup, ...]
    below_baseline: tuple[str, ...] = ()
    """The groups whose ICBHI-style score does not beat its trivial baseline, one sentence each."""

    @property
    def overall(self) -> ExternalGroup:
        """The scores of all the recordings."""
        return next(group for group in self.groups if group.name == OVERALL)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _group(name: str, scores: Mapping[str, Any]) -> ExternalGroup:
    icbhi = scores["icbhi"]
    low, high = (icbhi.get("ci") or {}).get("icbhi_score") or (None, None)
    return ExternalGroup(
        name=name,
        recordings=int(scores["num_recordings"]),
        patients=int(scores["num_patients"]),
        icbhi_score=_number(icbhi.get("icbhi_score")),
        icbhi_score_ci=(_number(low), _number(high)),
        specificity=_number(icbhi.get("specificity")),
        sensitivity=_number(icbhi.get("sensitivity")),
        auc_crackle=_number(scores["crackle"].get("auc")),
        auc_wheeze=_number(scores["wheeze"].get("auc")),
    )


def external_validations(folder: str | Path) -> tuple[list[ExternalValidation], list[str]]:
    """This model's external validations found in ``folder`` (``evaluation_<corpus>/metrics.json`` of
    every registered recording-labelled corpus that the folder claims:
    :func:`respira.pretrained.why_not_claimed`), and why each one left out was."""
    from ..pretrained import why_not_claimed

    folder = Path(folder).expanduser()
    found, notes = [], []
    paths = {
        name: path
        for name, spec in CORPORA.items()
        if spec.labels == "recording" and (path := folder / f"evaluation_{name}" / "metrics.json").is_file()
    }
    for name, path in paths.items():
        spec = CORPORA[name]
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
            reason = why_not_claimed(folder, path)
            if reason:
                notes.append(f"{path}: left off the model card: {reason}")
                continue
            groups, thresholds = metrics["groups"], metrics["thresholds"]
            order = [OVERALL, *(group for group in groups if group != OVERALL)]  # the file sorts its keys
            found.append(
                ExternalValidation(
                    corpus=name,
                    title=spec.title,
                    window_seconds=float(metrics["windows"]["window_seconds"]),
                    hop_seconds=float(metrics["windows"]["hop_seconds"]),
                    aggregation=str(metrics["aggregation"]["description"]),
                    thresholds=(float(thresholds["crackle"]), float(thresholds["wheeze"])),
                    groups=tuple(_group(group, groups[group]) for group in order),
                    below_baseline=tuple(
                        entry.line()
                        for group in order
                        for entry in icbhi_below_baselines(
                            groups[group]["icbhi"], where=f"{spec.title}, per recording, {group}"
                        )
                    ),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"{path}: not respira evaluate's metrics ({type(error).__name__}: {error})"
            ) from None
    return found, notes


def _percent(value: float | None) -> str:
    return format_score(value, missing="undefined")


def external_rows(validation: ExternalValidation) -> list[list[str]]:
    """The card's table rows of one external validation: group, recordings (patients), ICBHI-style score
    with its 95 % patient-bootstrap interval, specificity, sensitivity, crackle and wheeze AUC (in %)."""
    rows = []
    for group in validation.groups:
        rows.append(
            [
                group.name,
                f"{group.recordings} ({group.patients})",
                format_score(group.icbhi_score, group.icbhi_score_ci, missing="undefined"),
                _percent(group.specificity),
                _percent(group.sensitivity),
                _percent(group.auc_crackle),
                _percent(group.auc_wheeze),
            ]
        )
    return rows


def external_eval_results(validations: list[ExternalValidation]) -> list[EvalResult]:
    """``model-index`` results: each external validation's ICBHI-style score over all its recordings."""
    return [
        EvalResult(
            task_type="audio-classification",
            task_name="Respiratory sound classification",
            dataset_type=validation.corpus,
            dataset_name=validation.title,
            dataset_split="all",
            metric_type=HUB_METRIC_ID,
            metric_args=HUB_METRIC_ARGS["icbhi_score"],
            metric_name="External ICBHI-style score per recording (%)",
            metric_value=round(100 * validation.overall.icbhi_score, PERCENT_DECIMALS),
        )
        for validation in validations
        if validation.overall.icbhi_score is not None
    ]

"""What a model folder's results say on its card: result tables, ``model-index`` results, sites, external
validation.

* The result tables: :data:`MAIN_METRICS` (:func:`main_metric_rows`), the others (:func:`other_result_rows`),
  each seed's (:func:`per_seed_rows`).
* ``model-index`` results (in %): ICBHI score, specificity and sensitivity on the test split
  (:func:`eval_results_on_test`), then every site the folder's recorded evaluations scored, in domain and
  held out, each beside its all-normal baseline (:func:`site_eval_results`) or, without them, each external
  validation's score (:func:`external_eval_results`).
* :func:`site_rows`: the serve table, from :func:`respira.pretrained.site_verdicts`, so the card's table,
  its metadata, ``respira predict``'s line and README's table say one thing: a site is served
  only where the score's 95 % interval lies above all-normal, and a label whose AUC interval reaches
  chance is not detected there.
* :func:`external_validations`: what ``respira evaluate MODEL --dataset CORPUS`` wrote of a
  recording-labelled corpus (``MODEL/evaluation_<corpus>/metrics.json``, with the weights it scored:
  :func:`scored_model`), kept only while it is this folder's own model (same weights and thresholds, not
  trained on that corpus); each one left out is said (:class:`StaleEvaluationWarning`).

Scores are percentages with one decimal (:func:`respira.utils.tables.format_percent`).
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

from ..data.corpora import CORPORA, get_corpus
from ..metrics.baselines import icbhi_below_baselines
from ..pretrained import SITE_FIT_PROTOCOL, SiteVerdict
from ..pretrained.sites import number_or_none
from ..run_record import SeedResult
from ..utils.tables import PERCENT_DECIMALS, format_percent, format_score
from .checksums import sha256_of

__all__ = [
    "ALL_NORMAL_METRIC",
    "HUB_METRIC_ARGS",
    "HUB_METRIC_ID",
    "MAIN_METRICS",
    "MODEL_INDEX_METRICS",
    "ExternalValidation",
    "StaleEvaluationWarning",
    "eval_results_on_test",
    "external_eval_results",
    "external_validations",
    "format_metric",
    "held_out_titles",
    "main_metric_rows",
    "other_result_rows",
    "per_seed_rows",
    "scored_model",
    "site_eval_results",
    "site_rows",
]

MODEL_INDEX_METRICS: dict[str, str] = {
    "icbhi_score": "ICBHI score",
    "specificity": "Specificity",
    "sensitivity": "Sensitivity (strict)",
}
"""Test metrics stated as ``model-index`` results (and in the per-seed table), with their labels."""
HUB_METRIC_ID = "recall"
"""The Hub metric id (https://hf.co/metrics) of the three ICBHI metrics: each is a recall. Specificity
is the recall of ``normal`` cycles, sensitivity the micro-averaged recall of the abnormal classes (a cycle
counts only with its exact class), the ICBHI score their mean; ``args`` in the model-index says which."""
HUB_METRIC_ARGS: dict[str, dict[str, Any]] = {
    "specificity": {"labels": ["normal"], "average": "micro"},
    "sensitivity": {"labels": ["crackle", "wheeze", "both"], "average": "micro"},
    "icbhi_score": {"average": "icbhi", "mean_of": ["specificity", "sensitivity"]},
}
ALL_NORMAL_METRIC = "All-normal baseline (%)"
"""The ``model-index`` metric name of the all-normal baseline beside each site's score."""
SITE_SPLITS = {
    "in domain": "patient-wise cross-validation",
    "held out": "all",
    SITE_FIT_PROTOCOL: "nested patient-wise cross-validation",
}
"""The ``model-index`` split of each protocol: the recipe's folds of the training corpus, all of a
corpus the model never heard, or fit-site's nested folds of the site it was fitted to."""
PROTOCOL_NAMES = {"in domain": "In-domain", "held out": "Held-out", SITE_FIT_PROTOCOL: "Site-fit nested-CV"}
OVERALL = "overall"
"""The group of all recordings in ``metrics.json`` (the others are the corpus's groups, e.g. filter modes)."""


# --------------------------------------------------------------------------------------------- tables
MAIN_METRICS: dict[str, str] = {  # a test metric (without the "test_" prefix) -> its label in the card
    "icbhi_score": "ICBHI score",
    "specificity": "Specificity",
    "sensitivity": "Sensitivity (strict, official)",
    "binary_sensitivity": "Binary sensitivity (not official)",
    "binary_icbhi_score": "Binary ICBHI score (not official)",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro F1",
    "patient_icbhi_score": "Per-patient ICBHI score",
    "patient_specificity": "Per-patient specificity",
    "patient_sensitivity": "Per-patient sensitivity",
}


def format_metric(name: str, value: float | None, std: float | None = None) -> str:
    """``61.2`` or ``61.2 ± 0.9`` (percent, :func:`respira.utils.tables.format_percent`); counts
    (``num_*``) as integers."""
    if name.startswith("num_"):
        if value is None:
            return "undefined"
        if std is None or math.isnan(std):
            return f"{round(value)}" if not math.isnan(value) else "undefined"
        return f"{value:.1f} ± {std:.1f}"
    text = format_percent(value, missing="undefined")
    if std is not None and value is not None and not math.isnan(std):
        text += f" ± {format_percent(std, missing='undefined')}"
    return text


def main_metric_rows(
    metrics: Mapping[str, float | None], std: Mapping[str, float | None]
) -> list[dict[str, str]]:
    """The :data:`MAIN_METRICS` that ``metrics`` holds, in that order: ``label`` and ``value`` (± ``std``)."""
    return [
        {"label": label, "value": format_metric(name, metrics[name], std.get(name))}
        for name, label in MAIN_METRICS.items()
        if name in metrics
    ]


def other_result_rows(
    metrics: Mapping[str, float | None], std: Mapping[str, float | None]
) -> list[dict[str, str]]:
    """The metrics of ``metrics`` besides the :data:`MAIN_METRICS`, by name: ``name`` and ``value``."""
    return [
        {"name": name, "value": format_metric(name, value, std.get(name))}
        for name, value in sorted(metrics.items())
        if name not in MAIN_METRICS
    ]


def per_seed_rows(results: list[SeedResult]) -> tuple[list[str], list[list[str]]]:
    """The per-seed table (header, rows) of the :data:`MODEL_INDEX_METRICS`; empty for one seed."""
    if len(results) < 2:
        return [], []
    names = [n for n in MODEL_INDEX_METRICS if any(n in result.test for result in results)]
    rows = [
        [
            str(result.seed) if result.fold is None else f"{result.seed} (fold {result.fold})",
            *(format_metric(n, result.test.get(n)) for n in names),
        ]
        for result in results
    ]
    return [MODEL_INDEX_METRICS[n] for n in names], rows


# --------------------------------------------------------------------------------------------- model-index
def _hub_percent(value: float) -> float:
    return round(100 * value, PERCENT_DECIMALS)


def _eval_result(
    dataset: tuple[str, str, str | None], split: str, name: str, value: float, args: Any
) -> EvalResult:
    """One ``model-index`` result; ``dataset``: its type (id), name and config."""
    return EvalResult(
        task_type="audio-classification",
        task_name="Respiratory sound classification",
        dataset_type=dataset[0],
        dataset_name=dataset[1],
        dataset_config=dataset[2],
        dataset_split=split,
        metric_type=HUB_METRIC_ID,
        metric_args=args,
        metric_name=name,
        metric_value=value,
    )


def eval_results_on_test(
    metrics: Mapping[str, float | None],
    std: Mapping[str, float | None],
    seeds: int,
    dataset: tuple[str, str, str | None],
) -> list[EvalResult]:
    """``model-index`` results: the :data:`MODEL_INDEX_METRICS` on the test split (``std`` said when there
    were several ``seeds``); ``dataset``: the training data's type (id), name and config."""
    results = []
    for name, label in MODEL_INDEX_METRICS.items():
        value = metrics.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        suffix = ""
        if std.get(name) is not None and seeds > 1:
            suffix = f", mean over {seeds} seeds, std {100 * std[name]:.{PERCENT_DECIMALS}f}"
        shown = f"Test {label} (%{suffix})"
        results.append(
            _eval_result(dataset, "test", shown, _hub_percent(float(value)), HUB_METRIC_ARGS[name])
        )
    return results


def site_eval_results(verdicts: list[SiteVerdict]) -> list[EvalResult]:
    """``model-index`` results: per site, its ICBHI-style score (``args`` hold the 95 % interval and
    whether it serves there) and the all-normal baseline of the same samples."""
    results = []
    for verdict in verdicts:
        dataset = (verdict.site, get_corpus(verdict.site).title, verdict.unit)
        split = SITE_SPLITS.get(verdict.protocol, "all")
        args = dict(HUB_METRIC_ARGS["icbhi_score"], serves=verdict.serves)
        if verdict.interval is not None:
            args["interval_95"] = [_hub_percent(end) for end in verdict.interval]
        protocol = PROTOCOL_NAMES.get(verdict.protocol, "Held-out")
        name = f"{protocol} ICBHI-style score per {verdict.unit.removesuffix('s')} (%)"
        results.append(_eval_result(dataset, split, name, _hub_percent(verdict.score), args))
        baseline = {"baseline": "all_normal"}
        results.append(
            _eval_result(dataset, split, ALL_NORMAL_METRIC, _hub_percent(verdict.all_normal), baseline)
        )
    return results


def external_eval_results(validations: list[ExternalValidation]) -> list[EvalResult]:
    """``model-index`` results: each external validation's ICBHI-style score over all its recordings."""
    name, args = "External ICBHI-style score per recording (%)", HUB_METRIC_ARGS["icbhi_score"]
    return [
        _eval_result((item.corpus, item.title, None), "all", name, _hub_percent(item.icbhi_score), args)
        for item in validations
        if item.icbhi_score is not None
    ]


# --------------------------------------------------------------------------------------------- sites
def _serves(verdict: SiteVerdict) -> str:
    if verdict.serves:
        gain = verdict.gain is not None and verdict.gain[1] is not None
        fitted = ", gain over the model as is above 0" if gain else ", above the model as is"
        return f"yes: interval above all-normal{fitted if verdict.as_is is not None else ''}"
    if verdict.interval is None:
        return "**no**: no interval to show it beats all-normal"
    missing = [
        ("all-normal", verdict.clears_all_normal),
        ("the model as is", verdict.beats_as_is is not False),
    ]
    return "**no**: not shown to beat " + " or ".join(name for name, shown in missing if not shown)


def site_rows(verdicts: list[SiteVerdict]) -> list[list[str]]:
    """One row per site: site, protocol, what was scored, its ICBHI-style score with the 95 % interval,
    the all-normal baseline of the same samples, whether it serves there, and the labels not detected."""
    return [
        [
            verdict.name or get_corpus(verdict.site).title,
            verdict.protocol,
            f"{verdict.count} {verdict.unit}",
            format_score(verdict.score, verdict.interval),
            format_score(verdict.all_normal),
            _serves(verdict),
            ", ".join(
                f"{auc.label} (AUC {format_score(auc.auc, auc.interval)})" for auc in verdict.not_detected
            )
            or "none",
        ]
        for verdict in verdicts
    ]


def held_out_titles(verdicts: list[SiteVerdict], validations: list[ExternalValidation]) -> list[str]:
    """The corpora the model was scored on and never trained on (its held-out sites), in order."""
    titles = [get_corpus(v.site).title for v in verdicts if v.protocol == "held out"]
    return list(dict.fromkeys([*titles, *(external.title for external in validations)]))


# --------------------------------------------------------------------------------------------- external
class StaleEvaluationWarning(UserWarning):
    """An evaluation in a model folder is left off its card: not of this model, or not out of sample."""


def scored_model(model: str | Path) -> dict[str, Any]:
    """What ``respira evaluate`` records of the model it scored (``metrics.json``'s ``model``): the SHA-256
    of its ``model.safetensors``."""
    weights = Path(model).expanduser() / SAFE_WEIGHTS_NAME
    return {"weights_sha256": sha256_of(weights) if weights.is_file() else None}


@dataclass(frozen=True)
class ExternalValidation:
    """One corpus's recording-level scores of this model, as the card shows them."""

    corpus: str
    title: str
    window_seconds: float
    hop_seconds: float
    aggregation: str
    thresholds: tuple[float, float]
    icbhi_score: float | None
    """The ICBHI-style score of all the recordings."""
    rows: tuple[tuple[str, ...], ...]
    """The card's table, one row per group (all recordings first): group, recordings (patients),
    ICBHI-style score with its 95 % patient-bootstrap interval, specificity, sensitivity, crackle and
    wheeze AUC (in %)."""
    below_baseline: tuple[str, ...] = ()
    """The groups whose ICBHI-style score does not beat its trivial baseline, one sentence each."""


def _row(name: str, scores: Mapping[str, Any]) -> tuple[str, ...]:
    icbhi = scores["icbhi"]
    low, high = (icbhi.get("ci") or {}).get("icbhi_score") or (None, None)
    values = (icbhi.get("specificity"), icbhi.get("sensitivity"), scores["crackle"].get("auc"))
    return (
        name,
        f"{int(scores['num_recordings'])} ({int(scores['num_patients'])})",
        format_score(
            number_or_none(icbhi.get("icbhi_score")),
            (number_or_none(low), number_or_none(high)),
            missing="undefined",
        ),
        *(
            format_score(number_or_none(v), missing="undefined")
            for v in (*values, scores["wheeze"].get("auc"))
        ),
    )


def external_validations(folder: str | Path) -> tuple[list[ExternalValidation], list[str]]:
    """This model's external validations found in ``folder`` (``evaluation_<corpus>/metrics.json`` of
    every registered recording-labelled corpus that the folder claims:
    :func:`respira.pretrained.why_not_claimed`), and why each one left out was; every group whose score
    does not beat its trivial baseline is said so."""
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
                    icbhi_score=number_or_none(groups[OVERALL]["icbhi"].get("icbhi_score")),
                    rows=tuple(_row(group, groups[group]) for group in order),
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

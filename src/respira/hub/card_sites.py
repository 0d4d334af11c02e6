"""The sites a model folder was scored on, on its card: the serve table and the ``model-index`` results.

Both come from :func:`respira.pretrained.site_verdicts` (the evaluations the folder records), so the
card's table, its metadata, ``respira predict``'s line, the app and README's table say one thing: a site
is served only where the score's 95 % interval lies above all-normal, and a label whose AUC interval
reaches chance is not detected there. Scores are percentages with one decimal
(:func:`respira.utils.tables.format_percent`).
"""

from __future__ import annotations

from typing import Any

from huggingface_hub import EvalResult

from ..data.corpora import get_corpus
from ..pretrained import SITE_FIT_PROTOCOL, SiteVerdict
from ..utils.tables import PERCENT_DECIMALS, format_percent, format_score
from .card_fields import HUB_METRIC_ARGS, HUB_METRIC_ID

__all__ = ["ALL_NORMAL_METRIC", "site_eval_results", "site_rows"]

ALL_NORMAL_METRIC = "All-normal baseline (%)"
"""The ``model-index`` metric name of the all-normal baseline beside each site's score."""
SPLITS = {
    "in domain": "patient-wise cross-validation",
    "held out": "all",
    SITE_FIT_PROTOCOL: "nested patient-wise cross-validation",
}
"""The ``model-index`` split of each protocol: the recipe's folds of the training corpus, all of a
corpus the model never heard, or fit-site's nested folds of the site it was fitted to."""
PROTOCOL_NAMES = {"in domain": "In-domain", "held out": "Held-out", SITE_FIT_PROTOCOL: "Site-fit nested-CV"}


def _serves(verdict: SiteVerdict) -> str:
    if verdict.serves:
        return "yes: interval above all-normal"
    if verdict.interval is None:
        return "**no**: no interval to show it beats all-normal"
    return "**no**: not shown to beat all-normal"


def _not_detected(verdict: SiteVerdict) -> str:
    missed = verdict.not_detected
    return ", ".join(f"{auc.label} (AUC {format_score(auc.auc, auc.interval)})" for auc in missed)


def site_rows(verdicts: list[SiteVerdict]) -> list[list[str]]:
    """One row per site: site, protocol, what was scored, its ICBHI-style score with the 95 % interval,
    the all-normal baseline of the same samples, whether it serves there, and the labels not detected."""
    return [
        [
            get_corpus(verdict.site).title,
            verdict.protocol,
            f"{verdict.count} {verdict.unit}",
            format_score(verdict.score, verdict.interval),
            format_percent(verdict.all_normal),
            _serves(verdict),
            _not_detected(verdict) or "none",
        ]
        for verdict in verdicts
    ]


def _percent(value: float) -> float:
    return round(100 * value, PERCENT_DECIMALS)


def site_eval_results(verdicts: list[SiteVerdict]) -> list[EvalResult]:
    """``model-index`` results: per site, its ICBHI-style score (``args`` hold the 95 % interval and
    whether it serves there) and the all-normal baseline of the same samples, in %."""
    results = []
    for verdict in verdicts:
        spec = get_corpus(verdict.site)
        where: dict[str, Any] = {
            "task_type": "audio-classification",
            "task_name": "Respiratory sound classification",
            "dataset_type": verdict.site,
            "dataset_name": spec.title,
            "dataset_config": verdict.unit,
            "dataset_split": SPLITS.get(verdict.protocol, "all"),
            "metric_type": HUB_METRIC_ID,
        }
        args = dict(HUB_METRIC_ARGS["icbhi_score"], serves=verdict.serves)
        if verdict.interval is not None:
            args["interval_95"] = [_percent(end) for end in verdict.interval]
        protocol = PROTOCOL_NAMES.get(verdict.protocol, "Held-out")
        results.append(
            EvalResult(
                **where,
                metric_args=args,
                metric_name=f"{protocol} ICBHI-style score per {verdict.unit.removesuffix('s')} (%)",
                metric_value=_percent(verdict.score),
            )
        )
        results.append(
            EvalResult(
                **where,
                metric_args={"baseline": "all_normal"},
                metric_name=ALL_NORMAL_METRIC,
                metric_value=_percent(verdict.all_normal),
            )
        )
    return results

"""Fit a model to a site and judge it out of sample: nested patient-wise cross-validation
(:func:`fit_sample`) and a learning curve (:func:`learning_curve`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..pretrained.site_fit import candidate_row, site_fit_verdict
from .choice import FittedRule, fit_procedure, unit_folds
from .options import CANDIDATES
from .scores import paired_gain, recording_classes, scores_with_intervals
from .site_sample import SiteSample

ROWS: tuple[str, ...] = (*CANDIDATES, "chosen", "all_normal")
"""The rows of an out-of-sample table: each candidate for both labels, the chosen procedure, all-normal."""


def held_out_scores(
    sample: SiteSample, rules: dict[str, FittedRule], held: np.ndarray, into: dict[str, Any]
) -> None:
    """Each rule's classes and probabilities of the recordings ``held``, written into ``into``."""
    part = sample.subset(held)
    for name, rule in rules.items():
        probabilities = rule.probabilities(part)
        classes, stored = into.setdefault(
            name, (np.zeros(len(sample.recordings), np.int64), np.zeros((len(sample.recordings), 2)))
        )
        classes[held] = recording_classes(probabilities, rule.thresholds)
        stored[held] = probabilities


@dataclass(frozen=True)
class SiteFit:
    """What :func:`fit_sample` fitted (the final head in the raw embedding space, ``None`` without a linear
    head) and its nested-CV scores with intervals (``outer``: one row per :data:`ROWS`)."""

    chosen: tuple[str, str]
    head_weight: np.ndarray | None
    head_bias: np.ndarray | None
    thresholds: tuple[float, float]
    outer: list[dict[str, Any]]
    folds: np.ndarray
    chosen_by_fold: list[tuple[str, str]]
    recordings: int
    units: int
    units_are_patients: bool
    penalties: dict[str, list[int | None]] = field(default_factory=dict)
    aggregation: str = "max"
    top_k: int | None = None
    rules_by_fold: list[tuple[str, int | None]] = field(default_factory=list)

    def row(self, candidate: str) -> Mapping[str, Any]:
        """The out-of-sample row of ``candidate`` (one of :data:`ROWS`)."""
        return candidate_row(self.outer, candidate)

    @property
    def applies(self) -> bool:
        """Whether it is shown out of sample to beat all-normal and the model as is (its card's rule)."""
        verdict = site_fit_verdict(self.outer, "")
        return verdict is not None and verdict.serves

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready record of the fit (heads as nested lists; NaN as ``None``)."""
        from ..utils.files import nan_to_none

        return nan_to_none(
            {
                "chosen": {"crackle": self.chosen[0], "wheeze": self.chosen[1]},
                "applies": self.applies,
                "thresholds": list(self.thresholds),
                "head_weight": None if self.head_weight is None else self.head_weight.tolist(),
                "head_bias": None if self.head_bias is None else self.head_bias.tolist(),
                "outer": self.outer,
                "folds": self.folds.tolist(),
                "chosen_by_fold": [list(pair) for pair in self.chosen_by_fold],
                "recordings": self.recordings,
                "units": self.units,
                "units_are_patients": self.units_are_patients,
                "penalties": self.penalties,
                "recording_aggregation": self.aggregation,
                "recording_top_k": self.top_k,
                "recording_rules_by_fold": [list(rule) for rule in self.rules_by_fold],
            }
        )


def fit_sample(
    sample: SiteSample, *, outer_folds: int = 5, seed: int = 0, resamples: int = 1000, **options: Any
) -> SiteFit:
    """Nested patient-wise cross-validation on ``sample``, then the procedure on all of it (``options``:
    :func:`~respira.sites.choice.fit_procedure`'s keywords)."""
    folds = unit_folds(sample, outer_folds, seed)
    predicted: dict[str, Any] = {}
    chosen_by_fold = []
    rules_by_fold: list[tuple[str, int | None]] = []
    for fold in range(int(folds.max()) + 1):
        held = np.flatnonzero(folds == fold)
        procedure = fit_procedure(sample, np.flatnonzero(folds != fold), seed=seed, **options)
        chosen_by_fold.append(procedure.chosen)
        rules_by_fold.append((procedure.aggregation, procedure.top_k))
        held_out_scores(sample, procedure.rules, held, predicted)
    predicted["all_normal"] = (np.zeros(len(sample.recordings), np.int64), None)
    everything = np.ones(len(sample.recordings), dtype=bool)
    outer = []
    for name in (name for name in ROWS if name in predicted):
        part = (everything, *predicted[name])
        scores = scores_with_intervals(sample.labels, sample.units, [part], resamples=resamples, seed=seed)
        if name == "chosen":  # paired with the model as is on the same resamples
            scores |= paired_gain(
                sample.labels, sample.units, predicted["chosen"][0], predicted["as_is"][0],
                key="gain_over_as_is", resamples=resamples, seed=seed,
            )  # fmt: skip
        outer.append({"candidate": name, **scores})
    final = fit_procedure(sample, seed=seed, **options)
    weight = bias = None
    if sample.base_head is not None:
        weight = np.array(sample.base_head[0], dtype=np.float64, copy=True)
        bias = np.array(sample.base_head[1], dtype=np.float64, copy=True)
        for label, head in enumerate(final.rules["chosen"].heads):
            if head is not None:
                weight[label], bias[label] = head.weight, head.bias
    return SiteFit(
        chosen=final.chosen,
        head_weight=weight,
        head_bias=bias,
        thresholds=final.rules["chosen"].thresholds,
        outer=outer,
        folds=folds,
        chosen_by_fold=chosen_by_fold,
        recordings=len(sample.recordings),
        units=len(set(sample.units)),
        units_are_patients=sample.units_are_patients,
        penalties=final.penalties,
        aggregation=final.aggregation,
        top_k=final.top_k,
        rules_by_fold=rules_by_fold,
    )


@dataclass(frozen=True)
class LearningCurve:
    """:func:`learning_curve`'s ``rows``, one per (``units``, ``draw``, ``candidate``), and ``summary``, one
    per (``units``, ``candidate``): the mean over draws with a patient-bootstrap interval; ``parts``, per
    (``units``, ``candidate``), each draw's ``(scored mask, classes, probabilities)``; ``drawn``, per size,
    each draw's labelled units."""

    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    parts: dict[tuple[int, str], list[tuple[np.ndarray, np.ndarray, Any]]] = field(default_factory=dict)
    drawn: dict[int, list[list[str]]] = field(default_factory=dict)


def default_sizes(units: int, folds: int = 5) -> list[int]:
    """5, 10, 20, 40, ... labelled units below all but a fold's worth, then all but a fold."""
    most = units - math.ceil(units / folds)
    sizes = [size for size in (5 * 2**i for i in range(20)) if size < most]
    return [*sizes, most] if most >= 2 else sizes


def _draw(sample: SiteSample, size: int, rng: np.random.Generator) -> np.ndarray | None:
    """``size`` random units whose recordings, and the others', hold a normal and an abnormal one (200
    tries); ``None`` when none was found."""
    names = np.array(sorted(set(sample.units)), dtype=object)
    for _ in range(200):
        drawn = set(rng.choice(names, size=size, replace=False).tolist())
        inside = np.array([unit in drawn for unit in sample.units])
        for part in (inside, ~inside):
            if not ((sample.classes[part] == 0).any() and (sample.classes[part] != 0).any()):
                break
        else:
            return inside
    return None


def draw_scores(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[int, list[float]]]:
    """A learning curve's rows as candidate → labelled units → each draw's score (undefined ones left out)."""
    scores: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        score = row.get("icbhi_score")
        if isinstance(score, (int, float)) and not math.isnan(score):
            name = str(row.get("candidate", "chosen"))
            scores.setdefault(name, {}).setdefault(int(row["units"]), []).append(float(score))
    return scores


def learning_curve(
    sample: SiteSample,
    *,
    sizes: Sequence[int] | None = None,
    draws: int = 3,
    seed: int = 0,
    resamples: int = 1000,
    given: Mapping[int, Sequence[Sequence[str]]] | None = None,
    **options: Any,
) -> LearningCurve:
    """Out-of-sample scores by labelled units: per size, ``draws`` seeded draws fitted on that many units
    (or the units ``given`` per size, each draw's) and scored on all the others."""
    count = len(set(sample.units))
    chosen_sizes = list(sizes) if sizes is not None else default_sizes(count)
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    curve = LearningCurve(rows, summary)
    for size in chosen_sizes:
        if not 2 <= size < count:
            raise ValueError(f"a learning curve's sizes must lie in 2 .. {count - 1} units, got {size}")
        parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]] = {}
        for draw in range(draws if given is None else len(given[size])):
            if given is None:
                inside = _draw(sample, size, np.random.default_rng([seed, size, draw]))
            else:
                inside = np.isin(np.asarray(sample.units, dtype=str), np.asarray(given[size][draw], str))
            if inside is None:
                continue
            units = np.asarray(sample.units, dtype=str)
            curve.drawn.setdefault(size, []).append(sorted(set(units[inside].tolist())))
            procedure = fit_procedure(sample, np.flatnonzero(inside), seed=seed, **options)
            predicted: dict[str, Any] = {}
            held_out_scores(sample, procedure.rules, np.flatnonzero(~inside), predicted)
            predicted["all_normal"] = (np.zeros(len(sample.recordings), np.int64), None)
            for name in (name for name in ROWS if name in predicted):
                part = (~inside, *predicted[name])
                parts.setdefault(name, []).append(part)
                scores = scores_with_intervals(
                    sample.labels, sample.units, [part], resamples=resamples, seed=seed
                )
                rows.append(
                    {
                        "units": size,
                        "draw": draw,
                        "candidate": name,
                        "chosen": "/".join(procedure.chosen),
                        "recording_aggregation": procedure.aggregation,
                        "recording_top_k": procedure.top_k,
                        **scores,
                    }
                )
        for name, drawn in parts.items():
            scores = scores_with_intervals(sample.labels, sample.units, drawn, resamples=resamples, seed=seed)
            summary.append({"units": size, "candidate": name, "draws": len(drawn), **scores})
            curve.parts[size, name] = drawn
    return curve

"""Fit a model to a site and judge it out of sample (:data:`SITE`): nested patient-wise cross-validation
(:func:`fit_sample`) and a learning curve (:func:`learning_curve`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..evaluation.protocol import Protocol
from ..metrics.recording_level import paired_gain, scores_with_intervals
from ..models.respira.labels import MULTI_LABEL_NAMES, classes_to_flags
from ..records.site_fit import FIT_EVIDENCE, candidate_row, site_fit_verdict
from ..records.site_verdict import LabelServe, number_or_none, number_pair
from .choice import FittedRule, fit_procedure, unit_folds, unmeasurable_labels
from .options import CANDIDATES, GIVEN
from .scores import recording_classes
from .site_sample import SiteSample

ROWS: tuple[str, ...] = (*CANDIDATES, "chosen", "all_normal")
"""The rows of an out-of-sample table: each candidate for both labels, the chosen procedure, all-normal."""
SITE = Protocol(
    name="site",
    columns=(),  # a labelled folder's recordings: read_site_recordings checks them
    needs="fit-site needs each recording's patient and its crackle and wheeze flags",
    unit="recording",
    runs="embed",
    grouping="patients: whole ones per outer fold and learning-curve draw, resampled within their strata",
    files=FIT_EVIDENCE,
)
"""fit-site's held-out scoring: each recording embedded once, each candidate scored on the patients it was
not fitted on (:func:`scored_rows`); its record written in the site folder (``SiteFitRecord.save``)."""


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


def scored_rows(
    sample: SiteSample, predicted: dict[str, Any], scored: np.ndarray, resamples: int, seed: int
) -> Iterator[tuple[str, tuple[np.ndarray, np.ndarray, Any], dict[str, float]]]:
    """Each of :data:`ROWS` ``predicted`` (all-normal added) with its part (``scored``: the recordings held
    out) and its scores with patient-bootstrap intervals."""
    predicted["all_normal"] = (np.zeros(len(sample.recordings), np.int64), None)
    settings = {"resamples": resamples, "seed": seed}
    for name in (name for name in ROWS if name in predicted):
        part = (scored, *predicted[name])
        yield name, part, scores_with_intervals(sample.labels, sample.units, [part], **settings)


@dataclass(frozen=True)
class SiteFit:
    """What :func:`fit_sample` fitted (the final head in the raw embedding space, ``None`` without a linear
    head) and its nested-CV scores with intervals (``outer``: one row per :data:`ROWS`, of the procedure
    written: the labels ``kept`` as the model has them); ``labels``: each label served or kept, and why."""

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
    labels: tuple[LabelServe, ...] = ()
    kept: tuple[int, ...] = ()
    """The labels (0 crackle, 1 wheeze) left as the model has them: their own gain not shown, or the final
    fit chose the model as is for them while it moved the recording rule."""

    def row(self, candidate: str) -> Mapping[str, Any]:
        """The out-of-sample row of ``candidate`` (one of :data:`ROWS`)."""
        return candidate_row(self.outer, candidate)

    @property
    def applies(self) -> bool:
        """Whether it is shown out of sample to beat all-normal and the model as is, with at least one label
        served by its own gain (its card's rule)."""
        verdict = site_fit_verdict(self.outer, "")
        served = not self.labels or any(label.served for label in self.labels)
        return verdict is not None and verdict.serves and served

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
                "kept": list(self.kept),
            }
        )


@dataclass
class _Outer:
    """One nested cross-validation of the procedure: its rows and held-out predictions, per fold's choice."""

    rows: list[dict[str, Any]]
    predicted: dict[str, Any]
    chosen_by_fold: list[tuple[str, str]]
    rules_by_fold: list[tuple[str, int | None]]


def _nested(
    sample: SiteSample, folds: np.ndarray, seed: int, resamples: int, options: Mapping[str, Any]
) -> _Outer:
    """Each outer fold's procedure fitted on the other folds and scored on it, with intervals."""
    predicted: dict[str, Any] = {}
    chosen_by_fold = []
    rules_by_fold: list[tuple[str, int | None]] = []
    for fold in range(int(folds.max()) + 1):
        held = np.flatnonzero(folds == fold)
        procedure = fit_procedure(sample, np.flatnonzero(folds != fold), seed=seed, **options)
        chosen_by_fold.append(procedure.chosen)
        rules_by_fold.append((procedure.aggregation, procedure.top_k))
        held_out_scores(sample, procedure.rules, held, predicted)
    outer = []
    everything = np.ones(len(sample.recordings), dtype=bool)
    for name, _, scores in scored_rows(sample, predicted, everything, resamples, seed):
        gain = {} if name != "chosen" else paired_gain(  # paired with the model as is on the same resamples
            sample.labels, sample.units, predicted["chosen"][0], predicted["as_is"][0],
            key="gain_over_as_is", resamples=resamples, seed=seed,
        )  # fmt: skip
        outer.append({"candidate": name, **scores, **gain})
    return _Outer(outer, predicted, chosen_by_fold, rules_by_fold)


def label_gains(sample: SiteSample, nested: _Outer, resamples: int, seed: int) -> list[dict[str, float]]:
    """Per label, its own gain: its own ICBHI-style score (sensitivity on the recordings with it,
    specificity on those without) as the nested cross-validation's chosen procedure decided it, minus the
    model as is's, paired on the same resamples."""
    chosen, as_is = (classes_to_flags(nested.predicted[name][0]) for name in ("chosen", "as_is"))
    return [
        paired_gain(
            sample.labels,
            sample.units,
            chosen[:, label],
            as_is[:, label],
            key="gain",
            resamples=resamples,
            seed=seed,
            label=label,
        )
        for label in range(len(MULTI_LABEL_NAMES))
    ]


def _label_serve(label: int, row: Mapping[str, Any], gain: Mapping[str, float], why: str) -> LabelServe:
    """A label's evidence from one nested cross-validation (the candidate is set by the final fit)."""
    name = MULTI_LABEL_NAMES[label]
    auc = number_or_none(row.get(f"{name}_auc"))
    auc_interval = number_pair([row.get(f"{name}_auc_low"), row.get(f"{name}_auc_high")])
    gain_interval = number_pair([gain["gain_low"], gain["gain_high"]])
    return LabelServe(name, "", number_or_none(gain["gain"]), gain_interval, auc, auc_interval, why=why)


def fit_sample(
    sample: SiteSample, *, outer_folds: int = 5, seed: int = 0, resamples: int = 1000, **options: Any
) -> SiteFit:
    """Nested patient-wise cross-validation on ``sample``; a label whose own gain it does not show is kept as
    the model has it and the procedure judged again without it (not under the selection
    :data:`~respira.sites.options.GIVEN`); then the procedure on all of it (``options``:
    :func:`~respira.sites.choice.fit_procedure`'s keywords)."""
    folds = unit_folds(sample, outer_folds, seed)
    alone = unmeasurable_labels(sample.labels)
    own = (sample.aggregation, sample.top_k)
    kept: set[int] = set()
    evidence: dict[int, LabelServe] = {}
    while True:
        nested = _nested(sample, folds, seed, resamples, {**options, "keep": sorted(kept)})
        gains = label_gains(sample, nested, resamples, seed)
        chosen_row = candidate_row(nested.rows, "chosen")
        for label in (label for label in range(len(MULTI_LABEL_NAMES)) if label not in kept):
            evidence[label] = _label_serve(label, chosen_row, gains[label], alone.get(label, ""))
        failing = {label for label, found in evidence.items() if label not in kept | set(alone)}
        failing = {label for label in failing if not evidence[label].shown}
        if options.get("selection") == GIVEN:  # chosen elsewhere (fit-site --chosen_by): no label kept
            failing = set()
        if not failing:
            final = fit_procedure(sample, seed=seed, keep=sorted(kept), **options)
            # a label the final fit keeps as is stays at the model's own recording rule too
            moved = (final.aggregation, final.top_k) != own
            failing = {i for i, how in enumerate(final.chosen) if moved and how == "as_is" and i not in alone}
        if not failing - kept:
            break
        kept |= failing
    weight = bias = None
    if sample.base_head is not None:
        weight = np.array(sample.base_head[0], dtype=np.float64, copy=True)
        bias = np.array(sample.base_head[1], dtype=np.float64, copy=True)
        for label, head in enumerate(final.rules["chosen"].heads):
            if head is not None:
                weight[label], bias[label] = head.weight, head.bias
    given = options.get("selection") == GIVEN
    labels = tuple(
        replace(evidence[label], candidate=final.chosen[label], given=given)
        for label in range(len(MULTI_LABEL_NAMES))
    )
    return SiteFit(
        chosen=final.chosen,
        head_weight=weight,
        head_bias=bias,
        thresholds=final.rules["chosen"].thresholds,
        outer=nested.rows,
        folds=folds,
        chosen_by_fold=nested.chosen_by_fold,
        recordings=len(sample.recordings),
        units=len(set(sample.units)),
        units_are_patients=sample.units_are_patients,
        penalties=final.penalties,
        aggregation=final.aggregation,
        top_k=final.top_k,
        rules_by_fold=nested.rules_by_fold,
        labels=labels,
        kept=tuple(sorted(kept)),
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
            for name, part, scores in scored_rows(sample, predicted, ~inside, resamples, seed):
                parts.setdefault(name, []).append(part)
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

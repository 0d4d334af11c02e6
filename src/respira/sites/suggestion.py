"""Which units (patients, or recordings) a site should label next: :func:`suggest_units`.

The strategies read what the model sees of an archive: a unit's **place** (the mean of its windows' raw
embeddings, standardised over the archive), the model's **call** (abnormal when any of its recordings is,
at the model's own rule and thresholds) and its **doubt** (the smallest logit distance between a
probability and its threshold). Each gives the units in the order to label them, each with a reason:

- ``random``: a seeded random order (the baseline);
- ``uncertainty``: the smallest doubt first (:data:`DEFAULT_STRATEGY`, chosen by ``benchmarks/suggest.py``);
- ``coverage``: k-means++ seeding on the places, from the units labelled or chosen before;
- ``balance``: alternately the unit most surely called abnormal and normal, the class fewer so far first;
- ``hybrid``: ``balance``'s class at each step, ``coverage``'s draw within it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..labels import MULTI_LABEL_NAMES
from .procedure import FittedRule
from .sample import SiteSample

__all__ = ["DEFAULT_STRATEGY", "STRATEGIES", "Suggestion", "UnitView", "suggest_units", "unit_view"]

STRATEGIES: tuple[str, ...] = ("random", "uncertainty", "coverage", "balance", "hybrid")
DEFAULT_STRATEGY = "uncertainty"
"""The strategy ``respira suggest`` uses (BENCHMARKS.md, "Which patients to label first")."""


@dataclass(frozen=True)
class Suggestion:
    """One unit to label next and why it was chosen (one line)."""

    unit: str
    reason: str


@dataclass(frozen=True)
class UnitView:
    """What the strategies know of each unit (in ``units`` order): ``place`` ``[units, hidden]``
    standardised mean embedding, ``probability`` ``[units, 2]`` the model's highest (crackle, wheeze)
    recording probability, ``doubt`` ``[units]`` smallest logit distance to a threshold, ``abnormal``
    ``[units]`` whether the model calls any recording abnormal; ``thresholds`` the model's."""

    units: tuple[str, ...]
    place: np.ndarray
    probability: np.ndarray
    doubt: np.ndarray
    abnormal: np.ndarray
    thresholds: tuple[float, float]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def unit_view(sample: SiteSample) -> UnitView:
    """The :class:`UnitView` of every unit of ``sample`` (units in order of first appearance)."""
    units = tuple(dict.fromkeys(str(unit) for unit in sample.units))
    position = {unit: place for place, unit in enumerate(units)}
    owner = np.array([position[str(unit)] for unit in sample.units], dtype=np.int64)
    window_unit = owner[sample.recording]
    sums = np.zeros((len(units), sample.hidden_size))
    np.add.at(sums, window_unit, sample.embeddings.astype(np.float64))
    means = sums / np.bincount(window_unit, minlength=len(units))[:, None]
    spread = means.std(axis=0)
    place = (means - means.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    thresholds = sample.base_thresholds
    model = FittedRule(heads=(None, None), thresholds=thresholds)
    recording = model.probabilities(sample)  # [recordings, 2], the model's own rule
    distance = np.abs(_logit(recording) - _logit(np.asarray(thresholds))[None, :]).min(axis=1)
    called = (recording >= np.asarray(thresholds)[None, :]).any(axis=1)
    probability = np.zeros((len(units), 2))
    doubt = np.full(len(units), np.inf)
    abnormal = np.zeros(len(units), dtype=bool)
    np.maximum.at(probability, owner, recording)
    np.minimum.at(doubt, owner, distance)
    np.logical_or.at(abnormal, owner, called)
    return UnitView(units, place, probability, doubt, abnormal, (float(thresholds[0]), float(thresholds[1])))


def _call(view: UnitView, index: int) -> str:
    """``the model calls it abnormal (crackle 0.81, wheeze 0.12)``."""
    shown = ", ".join(
        f"{name} {view.probability[index, label]:.2f}" for label, name in enumerate(MULTI_LABEL_NAMES)
    )
    return f"the model calls it {'abnormal' if view.abnormal[index] else 'normal'} ({shown})"


def suggest_units(
    sample: SiteSample,
    budget: int,
    *,
    labelled: Mapping[str, bool] | None = None,
    strategy: str = DEFAULT_STRATEGY,
    seed: int = 0,
    view: UnitView | None = None,
) -> list[Suggestion]:
    """The ``budget`` units of ``sample`` to label next, in order, by ``strategy`` (:data:`STRATEGIES`).

    ``labelled``: the units already labelled → whether any of their recordings is abnormal (they are
    never suggested; ``coverage`` and ``hybrid`` count them as places already covered, ``balance`` and
    ``hybrid`` by their own labels). ``view``: :func:`unit_view` of ``sample`` when already computed.
    Raises a one-line ``ValueError`` for an unknown strategy or a budget outside 1 .. the unlabelled
    units."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    view = view if view is not None else unit_view(sample)
    known = dict(labelled or {})
    pool = [index for index, unit in enumerate(view.units) if unit not in known]
    if not 1 <= budget <= len(pool):
        raise ValueError(
            f"the budget must lie in 1 .. {len(pool)} (the units not yet labelled), got {budget}"
        )
    rng = np.random.default_rng(seed)
    if strategy == "random":
        order = rng.permutation(pool)[:budget]
        return [Suggestion(view.units[i], f"drawn at random; {_call(view, i)}") for i in order]
    if strategy == "uncertainty":
        order = sorted(pool, key=lambda i: (view.doubt[i], i))[:budget]
        return [
            Suggestion(view.units[i], f"the model is unsure: {_call(view, i)}, {view.doubt[i]:.2f} logits "
                       "from a threshold")
            for i in order
        ]  # fmt: skip
    abnormal_known = [index for index, unit in enumerate(view.units) if known.get(unit)]
    centres = [index for index, unit in enumerate(view.units) if unit in known]
    return _greedy(view, pool, budget, centres, len(abnormal_known), strategy, rng)


def _greedy(
    view: UnitView,
    pool: Sequence[int],
    budget: int,
    centres: list[int],
    abnormal_count: int,
    strategy: str,
    rng: np.random.Generator,
) -> list[Suggestion]:
    """``coverage``, ``balance`` and ``hybrid``: one unit at a time (see the module docstring)."""
    left = list(pool)
    normal_count = len(centres) - abnormal_count
    nearest = np.full(len(view.units), np.inf)
    for centre in centres:
        nearest = np.minimum(nearest, ((view.place - view.place[centre]) ** 2).sum(axis=1))
    chosen: list[Suggestion] = []
    while len(chosen) < budget:
        candidates = left
        reason = ""
        if strategy in ("balance", "hybrid"):
            want = abnormal_count <= normal_count  # the class fewer so far (abnormal first on a tie)
            called = [i for i in left if bool(view.abnormal[i]) == want]
            if called:
                candidates = called
                reason = f"balances the classes ({abnormal_count} abnormal, {normal_count} normal so far); "
        if strategy == "balance":
            sureness = view.doubt[candidates]
            pick = candidates[int(np.argmax(sureness))]
            reason += f"{_call(view, pick)}, surely"
        else:
            pick, reason_place = _far_draw(view, candidates, nearest, rng)
            reason += reason_place + f"; {_call(view, pick)}"
        chosen.append(Suggestion(view.units[pick], reason))
        left.remove(pick)
        nearest = np.minimum(nearest, ((view.place - view.place[pick]) ** 2).sum(axis=1))
        if view.abnormal[pick]:
            abnormal_count += 1
        else:
            normal_count += 1
    return chosen


def _far_draw(
    view: UnitView, candidates: Sequence[int], nearest: np.ndarray, rng: np.random.Generator
) -> tuple[int, str]:
    """A k-means++ draw among ``candidates``: probability ∝ squared distance to the nearest centre."""
    squared = nearest[list(candidates)]
    if not np.isfinite(squared).any():  # nothing labelled or chosen yet
        pick = int(candidates[int(rng.integers(len(candidates)))])
        return pick, "the first, drawn at random"
    weights = np.where(np.isfinite(squared), squared, 0.0)
    total = weights.sum()
    place = (
        int(rng.choice(len(candidates), p=weights / total))
        if total > 0
        else int(rng.integers(len(candidates)))
    )
    pick = int(candidates[place])
    spread = float(np.sqrt(np.median(weights)))
    return pick, (
        f"unlike the units labelled or chosen before (distance {np.sqrt(weights[place]):.1f} to the nearest; "
        f"median {spread:.1f})"
    )

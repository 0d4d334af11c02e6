"""Patient-wise, stratified splits of an ICBHI cycle index, so no patient leaks across splits.

A greedy stratified group split in the spirit of scikit-learn's ``StratifiedGroupKFold`` with
arbitrary target fractions: patients, visited largest-and-most-skewed first (seeded jitter), each go to
the split that most reduces the squared deviation of the per-stratum shares and sizes from target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from respira.data.errors import SplitError

from ..models.respira.audio_decoding import is_real

VALIDATION = "validation"
"""Split name given to the rows moved by :func:`carve_validation`."""
_REQUIRE_ALL_HINT = " (pass require_all=None to allow splits without it)"
_SEARCH_HINT = "; try another seed, or require_all=None"
"""How a :class:`SplitError` of :func:`patient_split` ends: the ways out :func:`option_error` replaces."""

_FRACTION_TOLERANCE = 1e-6
_ORDER_JITTER = 0.25  # std of the log-normal jitter of each group's sort key: the seed changes the order
_SIZE_WEIGHT = 1.0  # weight of the split-size term beside the per-stratum terms
_MAX_ATTEMPTS = 64  # seeded orderings tried for a require_all split


def patient_split(
    index: pd.DataFrame,
    fractions: Mapping[str, float],
    *,
    seed: int = 0,
    stratify_by: str | Sequence[str] = "label",
    group_by: str = "patient_id",
    require_all: str | None = "label",
) -> pd.Series:
    """The split (a key of ``fractions``, target shares of the rows summing to 1) of every row, no
    ``group_by`` value on two sides, each split reproducing the ``stratify_by`` distribution; with
    ``require_all`` every value of that column in every split (up to 64 seeded orderings).
    :class:`SplitError` when the groups cannot be split so.
    """
    names, targets = _check_fractions(fractions)
    strata_columns = [stratify_by] if isinstance(stratify_by, str) else list(stratify_by)
    if index[group_by].isna().any():
        raise ValueError(f"column {group_by!r} has missing values; every row needs a group")

    group_codes, group_values = pd.factorize(index[group_by], sort=True)
    n_groups = len(group_values)
    if n_groups < len(names):
        raise SplitError(
            f"cannot split {_count_groups(n_groups, group_by)} into {len(names)} splits; every split needs "
            "at least one group"
        )
    strata_codes = index.groupby(strata_columns, dropna=False, sort=True).ngroup().to_numpy()
    counts = _count_matrix(group_codes, strata_codes, n_groups)

    required: np.ndarray | None = None
    required_values: pd.Index | None = None
    if require_all is not None:
        value_codes, required_values = pd.factorize(index[require_all], sort=True, use_na_sentinel=False)
        required = _count_matrix(group_codes, value_codes, n_groups) > 0
        _check_requirement_feasible(
            required, required_values, len(names), column=require_all, group_by=group_by
        )

    rng = np.random.default_rng(seed)
    missing: list[tuple[int, int]] = []
    for _ in range(_MAX_ATTEMPTS):
        assignment = _greedy_assign(counts, targets, _visiting_order(counts, rng))
        missing = _missing_values(assignment, required, len(names)) if required is not None else []
        if not missing:
            return pd.Series(
                np.asarray(names, dtype=object)[assignment[group_codes]], index=index.index, name="split"
            )

    assert require_all is not None and required is not None and required_values is not None
    carriers = required.sum(axis=0)
    details = "; ".join(
        f"split {names[split]!r} lacks {required_values[value]!r} "
        f"({_count_groups(int(carriers[value]), group_by)} in all have {required_values[value]!r} cycles)"
        for split, value in missing
    )
    raise SplitError(
        f"no assignment puts every {require_all!r} value in every split after {_MAX_ATTEMPTS} attempts "
        f"(seed {seed}; last attempt: {details})" + _SEARCH_HINT
    )


def split_by_fractions(
    index: pd.DataFrame,
    fractions: Sequence[float],
    *,
    seed: int,
    stratify_by: str,
    require_all: str | None = "label",
) -> pd.Series:
    """:func:`patient_split` into ``train``, ``validation`` and ``test`` by a builder's
    ``patient_split_fractions`` (a 0 leaves that split out); its :class:`SplitError` names the option."""
    names = ("train", VALIDATION, "test")
    shares = {name: share for name, share in zip(names, fractions, strict=True) if share > 0}
    try:
        return patient_split(index, shares, seed=seed, stratify_by=stratify_by, require_all=require_all)
    except SplitError as error:
        remedy = (
            "add recordings of more patients, or split fewer ways (a 0 in patient_split_fractions, "
            "train,validation,test)"
        )
        raise option_error(error, "split_strategy='patient'", remedy) from None


def option_error(error: SplitError, option: str, remedy: str) -> SplitError:
    """:func:`patient_split`'s ``error`` in one line for the user who set ``option`` (``"name=value"``),
    its way out replaced by ``remedy``."""
    reason = str(error).removesuffix(_REQUIRE_ALL_HINT).removesuffix(_SEARCH_HINT)
    return SplitError(f"{option}: {reason}; {remedy}")


def parse_split_fractions(value: str | Sequence[float]) -> tuple[float, float, float]:
    """``(train, validation, test)`` from ``"0.6,0.2,0.2"`` or three numbers ≥ 0 summing to 1; one-line
    ``ValueError``."""
    parts = value.split(",") if isinstance(value, str) else value
    message = (
        "patient_split_fractions must be three numbers train,validation,test (e.g. 0.6,0.2,0.2), "
        f"got {value!r}"
    )
    try:
        fractions = tuple(float(part) for part in parts)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if len(fractions) != 3 or not all(math.isfinite(f) and f >= 0 for f in fractions):
        raise ValueError(message)
    if abs(sum(fractions) - 1) > _FRACTION_TOLERANCE:
        given = ",".join(f"{fraction:g}" for fraction in fractions)
        raise ValueError(f"patient_split_fractions must sum to 1, got {given}")
    return fractions


def carve_validation(index: pd.DataFrame, validation_size: float, *, seed: int = 0) -> pd.DataFrame:
    """``index`` with whole patients of its ``train`` split moved to ``"validation"`` (about
    ``validation_size`` of its rows, class-stratified); other splits untouched. :class:`SplitError` when
    the pool cannot be split."""
    if not (is_real(validation_size) and 0.0 < validation_size < 1.0):
        raise ValueError(f"validation_size must be strictly between 0 and 1, got {validation_size!r}")
    in_pool = (index["split"] == "train").to_numpy()
    fractions = {"train": 1.0 - validation_size, VALIDATION: validation_size}
    assignment = patient_split(index.loc[in_pool], fractions, seed=seed)
    result = index.copy()
    moved_rows = np.flatnonzero(in_pool)[assignment.to_numpy() == VALIDATION]
    result.iloc[moved_rows, result.columns.get_loc("split")] = VALIDATION  # positional: labels may repeat
    return result


def _check_fractions(fractions: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    names = list(fractions)
    if not names:
        raise ValueError("fractions must name at least one split")
    for name, value in fractions.items():
        if not is_real(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"fraction for split {name!r} must be a positive number, got {value!r}")
    total = float(sum(fractions.values()))
    if abs(total - 1.0) > _FRACTION_TOLERANCE:
        raise ValueError(f"fractions must sum to 1, got {total!r} ({dict(fractions)!r})")
    return names, np.array([float(fractions[name]) for name in names])


def _count_matrix(group_codes: np.ndarray, value_codes: np.ndarray, n_groups: int) -> np.ndarray:
    counts = np.zeros((n_groups, int(value_codes.max()) + 1), dtype=np.int64)
    np.add.at(counts, (group_codes, value_codes), 1)
    return counts


def _visiting_order(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Groups ordered large-and-skewed first (std + mean of the counts), with a seeded log-normal jitter."""
    shuffled = rng.permutation(len(counts))
    shuffled_counts = counts[shuffled]
    key = shuffled_counts.std(axis=1) + shuffled_counts.mean(axis=1)
    key = key * np.exp(rng.normal(0.0, _ORDER_JITTER, len(counts)))
    return shuffled[np.argsort(-key, kind="stable")]


def _greedy_assign(counts: np.ndarray, targets: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Split of every group, each placed where it least increases the weighted squared deviation from target.

    Cost: ``sum_s (T_s / N) (C[k, s] / T_s - f_k) ** 2 + w (n_k / N - f_k) ** 2``; a group must go to an
    empty split when as many groups remain as empty splits.
    """
    n_splits = len(targets)
    stratum_totals = counts.sum(axis=0).astype(float)
    total = float(stratum_totals.sum())
    stratum_weights = 1.0 / (stratum_totals * total)
    stratum_targets = np.outer(targets, stratum_totals)
    size_targets = targets * total

    split_counts = np.zeros((n_splits, counts.shape[1]))
    split_sizes = np.zeros(n_splits)
    split_groups = np.zeros(n_splits, dtype=np.int64)
    assignment = np.full(len(counts), -1, dtype=np.int64)
    for position, group in enumerate(order):
        vector = counts[group]
        size = float(vector.sum())
        # Increase of (x + g - t)^2 over (x - t)^2 is g^2 + 2 g (x - t).
        stratum_cost = (vector**2 + 2 * vector * (split_counts - stratum_targets)) @ stratum_weights
        size_cost = (size**2 + 2 * size * (split_sizes - size_targets)) / total**2
        cost = stratum_cost + _SIZE_WEIGHT * size_cost
        empty = split_groups == 0
        if empty.sum() >= len(order) - position:
            cost = np.where(empty, cost, np.inf)
        chosen = int(np.argmin(cost))
        assignment[group] = chosen
        split_counts[chosen] += vector
        split_sizes[chosen] += size
        split_groups[chosen] += 1
    return assignment


def _missing_values(assignment: np.ndarray, present: np.ndarray, n_splits: int) -> list[tuple[int, int]]:
    covered = np.zeros((n_splits, present.shape[1]), dtype=bool)
    np.logical_or.at(covered, assignment, present)
    return [(int(split), int(value)) for split, value in zip(*np.nonzero(~covered), strict=True)]


def _check_requirement_feasible(
    present: np.ndarray, values: pd.Index, n_splits: int, *, column: str, group_by: str
) -> None:
    carriers = present.sum(axis=0)
    scarce = [(values[v], int(carriers[v])) for v in np.nonzero(carriers < n_splits)[0]]
    if scarce:
        details = "; ".join(
            f"only {_count_groups(count, group_by)} {'has' if count == 1 else 'have'} {value!r} cycles"
            for value, count in scarce
        )
        reason = f"{details}; cannot place every {column!r} value in {n_splits} splits"
        raise SplitError(reason + _REQUIRE_ALL_HINT)


def _count_groups(count: int, group_by: str) -> str:
    noun = "patient" if group_by == "patient_id" else f"{group_by} group"
    return f"{count} {noun}{'' if count == 1 else 's'}"

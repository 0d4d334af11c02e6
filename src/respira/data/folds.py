"""Patient-wise k-fold cross-validation: :func:`patient_kfold` (class-stratified), :func:`device_folds`
(leave one device out), and a fold's train/validation/test from an index or a dataset of folds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..models.respira.audio_decoding import check_whole
from ..models.respira.labels import CLASS_NAMES
from .errors import SplitError
from .splits import carve_validation, option_error, patient_split

if TYPE_CHECKING:
    import datasets


FOLD_SPLITS: tuple[str, ...] = ("train", "validation", "test")
FOLD_STRATEGIES: tuple[str, ...] = ("patient_kfold", "leave_one_device_out")
"""Split strategies whose dataset splits are folds (``fold_0`` ...), each fold tested once."""


def is_fold_strategy(split_strategy: str | None) -> bool:
    """Whether ``split_strategy`` builds folds (:data:`FOLD_STRATEGIES`) rather than train/validation/test."""
    return split_strategy in FOLD_STRATEGIES


def fold_name(fold: int) -> str:
    """The name of fold ``fold`` as a dataset split (``fold_0``, ``fold_1``...)."""
    return f"fold_{fold}"


def patient_kfold(
    index: pd.DataFrame,
    num_folds: int,
    *,
    seed: int = 0,
    stratify_by: str | Sequence[str] = "label",
    group_by: str = "patient_id",
    require_all: str | None = "label",
) -> pd.Series:
    """The fold (``0 .. num_folds - 1``, a Series named ``fold``) of every row of a cycle index: equal
    :func:`~respira.data.splits.patient_split` parts, each patient in one, every class in every fold
    (:class:`SplitError` when impossible)."""
    num_folds = check_whole(num_folds, "num_folds", 2)
    names = [fold_name(fold) for fold in range(num_folds)]
    fractions = dict.fromkeys(names, 1.0 / num_folds)
    try:
        assignment = patient_split(
            index, fractions, seed=seed, stratify_by=stratify_by, group_by=group_by, require_all=require_all
        )
    except SplitError as error:
        raise option_error(error, f"num_folds={num_folds}", "use fewer folds") from None
    return assignment.map({name: fold for fold, name in enumerate(names)}).astype(np.int64).rename("fold")


def device_folds(index: pd.DataFrame, *, column: str = "device") -> tuple[pd.Series, list[str]]:
    """The fold of every row (its device's rank among the sorted devices) and the devices in fold order;
    :class:`SplitError` for fewer than two devices, or a device that recorded every patient."""
    devices = sorted(map(str, index[column].unique()))
    if len(devices) < 2:
        found = devices[0] if devices else "none"
        raise SplitError(
            f"leave_one_device_out needs recordings of at least 2 devices, this corpus has 1 ({found})"
        )
    all_patients = set(index["patient_id"])
    for device in devices:
        tested = set(index.loc[index[column] == device, "patient_id"])
        if tested == all_patients:
            raise SplitError(
                f"leave_one_device_out: every patient of the corpus recorded on {device}, so holding it out "
                "leaves no patient to train on"
            )
    folds = index[column].astype(str).map({device: fold for fold, device in enumerate(devices)})
    return folds.astype(np.int64).rename("fold"), devices


def fold_splits(
    index: pd.DataFrame,
    folds: pd.Series | np.ndarray,
    fold: int,
    *,
    validation_size: float = 0.0,
    seed: int = 0,
) -> pd.Series:
    """The ``train`` / ``validation`` / ``test`` split of every row for fold ``fold``: the other folds train,
    ``validation_size`` of them (whole patients) validate, their rows of a test patient are ``"dropped"``."""
    folds = np.asarray(folds)
    num_folds = int(folds.max()) + 1 if len(folds) else 0
    check_whole(fold, "fold", 0, num_folds - 1)
    splits = np.where(folds == fold, "test", "train").astype(object)
    tested = index["patient_id"].isin(set(index.loc[folds == fold, "patient_id"])).to_numpy()
    splits[tested & (splits == "train")] = "dropped"
    if not (splits == "train").any():
        raise SplitError(f"fold {fold}: every patient of the training pool is tested in this fold")
    if validation_size:
        splits = carve_validation(index.assign(split=splits), validation_size, seed=seed)["split"].to_numpy()
    return pd.Series(splits, index=index.index, name="split", dtype=object)


def compose_fold(
    folds: datasets.DatasetDict, fold: int, *, validation_size: float = 0.0, seed: int = 0
) -> datasets.DatasetDict:
    """Train/validation/test of fold ``fold`` from a dataset whose splits are the folds (``fold_0`` ..)."""
    import datasets

    num_folds = len(folds)
    names = [fold_name(i) for i in range(num_folds)]
    parts = [folds[name] for name in names]
    frames = []
    for i, part in enumerate(parts):
        frame = part.select_columns(["patient_id", "label"]).to_pandas()
        frame["label"] = [CLASS_NAMES[label] for label in frame["label"]]
        frames.append(frame.assign(fold=i, row=np.arange(len(part))))
    index = pd.concat(frames, ignore_index=True)
    split = fold_splits(index, index["fold"], fold, validation_size=validation_size, seed=seed).to_numpy()
    result = datasets.DatasetDict()
    for name in FOLD_SPLITS:
        masks = ((i, (split == name) & (index["fold"] == i).to_numpy()) for i in range(num_folds))
        pieces = [parts[i].select(index.loc[mask, "row"].to_numpy()) for i, mask in masks if mask.any()]
        if pieces:
            result[name] = datasets.concatenate_datasets(pieces, split=datasets.NamedSplit(name))
    return result


def check_every_cycle_tested_once(test_keys: Sequence[Sequence[object]], all_keys: Sequence[object]) -> None:
    """Raise ``SplitError`` unless the folds' test keys cover ``all_keys`` exactly once."""
    seen: dict[object, int] = {}
    for fold, keys in enumerate(test_keys):
        for key in keys:
            if key in seen:
                raise SplitError(f"cycle {key!r} is in the test splits of folds {seen[key]} and {fold}")
            seen[key] = fold
    missing = set(all_keys) - set(seen)
    extra = set(seen) - set(all_keys)
    if missing or extra:
        example = sorted(map(str, missing or extra))[0]
        raise SplitError(
            f"the test folds cover {len(seen)} cycles, the corpus {len(set(all_keys))}: "
            f"{len(missing)} never tested, {len(extra)} not in the corpus (e.g. {example})"
        )

"""The data of a training run: the options a run records (:class:`~respira.run_record.DataRecord`) and
the dataset splits they build. ``respira train`` and ``respira evaluate`` build splits only through
:func:`load_splits`, so evaluating a run folder rebuilds exactly the splits it was trained on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import DEFAULT_SAMPLING_RATE
from ..data import is_fold_strategy, is_synthetic_corpus
from ..labels import CLASS_NAMES
from ..run_record import DataRecord, SplitSize
from .recipe import DataArguments

if TYPE_CHECKING:
    import datasets


def data_record(data: DataArguments, sampling_rate: int) -> DataRecord:
    """The data options of a recipe as the run applies them (``validation_size`` 0 for a patient split)."""
    if not data.data_dir:
        raise ValueError(
            "missing data_dir: pass --data_dir <folder of an ICBHI download> or set it in the recipe"
        )
    patient = data.split_strategy == "patient"
    kfold = data.split_strategy == "patient_kfold"
    devices = corpus_devices(data.data_dir) if data.split_strategy == "leave_one_device_out" else None
    fractions = tuple(float(f) for f in data.patient_split_fractions.split(",")) if patient else None
    return DataRecord(
        data_dir=data.data_dir,
        sampling_rate=sampling_rate,
        synthetic=is_synthetic_corpus(data.data_dir),
        split_strategy=data.split_strategy,
        validation_size=0.0 if patient else data.validation_size,
        split_seed=data.split_seed,
        patient_split_fractions=fractions,
        stratify_by=data.stratify_by,
        num_folds=data.num_folds if kfold else (len(devices) if devices else None),
        fold_stratify_by=data.fold_stratify_by if kfold else None,
        fold_devices=devices,
        lowpass_cutoff=data.lowpass_cutoff or None,
        train_fraction=data.train_fraction,
    )


def load_splits(
    data: DataRecord, *, cache_dir: str | Path | None = None, num_proc: int | None = None
) -> datasets.DatasetDict:
    """The ICBHI splits ``data`` describes (options left ``None`` take the builder's defaults).

    ``patient_kfold`` / ``leave_one_device_out``: fold ``data.fold``'s train/validation/test (with
    ``fold`` ``None``, the folds)."""
    from ..data import load_icbhi

    options: dict[str, Any] = {"split_strategy": data.split_strategy}
    if is_fold_strategy(data.split_strategy):
        options["fold"] = data.fold
    if data.split_strategy == "patient_kfold":
        if data.num_folds is not None:
            options["num_folds"] = data.num_folds
        if data.fold_stratify_by is not None:
            options["fold_stratify_by"] = data.fold_stratify_by
    if data.stratify_by is not None:
        options["stratify_by"] = data.stratify_by
    if data.patient_split_fractions is not None:
        options["patient_split_fractions"] = data.patient_split_fractions
    if data.lowpass_cutoff:
        options["lowpass_cutoff"] = data.lowpass_cutoff
        options["lowpass_order"] = data.lowpass_order
    splits = load_icbhi(
        data.data_dir,
        sampling_rate=data.sampling_rate,
        validation_size=data.validation_size,
        seed=data.split_seed,
        cache_dir=cache_dir,
        num_proc=num_proc,
        **options,
    )
    if data.train_fraction < 1.0 and "train" in splits:
        splits["train"] = _patient_subset(splits["train"], data.train_fraction, data.split_seed)
    return splits


def corpus_devices(data_dir: str | Path) -> list[str]:
    """The devices of the recordings of an ICBHI folder that has audio, sorted: the held-out device of
    each ``leave_one_device_out`` fold, in fold order."""
    import warnings

    from ..data.index import index_from_layout
    from ..data.layout import locate_corpus

    layout = locate_corpus(data_dir)
    with warnings.catch_warnings():  # a partial corpus is reported when the dataset is built
        warnings.simplefilter("ignore")
        index = index_from_layout(layout)
    return sorted(map(str, index.loc[index["recording"].isin(set(layout.audio_files)), "device"].unique()))


def build_datasets(data: DataArguments, sampling_rate: int = DEFAULT_SAMPLING_RATE) -> datasets.DatasetDict:
    """The splits of a recipe's data options (see :func:`data_record` and :func:`load_splits`), stored at
    ``sampling_rate``: pass the recipe model's rate
    (:func:`~respira.training.model_factory.model_sampling_rate`), so that training reads the audio at
    the rate the model takes (the collator resamples any other)."""
    return load_splits(
        data_record(data, sampling_rate), cache_dir=data.dataset_cache_dir, num_proc=data.num_proc
    )


def split_sizes(splits: datasets.DatasetDict) -> dict[str, SplitSize]:
    """Cycles and patients of each split."""
    return {
        name: SplitSize(
            cycles=len(part),
            patients=len(part.unique("patient_id")) if "patient_id" in part.column_names else None,
        )
        for name, part in splits.items()
    }


def _patient_subset(train: datasets.Dataset, fraction: float, seed: int) -> datasets.Dataset:
    """A stratified, patient-wise share of the training split (the rest is simply not used)."""
    from ..data import patient_split

    if not 0 < fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction}")
    index = train.select_columns(["patient_id", "label"]).to_pandas()
    index["label"] = [CLASS_NAMES[i] for i in index["label"]]
    kept = patient_split(index, {"kept": fraction, "rest": 1 - fraction}, seed=seed, require_all=None)
    return train.select(np.flatnonzero(kept.to_numpy() == "kept"))

"""The splits a run's data options (its :class:`~respira.records.run.DataRecord`) describe, checked and
loaded: what training splits and what ``respira evaluate`` scores (``--split``, :data:`ALL_SPLIT`).

``dataset_source`` and ``inspect_source`` also take a recipe's ``DataArguments`` (the same field names)."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.respira.labels import CLASS_NAMES
from ..records.run import DataRecord
from .corpus_files import locate_corpus, shown_dirs
from .folds import is_fold_strategy
from .icbhi import ICBHIConfig, assign_splits, load_icbhi
from .multi_corpus import add_corpora
from .prepared import PreparedDataset, inspect_dataset, is_prepared_folder, load_prepared
from .splits import patient_split
from .text_files import corpus_index

if TYPE_CHECKING:
    import datasets


def dataset_source(data: DataRecord | Any) -> str | None:
    """``dataset_name``, or a ``data_dir`` written by ``respira prepare``; ``None`` for a corpus folder."""
    if data.dataset_name:
        if data.data_dir:
            raise ValueError(
                f"give --data_dir ({shown_dirs(data.data_dir)}) or --dataset_name ({data.dataset_name}), "
                "not both"
            )
        return data.dataset_name
    return data.data_dir if is_prepared_folder(data.data_dir) else None


@functools.lru_cache(maxsize=8)
def _inspect(name: str, config: str | None, audio: str, label: str, cache_dir: str | None) -> PreparedDataset:
    return inspect_dataset(name, config, audio_column=audio, label_column=label, cache_dir=cache_dir)


def inspect_source(data: DataRecord | Any, cache_dir: str | Path | None = None) -> PreparedDataset:
    """:func:`~respira.data.prepared.inspect_dataset` of ``data``'s dataset (see :func:`dataset_source`)."""
    name = dataset_source(data)
    if name is None:
        raise ValueError("no dataset_name: the data is a corpus folder")
    cache = str(cache_dir) if cache_dir is not None else None
    return _inspect(name, data.dataset_config_name, data.audio_column_name, data.label_column_name, cache)


def load_splits(
    data: DataRecord, *, cache_dir: str | Path | None = None, num_proc: int | None = None
) -> datasets.DatasetDict:
    """The ICBHI splits ``data`` describes (options left ``None`` take the builder's defaults)."""
    if data.dataset_name:
        splits = load_prepared(inspect_source(data, cache_dir), cache_dir=cache_dir, num_proc=num_proc)
    else:
        fold = data.fold if is_fold_strategy(data.split_strategy) else None
        splits = load_icbhi(
            data.data_dir, fold=fold, cache_dir=cache_dir, num_proc=num_proc, **_builder_options(data)
        )
    if data.train_fraction < 1.0 and "train" in splits:
        splits["train"] = _patient_subset(splits["train"], data.train_fraction, data.split_seed)
    if data.corpora:  # recording-labelled corpora join training as bags of windows
        splits = add_corpora(splits, data, cache_dir=cache_dir, num_proc=num_proc)
    return splits


def _builder_options(data: DataRecord) -> dict[str, Any]:
    """The ICBHI builder options ``data`` records (those it leaves ``None`` take the builder's defaults)."""
    kfold = data.split_strategy == "patient_kfold"
    options = {
        "sampling_rate": data.sampling_rate,
        "split_strategy": data.split_strategy,
        "validation_size": data.validation_size,
        "seed": data.split_seed,
        "num_folds": data.num_folds if kfold else None,
        "fold_stratify_by": data.fold_stratify_by if kfold else None,
        "stratify_by": data.stratify_by,
        "patient_split_fractions": data.patient_split_fractions,
        "lowpass_cutoff": data.lowpass_cutoff or None,
        "lowpass_order": data.lowpass_order if data.lowpass_cutoff else None,
    }
    return {name: value for name, value in options.items() if value is not None}


def _patient_subset(train: datasets.Dataset, fraction: float, seed: int) -> datasets.Dataset:
    """A stratified, patient-wise share of the training split."""
    index = train.select_columns(["patient_id", "label"]).to_pandas()
    index["label"] = [CLASS_NAMES[i] for i in index["label"]]
    kept = patient_split(index, {"kept": fraction, "rest": 1 - fraction}, seed=seed, require_all=None)
    return train.select(np.flatnonzero(kept.to_numpy() == "kept"))


ALL_SPLIT = "all"  # every cycle of the folder or dataset


def _corpus_splits(data: DataRecord) -> list[str]:
    layout = locate_corpus(data.data_dir)
    if is_fold_strategy(data.split_strategy):
        return ["train", "validation", "test"]  # every fold has all three (checked by the fold builder)
    if data.split_strategy == "official" and layout.split_file is None:
        return []
    present = set(assign_splits(corpus_index(layout), ICBHIConfig(name="cycles", **_builder_options(data))))
    return [name for name in ("train", "validation", "test") if name in present]


def check_split(data: DataRecord, split: str, *, cache_dir: str | Path | None = None) -> None:
    """Raise one line when ``data`` has no ``split`` (:data:`ALL_SPLIT` always exists)."""
    if split == ALL_SPLIT:
        if data.dataset_name:
            inspect_source(data, cache_dir)
        else:
            locate_corpus(data.data_dir)
        return
    if data.dataset_name:
        inspect_source(data, cache_dir).require_splits([split], f"--split {split} asks for")
        return
    available = _corpus_splits(data)
    if split in available:
        return
    how = f"split_strategy {data.split_strategy}" + (
        f", validation_size {data.validation_size:g}" if data.split_strategy == "official" else ""
    )
    if not available:
        reason = "no official split file (ICBHI_challenge_train_test.txt)"
    else:
        reason = f"only the split(s) {', '.join(available)}"
    raise ValueError(
        f"{shown_dirs(data.data_dir)} has {reason} under {how}, so no split {split!r}: pass --split "
        f"{ALL_SPLIT} to score every cycle of the folder"
        + (", or --split_strategy patient" if not available else ", or --split " + available[-1])
    )


def load_split(data: DataRecord, split: str, *, cache_dir: str | Path | None = None) -> datasets.Dataset:
    """The ``split`` of ``data`` (:data:`ALL_SPLIT`: every cycle, in the order of its splits)."""
    import datasets

    if split != ALL_SPLIT:
        return load_splits(data, cache_dir=cache_dir)[split]
    if data.dataset_name:
        whole = replace(data, train_fraction=1.0)
        splits = load_splits(whole, cache_dir=cache_dir)
        return datasets.concatenate_datasets(list(splits.values()))
    everything = replace(  # one patient-wise "split" holding every patient: no split file needed
        data,
        split_strategy="patient",
        patient_split_fractions=(1.0, 0.0, 0.0),
        validation_size=0.0,
        fold=None,
        num_folds=None,
        fold_stratify_by=None,
        train_fraction=1.0,
    )
    return load_splits(everything, cache_dir=cache_dir)["train"]

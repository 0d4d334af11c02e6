"""The split ``respira evaluate`` scores, checked (from a corpus's text files or a dataset's card) before
the model runs or the dataset is built."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ...run_record import DataRecord
from .datasets import inspect_source, load_splits

if TYPE_CHECKING:
    import datasets

__all__ = ["ALL_SPLIT", "check_split", "load_split"]

ALL_SPLIT = "all"  # every cycle of the folder or dataset


def _corpus_splits(data: DataRecord) -> list[str]:
    from ...data import is_fold_strategy
    from ...data.icbhi import ICBHIConfig, assign_splits
    from ...data.layout import locate_corpus
    from ...data.text_files import index_from_layout

    layout = locate_corpus(data.data_dir)
    if is_fold_strategy(data.split_strategy):
        return ["train", "validation", "test"]  # every fold has all three (checked by the fold builder)
    if data.split_strategy == "official" and layout.split_file is None:
        return []
    options = (
        {"patient_split_fractions": data.patient_split_fractions} if data.patient_split_fractions else {}
    )
    if data.stratify_by is not None:
        options["stratify_by"] = data.stratify_by
    config = ICBHIConfig(
        name="cycles",
        split_strategy=data.split_strategy,
        validation_size=data.validation_size,
        seed=data.split_seed,
        **options,
    )
    with warnings.catch_warnings():  # a partial corpus is reported when the dataset is built
        warnings.simplefilter("ignore")
        index = index_from_layout(layout)
    index = index[index["recording"].isin(set(layout.audio_files))]
    present = set(assign_splits(index, config))
    return [name for name in ("train", "validation", "test") if name in present]


def check_split(data: DataRecord, split: str, *, cache_dir: str | Path | None = None) -> None:
    """Raise one line when ``data`` has no ``split`` (:data:`ALL_SPLIT` always exists)."""
    if split == ALL_SPLIT:
        if data.dataset_name:
            inspect_source(data, cache_dir)
        else:
            from ...data.layout import locate_corpus

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
        f"{data.data_dir} has {reason} under {how}, so no split {split!r}: pass --split {ALL_SPLIT} to "
        "score every cycle of the folder"
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

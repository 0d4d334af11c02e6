"""The data of a training run: the options a run records (:class:`~respira.run_record.DataRecord`) and the
splits :func:`load_splits` builds from them (``respira evaluate`` rebuilds a run's splits through it)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...data import is_fold_strategy, is_synthetic_corpus
from ...data.icbhi import parse_split_fractions
from ...data.prepared import PreparedDataset, inspect_dataset, is_prepared_folder, load_prepared
from ...models.respira.labels import CLASS_NAMES
from ...run_record import DATASET_SPLITS, CorpusRecord, DataRecord, SplitSize
from ..recipe.recipe_fields import DataArguments

if TYPE_CHECKING:
    import datasets


def dataset_source(data: DataArguments | DataRecord) -> str | None:
    """``dataset_name``, or a ``data_dir`` written by ``respira prepare``; ``None`` for a corpus folder."""
    if data.dataset_name:
        if data.data_dir:
            raise ValueError(
                f"give --data_dir ({data.data_dir}) or --dataset_name ({data.dataset_name}), not both"
            )
        return data.dataset_name
    return data.data_dir if is_prepared_folder(data.data_dir) else None


@functools.lru_cache(maxsize=8)
def _inspect(name: str, config: str | None, audio: str, label: str, cache_dir: str | None) -> PreparedDataset:
    return inspect_dataset(name, config, audio_column=audio, label_column=label, cache_dir=cache_dir)


def inspect_source(data: DataArguments | DataRecord, cache_dir: str | Path | None = None) -> PreparedDataset:
    """:func:`~respira.data.prepared.inspect_dataset` of ``data``'s dataset (see :func:`dataset_source`)."""
    name = dataset_source(data)
    if name is None:
        raise ValueError("no dataset_name: the data is a corpus folder")
    cache = str(cache_dir) if cache_dir is not None else None
    return _inspect(name, data.dataset_config_name, data.audio_column_name, data.label_column_name, cache)


def _dataset_record(data: DataArguments, sampling_rate: int) -> DataRecord:
    source = inspect_source(data, data.dataset_cache_dir)
    build = source.build
    lowpass = build.get("lowpass_cutoff") or None
    if data.lowpass_cutoff and data.lowpass_cutoff != lowpass:
        raise ValueError(
            f"lowpass_cutoff={data.lowpass_cutoff:g}: dataset {source.name!r} was built "
            + (f"with a {lowpass:g} Hz low-pass" if lowpass else "without a low-pass")
            + "; leave lowpass_cutoff unset (the dataset's is recorded) or prepare the dataset with it"
        )
    if is_fold_strategy(data.split_strategy):
        raise ValueError(
            f"split_strategy={data.split_strategy} makes folds from a corpus folder; dataset "
            f"{source.name!r} has fixed splits: pass --data_dir <corpus> for cross-validation"
        )
    strategy = build.get("split_strategy", DATASET_SPLITS)
    fractions = build.get("patient_split_fractions") if strategy == "patient" else None
    return DataRecord(
        data_dir=None,
        dataset_name=str(Path(source.name).expanduser().resolve())
        if Path(source.name).expanduser().is_dir()
        else source.name,
        dataset_config_name=source.config_name,
        audio_column_name=data.audio_column_name,
        label_column_name=data.label_column_name,
        sampling_rate=sampling_rate,
        synthetic=bool(build.get("synthetic", False)),
        split_strategy=strategy,
        validation_size=float(build.get("validation_size") or 0.0),
        split_seed=int(build.get("seed", data.split_seed)),
        patient_split_fractions=tuple(float(f) for f in fractions) if fractions else None,
        stratify_by=build.get("stratify_by") if strategy == "patient" else None,
        lowpass_cutoff=lowpass,
        lowpass_order=int(build.get("lowpass_order", 4)),
        train_fraction=data.train_fraction,
    )


def data_record(data: DataArguments, sampling_rate: int) -> DataRecord:
    """The data options of a recipe as the run applies them (``validation_size`` 0 for a patient split)."""
    if dataset_source(data) is not None:
        return _dataset_record(data, sampling_rate)
    if not data.data_dir:
        raise ValueError(
            "missing data_dir: pass --data_dir <folder of an ICBHI download> (or --dataset_name <Hub "
            "dataset id or folder written by respira prepare>) or set it in the recipe"
        )
    corpora = _corpus_sources(data)
    patient = data.split_strategy == "patient"
    kfold = data.split_strategy == "patient_kfold"
    devices = corpus_devices(data.data_dir) if data.split_strategy == "leave_one_device_out" else None
    fractions = parse_split_fractions(data.patient_split_fractions) if patient else None
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
        lowpass_order=data.lowpass_order,
        train_fraction=data.train_fraction,
        corpora=corpora,
        corpus_window_seconds=data.corpus_window_seconds if corpora else None,
        corpus_hop_seconds=data.corpus_hop_seconds if corpora else None,
    )


def _corpus_sources(data: DataArguments) -> list[CorpusRecord]:
    from ...data.corpora import CORPORA, PRIMARY_CORPUS
    from .multi_corpus import corpus_folders, parse_corpora

    names = parse_corpora(data.corpora, data.corpus_dirs)
    folders = {**corpus_folders(data.corpus_dirs), PRIMARY_CORPUS: data.data_dir}
    return [
        CorpusRecord(name, str(Path(folders[name]).expanduser().resolve()), CORPORA[name].labels)
        for name in names
    ]


def load_splits(
    data: DataRecord, *, cache_dir: str | Path | None = None, num_proc: int | None = None
) -> datasets.DatasetDict:
    """The ICBHI splits ``data`` describes (options left ``None`` take the builder's defaults)."""
    if data.dataset_name:
        splits = load_prepared(inspect_source(data, cache_dir), cache_dir=cache_dir, num_proc=num_proc)
    else:
        splits = _build_splits(data, cache_dir=cache_dir, num_proc=num_proc)
    if data.train_fraction < 1.0 and "train" in splits:
        splits["train"] = _patient_subset(splits["train"], data.train_fraction, data.split_seed)
    if data.corpora:  # recording-labelled corpora join training as bags of windows
        from .multi_corpus import add_corpora

        splits = add_corpora(splits, data, cache_dir=cache_dir, num_proc=num_proc)
    return splits


def _build_splits(
    data: DataRecord, *, cache_dir: str | Path | None = None, num_proc: int | None = None
) -> datasets.DatasetDict:
    from ...data import load_icbhi

    kfold = data.split_strategy == "patient_kfold"
    options = {
        "split_strategy": data.split_strategy,
        "fold": data.fold if is_fold_strategy(data.split_strategy) else None,
        "num_folds": data.num_folds if kfold else None,
        "fold_stratify_by": data.fold_stratify_by if kfold else None,
        "stratify_by": data.stratify_by,
        "patient_split_fractions": data.patient_split_fractions,
        "lowpass_cutoff": data.lowpass_cutoff or None,
        "lowpass_order": data.lowpass_order if data.lowpass_cutoff else None,
    }
    return load_icbhi(
        data.data_dir,
        sampling_rate=data.sampling_rate,
        validation_size=data.validation_size,
        seed=data.split_seed,
        cache_dir=cache_dir,
        num_proc=num_proc,
        **{name: value for name, value in options.items() if value is not None},
    )


def corpus_devices(data_dir: str | Path) -> list[str]:
    """The sorted devices of an ICBHI folder's recordings: each ``leave_one_device_out`` fold's."""
    import warnings

    from ...data.layout import locate_corpus
    from ...data.text_files import index_from_layout

    layout = locate_corpus(data_dir)
    with warnings.catch_warnings():  # a partial corpus is reported when the dataset is built
        warnings.simplefilter("ignore")
        index = index_from_layout(layout)
    return sorted(map(str, index.loc[index["recording"].isin(set(layout.audio_files)), "device"].unique()))


def with_split_sizes(record: DataRecord, splits: datasets.DatasetDict) -> DataRecord:
    """``record`` with the size of each split and what each training corpus held (multi-corpus runs)."""
    from dataclasses import replace

    from .multi_corpus import corpus_records

    corpora = corpus_records(record.corpora, splits["train"]) if "train" in splits else record.corpora
    return replace(record, split_sizes=split_sizes(splits), corpora=corpora)


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
    """A stratified, patient-wise share of the training split."""
    from ...data import patient_split

    index = train.select_columns(["patient_id", "label"]).to_pandas()
    index["label"] = [CLASS_NAMES[i] for i in index["label"]]
    kept = patient_split(index, {"kept": fraction, "rest": 1 - fraction}, seed=seed, require_all=None)
    return train.select(np.flatnonzero(kept.to_numpy() == "kept"))

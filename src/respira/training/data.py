"""The data options of a training run as it records them (:func:`data_record`: a recipe's
:class:`DataArguments` → :class:`~respira.records.run.DataRecord`) and the split sizes it records; the splits
they describe are loaded by :mod:`respira.data.run_splits`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..data import is_fold_strategy, is_synthetic_corpus
from ..data.corpora import CORPORA, PRIMARY_CORPUS
from ..data.corpus_files import locate_corpus, resolved_dirs
from ..data.multi_corpus import corpus_folders, corpus_records, parse_corpora
from ..data.run_splits import dataset_source, inspect_source
from ..data.splits import parse_split_fractions
from ..data.text_files import corpus_index
from ..records.run import DATASET_SPLITS, CorpusRecord, DataRecord, SplitSize
from .training_args import DataArguments

if TYPE_CHECKING:
    import datasets


MISSING_DATA_DIR = (
    "missing data_dir: pass --data_dir <folder of an ICBHI download> (or --dataset_name <Hub dataset id or "
    "folder written by respira prepare>) or set it in the recipe"
)


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
        raise ValueError(MISSING_DATA_DIR)
    folders = {**corpus_folders(data.corpus_dirs), PRIMARY_CORPUS: data.data_dir}
    corpora = [
        CorpusRecord(name, resolved_dirs(folders[name]), CORPORA[name].labels)
        for name in parse_corpora(data.corpora, data.corpus_dirs)
    ]
    patient = data.split_strategy == "patient"
    kfold = data.split_strategy == "patient_kfold"
    devices = None
    if data.split_strategy == "leave_one_device_out":  # each fold's device, sorted
        devices = sorted(map(str, corpus_index(locate_corpus(data.data_dir))["device"].unique()))
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


def with_split_sizes(record: DataRecord, splits: datasets.DatasetDict) -> DataRecord:
    """``record`` with the cycles and patients of each split and what each training corpus held."""
    corpora = corpus_records(record.corpora, splits["train"]) if "train" in splits else record.corpora
    sizes = {
        name: SplitSize(
            cycles=len(part),
            patients=len(part.unique("patient_id")) if "patient_id" in part.column_names else None,
        )
        for name, part in splits.items()
    }
    return replace(record, split_sizes=sizes, corpora=corpora)

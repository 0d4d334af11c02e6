"""The ICBHI 2017 ``datasets`` builder: respiratory cycles (or whole recordings) at one sample rate, each
recording decoded and resampled once; cycles are cut at ``round(t * sampling_rate)``, clipped to the
recording's end."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import datasets
import numpy as np
import pandas as pd

from ..models.respira.audio_decoding import DEFAULT_SAMPLING_RATE, check_whole
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL_NAMES
from ..records.run import SPLIT_STRATEGIES
from .corpus_files import AUDIO_SUFFIXES, DEVICES, NUM_RECORDINGS, CorpusLayout, DataDir, locate_corpus
from .errors import CorpusFormatError, SplitError
from .folds import FOLD_STRATEGIES, compose_fold, device_folds, fold_name, is_fold_strategy, patient_kfold
from .loaders import AudioBuilderConfig, FolderBuilder, audio_durations, load_folder
from .splits import carve_validation, option_error, parse_split_fractions, split_by_fractions
from .text_files import (
    CLIP_TOLERANCE_SECONDS,
    INDEX_COLUMNS,
    STRATA_COLUMNS,
    PartialCorpusWarning,
    check_cycles_fit,
    index_from_layout,
)

CYCLE_COLUMNS: tuple[str, ...] = ("cycle_index", "start", "end", "crackle", "wheeze", "label")
RECORDING_COLUMNS = tuple(name for name in INDEX_COLUMNS if name not in (*CYCLE_COLUMNS, "annotation_line"))


@dataclass
class ICBHIConfig(AudioBuilderConfig):
    """Options of the ICBHI builder besides the audio ones (each part of the cache key).

    ``split_strategy``: ``official`` (``validation_size`` of train moved to a patient-disjoint
    ``validation``), ``patient`` (``patient_split_fractions``), ``patient_kfold`` (``num_folds``) or
    ``leave_one_device_out``. ``clip_tolerance``: seconds a cycle may run past its audio unreported.
    """

    split_strategy: Literal["official", "patient", "patient_kfold", "leave_one_device_out"] = "official"
    validation_size: float = 0.0
    patient_split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    stratify_by: str = "chest_location"
    num_folds: int = 5
    fold_stratify_by: str | None = None
    seed: int = 0
    clip_tolerance: float = CLIP_TOLERANCE_SECONDS

    def validate(self) -> None:
        super().validate()
        if self.split_strategy not in SPLIT_STRATEGIES:
            raise ValueError(
                f"split_strategy must be one of {', '.join(SPLIT_STRATEGIES)}, got {self.split_strategy!r}"
            )
        if self.split_strategy == "patient_kfold":
            self.num_folds = check_whole(self.num_folds, "num_folds", 2)
        if is_fold_strategy(self.split_strategy) and self.validation_size:
            raise ValueError(
                f"with split_strategy={self.split_strategy!r} the validation split is carved from each "
                "fold's training folds: pass validation_size with fold= to load_icbhi, not to the builder"
            )
        if not 0 <= self.validation_size < 1:
            raise ValueError(f"validation_size must be in [0, 1), got {self.validation_size}")
        if self.split_strategy == "patient" and self.validation_size:
            raise ValueError(
                "validation_size applies to the official split; with split_strategy='patient' set "
                "patient_split_fractions (train, validation, test) instead"
            )
        self.patient_split_fractions = parse_split_fractions(self.patient_split_fractions)
        for name in ("stratify_by", "fold_stratify_by"):
            value = getattr(self, name)
            if value not in STRATA_COLUMNS and not (name == "fold_stratify_by" and value is None):
                raise ValueError(
                    f"{name} must be a categorical column of the index ({', '.join(STRATA_COLUMNS)}), "
                    f"got {value!r}"
                )


class ICBHI(FolderBuilder, datasets.GeneratorBasedBuilder):
    """ICBHI 2017 from a local folder: configs ``cycles`` (one example per cycle) and ``recordings``."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = ICBHIConfig
    BUILDER_CONFIGS: ClassVar[list[ICBHIConfig]] = [
        ICBHIConfig(
            name="cycles", version=VERSION, description="One example per annotated respiratory cycle."
        ),
        ICBHIConfig(
            name="recordings", version=VERSION, description="One example per recording, cycles as a list."
        ),
    ]
    DEFAULT_CONFIG_NAME = "cycles"
    config: ICBHIConfig

    LOCATE = staticmethod(locate_corpus)
    layout: CorpusLayout

    def _features(self) -> datasets.Features:
        audio = datasets.Audio(sampling_rate=self.config.sampling_rate)
        label = {"label": datasets.ClassLabel(names=list(CLASS_NAMES))}
        flags = {"crackle": datasets.Value("int8"), "wheeze": datasets.Value("int8")}
        seconds = datasets.Value("float64")
        times = {"cycle_index": datasets.Value("int32"), "start": seconds, "end": seconds}
        numbers = dict.fromkeys(("age", "adult_bmi", "child_weight", "child_height"), "float64")
        numbers["patient_id"] = "int32"  # the other columns are strings
        recording = {name: datasets.Value(numbers.get(name, "string")) for name in RECORDING_COLUMNS}
        if self.config.name == "recordings":
            cycles = datasets.List({**times, **flags, **label})
            return datasets.Features({"audio": audio, **recording, "cycles": cycles})
        return datasets.Features({"audio": audio, **label, **flags, **recording, **times})

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        index = index_from_layout(self.layout)
        index = self._drop_recordings_without_audio(index)
        files = {stem: self.layout.audio_files[stem] for stem in index["recording"].unique()}
        durations = audio_durations(files)  # unreadable files fail early
        recording = index["recording"]
        check_cycles_fit(
            zip(recording.map(self.layout.annotation_files), index["annotation_line"], index["start"],
                index["end"], recording.map(durations), strict=True),
            self.config.clip_tolerance,
        )  # fmt: skip
        index = index.assign(split=assign_splits(index, self.config))
        generators = []
        names = (
            [fold_name(fold) for fold in range(index["split"].nunique())]
            if is_fold_strategy(self.config.split_strategy)
            else ("train", "validation", "test")
        )
        for split in names:
            rows = index[index["split"] == split]
            if rows.empty:
                continue
            whole = self.config.name == "recordings"
            recordings = [
                _recording_task(self.layout, frame, whole)
                for _, frame in rows.groupby("recording", sort=True)
            ]
            generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"recordings": recordings}))
        return generators

    def _drop_recordings_without_audio(self, index: pd.DataFrame) -> pd.DataFrame:
        unannotated = sorted(set(self.layout.audio_files) - set(self.layout.annotation_files))
        if unannotated:  # an incomplete download the other way round: nothing says which cycles it has
            warnings.warn(
                f"{len(unannotated)} audio file(s) in {self.layout.place} have no annotation file "
                f"and are left out; first: {self.layout.audio_files[unannotated[0]].name} (no "
                f"{unannotated[0]}.txt)",
                PartialCorpusWarning,
                stacklevel=2,
            )
        missing = sorted(set(index["recording"]) - set(self.layout.audio_files))
        if not missing:
            return index
        if len(missing) == index["recording"].nunique():
            raise CorpusFormatError(
                self.layout.recordings_dir,
                f"no audio ({'/'.join(AUDIO_SUFFIXES)}) for any of the {len(missing)} annotated recordings",
            )
        complete = len(self.layout.annotation_files) == NUM_RECORDINGS
        warnings.warn(
            f"{len(missing)} of {index['recording'].nunique()} annotated recordings have no audio file in "
            f"{self.layout.place} and are left out"
            + (" (a partial download of the complete corpus)" if complete else "")
            + f"; first: {missing[0]}",
            PartialCorpusWarning,
            stacklevel=2,
        )
        return index[~index["recording"].isin(missing)].reset_index(drop=True)


def _python_value(value: Any) -> Any:
    """NA/NaN → None and numpy scalars → Python scalars, for Arrow."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def _recording_task(layout: CorpusLayout, frame: pd.DataFrame, whole: bool) -> dict[str, Any]:
    """The builder's task of one recording's index rows (:class:`~respira.data.loaders.FolderBuilder`)."""
    first = frame.iloc[0]
    stem = first["recording"]
    columns = {name: _python_value(first[name]) for name in RECORDING_COLUMNS}
    cycles = frame[list(CYCLE_COLUMNS)].to_dict("records")  # Python scalars (none is missing)
    task = {"path": str(layout.audio_files[stem]), "columns": columns, "segments": None}
    if whole:
        return {**task, "columns": {**columns, "cycles": cycles}}
    annotation = str(layout.annotation_files[stem])
    segments = [
        (cycle, (annotation, int(line), f"cycle {cycle['start']}-{cycle['end']} s"))
        for cycle, line in zip(cycles, frame["annotation_line"], strict=True)
    ]
    return {**task, "segments": segments}


def icbhi_reference_events(example: dict[str, Any]) -> list[tuple[float, float, str]]:
    """The crackle and wheeze events of one ``recordings`` example: each flagged cycle (weak labels)."""
    return [
        (cycle["start"], cycle["end"], name)
        for cycle in example["cycles"]
        for name in MULTI_LABEL_NAMES
        if cycle[name]
    ]


def assign_splits(index: pd.DataFrame, config: ICBHIConfig) -> pd.Series:
    """The split of every index row under ``config``'s split options."""
    if config.split_strategy == "leave_one_device_out":
        return device_folds(index)[0].map(fold_name).rename("split")
    if config.split_strategy == "patient_kfold":
        strata = ["label", *([config.fold_stratify_by] if config.fold_stratify_by else [])]
        folds = patient_kfold(index, config.num_folds, seed=config.seed, stratify_by=strata)
        return folds.map(fold_name).rename("split")
    if config.split_strategy == "patient":
        fractions = config.patient_split_fractions
        return split_by_fractions(index, fractions, seed=config.seed, stratify_by=config.stratify_by)
    if index["official_split"].isna().all():
        raise SplitError(
            "this copy of ICBHI has no official split file (ICBHI_challenge_train_test.txt; the "
            "audio_and_txt_files release ships without it), so the official train/test split is unknown: "
            "use split_strategy='patient' for a patient-wise split, or add the split file to the folder"
        )
    splits = index["official_split"].rename("split")
    if config.validation_size > 0:
        try:
            carved = carve_validation(index.assign(split=splits), config.validation_size, seed=config.seed)
        except SplitError as error:
            remedy = "use a smaller validation_size or another seed"
            raise option_error(error, f"validation_size={config.validation_size}", remedy) from None
        splits = carved["split"]
    return splits


def load_icbhi(
    data_dir: DataDir,
    *,
    config_name: str = "cycles",
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    validation_size: float = 0.0,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    num_proc: int | None = None,
    streaming: bool = False,
    fold: int | None = None,
    held_out_device: str | None = None,
    **options: Any,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Build (or load from cache) the ICBHI dataset from a local folder, or a list of folders that together
    hold one corpus (their metadata files merged; no recording and no patient in two of them).

    ``options`` are further :class:`ICBHIConfig` fields (anything else: a ``TypeError`` before any file is
    read). With a fold strategy, ``fold=i`` (or ``held_out_device=name``) returns that fold's
    train/validation/test.
    """
    strategy = options.get("split_strategy")
    kfold = is_fold_strategy(strategy)
    if held_out_device is not None:
        if strategy != "leave_one_device_out":
            raise ValueError("held_out_device applies to split_strategy='leave_one_device_out' only")
        if fold is not None:
            raise ValueError("pass fold= or held_out_device=, not both")
    if fold is not None and not kfold:
        raise ValueError(f"fold applies to split_strategy={' or '.join(map(repr, FOLD_STRATEGIES))} only")
    if kfold and validation_size and fold is None and held_out_device is None:
        raise ValueError(
            f"with split_strategy={strategy!r}, validation_size is carved from the training folds of "
            "one fold: pass fold=<i> too"
        )
    if kfold and (fold is not None or held_out_device is not None) and streaming:
        raise ValueError("fold= composes a fold's splits from the built folds: use streaming=False")
    built = load_folder(
        ICBHI,
        load_icbhi,
        data_dir,
        config_name=config_name,
        sampling_rate=sampling_rate,
        cache_dir=cache_dir,
        num_proc=num_proc,
        streaming=streaming,
        validation_size=0.0 if kfold else validation_size,
        seed=seed,
        **options,
    )
    if held_out_device is not None:  # the held-out device of each fold, in fold order
        devices = [built[fold_name(i)].unique("device")[0] for i in range(len(built))]
        if held_out_device not in devices:
            raise ValueError(
                f"held_out_device={held_out_device!r} is not a device of {data_dir} ({', '.join(devices)})"
            )
        fold = devices.index(held_out_device)
    if fold is None:
        return built
    return compose_fold(built, fold, validation_size=validation_size, seed=seed)


# ------------------------------------------------ its dataset card (the spec's split_table, split_definition)
def split_table(dataset: datasets.DatasetDict) -> tuple[list[str], list[list[str]]]:
    """A header and one row per split: recordings or cycles, cycles per class, patients and devices."""
    rows = []
    first = next(iter(dataset.values()))
    per_recording = "cycles" in first.column_names
    counted = ["recordings", "cycles"] if per_recording else ["cycles"]
    header = ["split", *counted, *CLASS_NAMES, *([] if per_recording else ["minutes"]), "patients", "devices"]
    for split, part in dataset.items():
        columns = part.select_columns(
            [c for c in ("label", "cycles", "start", "end", "device", "patient_id") if c in part.column_names]
        )
        frame = columns.to_pandas()
        labels = (
            [c["label"] for cycles in frame["cycles"] for c in cycles] if per_recording else frame["label"]
        )
        counts = np.bincount(np.asarray(labels, dtype=int), minlength=len(CLASS_NAMES))
        used = frame["device"].value_counts()
        counted = [str(len(frame)), str(len(labels))] if per_recording else [str(len(frame))]
        minutes = [] if per_recording else [f"{(frame['end'] - frame['start']).sum() / 60:.1f}"]
        devices = ", ".join(f"{name} {int(used[name])}" for name in DEVICES if name in used)
        rows.append(
            [split, *counted, *map(str, counts), *minutes, str(frame["patient_id"].nunique()), devices]
        )
    return header, rows


def split_definition(options: Mapping[str, Any], splits: Sequence[str]) -> list[str]:
    """Sentences saying how the splits were made."""
    seed = options.get("seed", 0)
    if options.get("split_strategy") == "patient":
        fractions = "/".join(f"{float(f):g}" for f in options.get("patient_split_fractions", ()))
        return [
            f"A patient-wise split ({', '.join(splits)}; fractions {fractions}), no patient in two "
            f"splits, stratified by `{options.get('stratify_by')}`, drawn with seed {seed} "
            "(`split_strategy=patient`)."
        ]
    sentences = [
        "`train` and `test`: the challenge's official split (`ICBHI_challenge_train_test.txt`, 60/40 by "
        "recording, matched on the first four fields of the recording name)."
    ]
    if "validation" in splits:
        sentences.append(
            f"`validation`: a patient-disjoint, class-stratified {float(options['validation_size']):.0%} "
            f"of the official train cycles, moved out of `train` with seed {seed}."
        )
    return sentences

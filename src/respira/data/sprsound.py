"""SPRSound 2022 (Zhang et al., IEEE TBioCAS 16(5), 2022; children, a Yunting II stethoscope, 8 kHz) as a
``datasets`` builder: config ``events`` (default), one example per annotated event, or ``recordings``, one
per recording with its ``events``. Events running past the audio are clipped (one starting after it is
left out), with one :class:`~respira.data.text_files.ClippedCycleWarning` per build.
"""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import datasets
import pandas as pd

from ..audio.decoding import DEFAULT_SAMPLING_RATE
from ..audio.wav import encode_wav
from ..core.windows import span_samples
from ..labels import CLASS_NAMES, MULTI_LABEL_NAMES
from .errors import CorpusError, CorpusFormatError, SplitError
from .icbhi import parse_split_fractions
from .loaders import AudioBuilderConfig, FolderBuilder, audio_durations, load_folder, recording_samples
from .splits import patient_split
from .sprsound_files import (
    EVENT_CLASSES,
    EVENT_TYPES,
    OFFICIAL_PARTS,
    RECORD_LABELS,
    SPRSoundLayout,
    SPRSoundRecording,
    locate_sprsound,
    sprsound_recordings,
)
from .text_files import ClippedCycleWarning

SPLITS: dict[str, tuple[str, ...]] = {"official": OFFICIAL_PARTS, "patient": ("train", "validation", "test")}
DEVICE = "Yunting II"
RECORDING_COLUMNS = ("recording", "patient_id", "age", "sex", "chest_location", "official_part")
FLAGS = ("crackle", "wheeze", "normal", "poor_quality")
INDEX_COLUMNS: tuple[str, ...] = ("path", *RECORDING_COLUMNS, "record_label", *FLAGS, "n_events")
EVENT_COLUMNS: tuple[str, ...] = (
    "path", *RECORDING_COLUMNS, "record_label", "event_index", "start", "end", "event_type", "label",
    "crackle", "wheeze",
)  # fmt: skip


def _recording_columns(recording: SPRSoundRecording) -> dict[str, Any]:
    name = recording.name
    return {
        "recording": name.stem,
        "patient_id": name.patient_id,
        "age": name.age,
        "sex": name.sex,
        "chest_location": name.chest_location,
        "official_part": recording.part,
        "record_label": recording.annotation.record_label,
    }


def _event_flags(event_type: str) -> dict[str, Any]:
    label = EVENT_CLASSES[event_type]
    crackle, wheeze = label in ("crackle", "both"), label in ("wheeze", "both")
    return {"label": label, "crackle": int(crackle), "wheeze": int(wheeze)}


def sprsound_reference_events(example: dict[str, Any]) -> list[tuple[float, float, str]]:
    """The crackle and wheeze events of one ``recordings`` example, as ``(start, end, label)``."""
    events = []
    for span in example["events"]:
        kind = span["type"]
        flags = _event_flags(EVENT_TYPES[kind] if isinstance(kind, int) else kind)
        events += [(span["start"], span["end"], name) for name in MULTI_LABEL_NAMES if flags[name]]
    return events


def read_sprsound_index(data_dir: str | Path) -> pd.DataFrame:
    """One row per SPRSound recording from names and JSON alone: :data:`INDEX_COLUMNS`."""
    rows = [
        {
            "path": str(recording.audio),
            **_recording_columns(recording),
            **recording.annotation.flags,
            "n_events": len(recording.annotation.events),
        }
        for recording in sprsound_recordings(locate_sprsound(data_dir))
    ]
    return pd.DataFrame.from_records(rows, columns=list(INDEX_COLUMNS))


def read_sprsound_events(data_dir: str | Path) -> pd.DataFrame:
    """One row per annotated event (seconds, unclipped) from names and JSON alone: :data:`EVENT_COLUMNS`."""
    rows = [
        {
            "path": str(recording.audio),
            **_recording_columns(recording),
            "event_index": number,
            "start": event.start,
            "end": event.end,
            "event_type": event.type,
            **_event_flags(event.type),
        }
        for recording in sprsound_recordings(locate_sprsound(data_dir))
        for number, event in enumerate(recording.annotation.events, start=1)
    ]
    return pd.DataFrame.from_records(rows, columns=list(EVENT_COLUMNS))


@dataclass
class SPRSoundConfig(AudioBuilderConfig):
    """Options of the SPRSound builder besides the audio ones: ``split_strategy`` ``official`` (the parts)
    or ``patient`` (``patient_split_fractions``, drawn with ``seed``)."""

    split_strategy: str = "official"
    patient_split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        if self.split_strategy not in SPLITS:
            known = ", ".join(SPLITS)
            raise ValueError(f"split_strategy must be one of {known}, got {self.split_strategy!r}")
        self.patient_split_fractions = parse_split_fractions(self.patient_split_fractions)
        if abs(sum(self.patient_split_fractions) - 1) > 1e-6:
            given = ",".join(f"{fraction:g}" for fraction in self.patient_split_fractions)
            raise ValueError(f"patient_split_fractions must sum to 1, got {given}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be a whole number, got {self.seed!r}")


def assign_sprsound_splits(index: pd.DataFrame, config: SPRSoundConfig) -> pd.Series:
    """The split of every recording of an index (:func:`read_sprsound_index`) under ``config``."""
    if config.split_strategy == "official":
        return index["official_part"].rename("split")
    names = SPLITS["patient"]
    fractions = {n: f for n, f in zip(names, config.patient_split_fractions, strict=True) if f > 0}
    try:
        return patient_split(index, fractions, seed=config.seed, stratify_by="record_label", require_all=None)
    except SplitError as error:
        raise CorpusError(
            f"split_strategy='patient': {error}; add recordings of more patients, or split fewer ways (a 0 "
            "in patient_split_fractions)"
        ) from None


class SPRSound(FolderBuilder, datasets.GeneratorBasedBuilder):
    """SPRSound from a local folder: one example per event (``events``) or per recording (``recordings``)."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = SPRSoundConfig
    BUILDER_CONFIGS: ClassVar[list[SPRSoundConfig]] = [
        SPRSoundConfig(name="events", version=VERSION, description="One example per annotated event."),
        SPRSoundConfig(name="recordings", version=VERSION, description="One example per recording."),
    ]
    DEFAULT_CONFIG_NAME = "events"
    config: SPRSoundConfig

    CORPUS = "sprsound"
    layout: SPRSoundLayout

    def _features(self) -> datasets.Features:
        features: dict[str, Any] = {
            "audio": datasets.Audio(sampling_rate=self.config.sampling_rate),
            "recording": datasets.Value("string"),
            "patient_id": datasets.Value("int32"),
            "age": datasets.Value("float64"),
            **{
                name: datasets.Value("string")
                for name in ("sex", "chest_location", "official_part", "device")
            },
            "record_label": datasets.ClassLabel(names=list(RECORD_LABELS)),
        }
        event_type = datasets.ClassLabel(names=list(EVENT_TYPES))
        if self.config.name == "recordings":
            features.update({flag: datasets.Value("int8") for flag in FLAGS})
            span = {"start": datasets.Value("float64"), "end": datasets.Value("float64"), "type": event_type}
            features["events"] = datasets.List(span)
        else:
            seconds, flag = datasets.Value("float64"), datasets.Value("int8")
            features.update(
                event_index=datasets.Value("int32"), start=seconds, end=seconds, event_type=event_type
            )
            features.update(label=datasets.ClassLabel(names=list(CLASS_NAMES)), crackle=flag, wheeze=flag)
        return datasets.Features(features)

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        recordings = sprsound_recordings(self.layout)
        index = pd.DataFrame.from_records([_recording_columns(recording) for recording in recordings])
        splits = assign_sprsound_splits(index, self.config).tolist()
        durations = audio_durations(self.layout.audio_files)  # fail early
        events = _fit_events(recordings, durations)
        tasks: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for recording, split, spans in zip(recordings, splits, events, strict=True):
            tasks[split].append(
                {
                    "path": str(recording.audio),
                    "columns": {**_recording_columns(recording), "device": DEVICE},
                    "flags": recording.annotation.flags,
                    "events": spans,
                }
            )
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"recordings": tasks[split]})
            for split in SPLITS[self.config.split_strategy]
            if tasks[split]
        ]

    def _generate_examples(self, recordings: list[dict[str, Any]]):
        config = self.config
        rate = config.sampling_rate
        for task in recordings:
            columns = task["columns"]
            if config.name != "recordings" and not task["events"]:
                continue  # nothing to cut: no need to decode
            samples = recording_samples(task["path"], config)
            if config.name == "recordings":
                audio = {"bytes": encode_wav(samples, rate, config.audio_subtype), "path": None}
                events = [{key: span[key] for key in ("start", "end", "type")} for span in task["events"]]
                yield columns["recording"], {"audio": audio, **columns, **task["flags"], "events": events}
                continue
            for span in task["events"]:
                start, end = span_samples(span["start"], span["end"], rate, samples.shape[0])
                if end <= start:
                    raise CorpusFormatError(
                        task["path"],
                        f"event {span['event_index']} ({span['start']:g}-{span['end']:g} s) is empty after "
                        f"resampling to {rate} Hz",
                    )
                key = f"{columns['recording']}_{span['event_index']:03d}"
                audio = {"bytes": encode_wav(samples[start:end], rate, config.audio_subtype), "path": None}
                event = {name: span[name] for name in ("event_index", "start", "end")}
                flags = _event_flags(span["type"])
                yield key, {"audio": audio, **columns, **event, "event_type": span["type"], **flags}


def _fit_events(
    recordings: list[SPRSoundRecording], durations: dict[str, float]
) -> list[list[dict[str, Any]]]:
    """Each recording's events as plain values, clipped to its audio (one warning for the whole build)."""
    fitted, clipped, dropped, first = [], 0, 0, ""
    for recording in recordings:
        duration, spans = durations[recording.name.stem], []
        for number, event in enumerate(recording.annotation.events, start=1):
            if event.end > duration and not first:
                times = f"{event.start:g}-{event.end:g} s, audio {duration:.3f} s"
                first = f"{recording.json} event {number} ({times})"
            if event.start >= duration:
                dropped += 1
                continue
            clipped += event.end > duration
            span = {"event_index": number, "start": event.start, "end": min(event.end, duration)}
            spans.append({**span, "type": event.type})
        fitted.append(spans)
    if clipped or dropped:
        warnings.warn(
            f"{clipped + dropped} SPRSound event(s) end after their recording: {clipped} clipped to its end, "
            f"{dropped} starting at or after it left out; first: {first}",
            ClippedCycleWarning,
            stacklevel=3,
        )
    return fitted


def load_sprsound(
    data_dir: str | Path,
    *,
    config_name: str = "events",
    parts: Sequence[str] | None = None,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    cache_dir: str | Path | None = None,
    num_proc: int | None = None,
    streaming: bool = False,
    **options: Any,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Build (or load from cache) SPRSound from a local folder: its official ``parts`` alone, each required
    (default: every part there); ``options``: further :class:`SPRSoundConfig` fields."""
    return load_folder(
        SPRSound, load_sprsound, options, cache_dir=cache_dir, num_proc=num_proc, streaming=streaming,
        config_name=config_name, data_dir=data_dir, parts=parts, sampling_rate=sampling_rate,
    )  # fmt: skip


# ------------------------------------------------ its dataset card (the spec's split_table, split_definition)
_OFFICIAL = {
    "train": "`train`: the official training part (`train_wav/`, `train_json/`).",
    "inter_test": "`inter_test`: the official test recordings of patients absent from the training part of "
    "the complete release (`test_json/inter_test_json/`).",
    "intra_test": "`intra_test`: the official test recordings of patients who also have recordings in the "
    "training part (`test_json/intra_test_json/`): not patient-disjoint from `train`, by definition.",
}


def split_table(dataset: datasets.DatasetDict) -> tuple[list[str], list[list[str]]]:
    """A header and one row per split: events per class or recordings per record label, patients, parts."""
    first = next(iter(dataset.values()))
    per_recording = "events" in first.column_names
    if per_recording:
        header = ["split", "recordings", "patients", "events", *RECORD_LABELS, "official parts"]
    else:
        header = ["split", "events", "recordings", "patients", *CLASS_NAMES, "official parts"]
    rows = []
    for split, part in dataset.items():
        label = "record_label" if per_recording else "label"
        columns = [label, "recording", "patient_id", "official_part", *(["events"] if per_recording else [])]
        frame = part.select_columns(columns).to_pandas()
        names = RECORD_LABELS if per_recording else CLASS_NAMES
        counts = Counter(int(value) for value in frame[label])
        labels = [str(counts[index]) for index in range(len(names))]
        parts = frame.drop_duplicates("recording")["official_part"].value_counts()
        official = ", ".join(f"{name} {int(parts[name])}" for name in sorted(parts.index))
        recordings, patients = str(frame["recording"].nunique()), str(frame["patient_id"].nunique())
        if per_recording:
            events = str(sum(len(spans) for spans in frame["events"]))
            rows.append([split, recordings, patients, events, *labels, official])
        else:
            rows.append([split, str(len(frame)), recordings, patients, *labels, official])
    return header, rows


def split_definition(options: Mapping[str, Any], splits: Sequence[str]) -> list[str]:
    """Sentences saying how the splits were made: the official parts, or a patient-wise split."""
    if options.get("split_strategy") == "patient":
        fractions = "/".join(f"{float(f):g}" for f in options.get("patient_split_fractions", ()))
        return [
            f"A patient-wise split ({', '.join(splits)}; fractions {fractions} of the recordings), no "
            f"patient in two splits, stratified by record label, drawn with seed {options.get('seed', 0)} "
            "(`split_strategy=patient`); each recording's official part is in `official_part`."
        ]
    return [_OFFICIAL[split] for split in splits if split in _OFFICIAL]

"""What the corpus builders and their ``load_*`` functions share: the audio options, a located,
fingerprinted folder whose failed build raises its cause, and options checked before any file is read."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np
import pandas as pd

from ..models.respira.audio_decoding import (
    DEFAULT_SAMPLING_RATE,
    STORAGE_SUBTYPES,
    AudioReadError,
    audio_header,
    check_decodes,
    check_whole,
    encode_wav,
    lowpass,
    read_audio,
)
from ..models.respira.windows import span_samples
from ..utils.messages import unknown_names
from .corpus_files import DataDir, data_dirs
from .errors import CorpusFormatError, original_build_error

WHOLE_RECORDING_BATCH = 50  # examples per write batch of a config of whole recordings (large examples)


@dataclass
class AudioBuilderConfig(datasets.BuilderConfig):
    """How a builder decodes its recordings; every field is part of the cache key."""

    sampling_rate: int = DEFAULT_SAMPLING_RATE
    lowpass_cutoff: float | None = None
    lowpass_order: int = 4
    audio_subtype: str = "FLOAT"
    input_fingerprint: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` for an option value the builder cannot honour."""
        self.sampling_rate = check_whole(self.sampling_rate, "sampling_rate")
        if self.audio_subtype not in STORAGE_SUBTYPES:
            raise ValueError(f"audio_subtype must be one of {STORAGE_SUBTYPES}, got {self.audio_subtype!r}")
        if self.lowpass_cutoff is not None and not 0 < self.lowpass_cutoff < self.sampling_rate / 2:
            raise ValueError(
                f"lowpass_cutoff {self.lowpass_cutoff} Hz must lie below the Nyquist frequency "
                f"{self.sampling_rate / 2} Hz of sampling_rate {self.sampling_rate}"
            )
        self.lowpass_order = check_whole(self.lowpass_order, "lowpass_order")


class FolderBuilder:
    """Builder mixin (first in the bases) for a corpus in a local folder: located by its ``LOCATE``,
    fingerprinted, its config validated again after ``datasets`` has set the user's options; its examples
    made from recording tasks (:meth:`_generate_examples`)."""

    LOCATE: ClassVar[Callable[..., Any]]
    """The corpus's ``locate(folder[, parts])`` (a ``staticmethod``)."""
    config: AudioBuilderConfig

    def __init__(self, *args: Any, data_dir: DataDir | None = None, parts: Any = None, **kwargs: Any):
        if data_dir is None:
            raise ValueError(
                f"the {type(self).__name__} builder reads a local copy of the corpus: pass data_dir=<folder>"
            )
        self.layout = self.LOCATE(data_dir, *([] if parts is None else [parts]))
        kwargs["input_fingerprint"] = self.layout.fingerprint()
        config_name = kwargs.get("config_name") or getattr(self, "DEFAULT_CONFIG_NAME", None)
        if config_name == "recordings" and kwargs.get("writer_batch_size") is None:
            kwargs["writer_batch_size"] = WHOLE_RECORDING_BATCH
        folders = os.pathsep.join(str(Path(d).expanduser().resolve()) for d in data_dirs(data_dir))
        super().__init__(*args, data_dir=folders, **kwargs)  # type: ignore[call-arg]
        self.config.validate()

    def _info(self) -> datasets.DatasetInfo:  # its description and citation: the dataset card's (its spec)
        return datasets.DatasetInfo(features=self._features())  # type: ignore[attr-defined]

    def download_and_prepare(self, *args: Any, **kwargs: Any) -> None:
        """``datasets.DatasetBuilder.download_and_prepare``, raising the cause of a failed build."""
        try:
            super().download_and_prepare(*args, **kwargs)  # type: ignore[misc]
        except Exception as error:
            if type(error).__name__ != "DatasetGenerationError":
                raise
            raise original_build_error(error, self._cache_dir_root) from None  # type: ignore[attr-defined]

    def _generate_examples(self, recordings: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        """Each task's recording (``path``) decoded once: one example of its ``columns``, or (``segments``
        not ``None``) one per segment, cut at ``round(t * rate)`` and clipped to the recording's end."""
        config, rate = self.config, self.config.sampling_rate
        for task in recordings:
            if task["segments"] == []:
                continue  # nothing to cut: no need to decode
            samples = recording_samples(task["path"], config)
            name = task["columns"]["recording"]
            if task["segments"] is None:
                audio = {
                    "bytes": encode_wav(samples, rate, config.audio_subtype),
                    "path": Path(task["path"]).name,
                }
                yield name, {"audio": audio, **task["columns"]}
                continue
            for number, (columns, (file, line, what)) in enumerate(task["segments"]):
                start, end = span_samples(columns["start"], columns["end"], rate, samples.shape[0])
                if end <= start:
                    raise CorpusFormatError(
                        file,
                        f"{what} is empty after resampling to {rate} Hz ({samples.shape[0]} samples)",
                        line,
                    )
                key = f"{name}_{number:03d}"
                audio = {
                    "bytes": encode_wav(samples[start:end], rate, config.audio_subtype),
                    "path": f"{key}.wav",
                }
                yield key, {"audio": audio, **task["columns"], **columns}


def recording_samples(path: str | Path, config: AudioBuilderConfig) -> np.ndarray:
    """A recording decoded, down-mixed, resampled once and optionally low-passed; else a format error."""
    try:
        samples = read_audio(path, config.sampling_rate)
    except AudioReadError as failure:
        raise CorpusFormatError(failure.path, failure.reason) from None
    if config.lowpass_cutoff is not None:
        samples = lowpass(samples, config.sampling_rate, config.lowpass_cutoff, config.lowpass_order)
    return samples


def audio_durations(files: Mapping[str, Path]) -> dict[str, float]:
    """Duration (seconds, from the header) of each recording; a format error for an unreadable file, or a
    compressed one (not ``.wav``, whose header says whether its data is all there) that does not decode to
    its end."""
    durations = {}
    for stem, path in files.items():
        try:
            durations[stem] = audio_header(path).duration
            if Path(path).suffix.lower() != ".wav":
                check_decodes(path)
        except AudioReadError as failure:
            raise CorpusFormatError(failure.path, failure.reason) from None
    return durations


class WholeRecordings:
    """Builder mixin: one example per recording of its layout (``RECORDINGS(layout)``: tasks of
    :meth:`FolderBuilder._generate_examples` without segments), all in one ``test`` split, in one config of
    the audio options alone."""

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = AudioBuilderConfig
    BUILDER_CONFIGS: ClassVar[list[AudioBuilderConfig]] = [
        AudioBuilderConfig(name="recordings", version=VERSION, description="One example per recording."),
    ]
    DEFAULT_CONFIG_NAME = "recordings"
    COLUMNS: ClassVar[dict[str, Any]]  # the metadata columns' features, in order
    RECORDINGS: ClassVar[Callable[[Any], list[dict[str, Any]]]]
    LOCATE: ClassVar[Callable[..., Any]]
    config: AudioBuilderConfig
    layout: Any

    @classmethod
    def read_index(cls, data_dir: DataDir) -> pd.DataFrame:
        """One row per recording, from the listing alone: the example columns and ``path``."""
        rows = [{**task["columns"], "path": task["path"]} for task in cls.RECORDINGS(cls.LOCATE(data_dir))]
        return pd.DataFrame.from_records(rows, columns=[*cls.COLUMNS, "path"])

    def _features(self) -> datasets.Features:
        return datasets.Features(
            {"audio": datasets.Audio(sampling_rate=self.config.sampling_rate), **self.COLUMNS}
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        recordings = self.RECORDINGS(self.layout)
        audio_durations({task["path"]: Path(task["path"]) for task in recordings})  # unreadable: fail early
        return [datasets.SplitGenerator(name="test", gen_kwargs={"recordings": recordings})]


def builder_option_names(config_class: type[datasets.BuilderConfig]) -> tuple[str, ...]:
    """The options a user may set on ``config_class`` (not ``BuilderConfig``'s fields, nor the input
    fingerprint the builders set)."""
    internal = {field.name for field in fields(datasets.BuilderConfig)} | {"input_fingerprint"}
    return tuple(field.name for field in fields(config_class) if field.init and field.name not in internal)


def builder_options(
    config_class: type[datasets.BuilderConfig], config_name: str, **given: Any
) -> dict[str, Any]:
    """Every option of ``config_class`` (:func:`builder_option_names`) with ``given`` set, validated by the
    config (one-line ``ValueError``): the one form a builder is given them in, since ``datasets`` names a
    config's cache by the options passed, so that the same options find the same cache whoever passes them
    (``respira prepare``, a run's data, ``load_icbhi``). Tuples become lists; a whole number for a ``float``
    field, a float."""
    config = config_class(name=config_name, **given)
    declared = {field.name: str(field.type) for field in fields(config_class)}
    options = {}
    for name in builder_option_names(config_class):
        value = getattr(config, name)
        if isinstance(value, int) and not isinstance(value, bool) and "float" in declared[name]:
            value = float(value)
        options[name] = list(value) if isinstance(value, tuple) else value
    return options


def _keyword_only(function: Callable[..., Any]) -> list[str]:
    parameters = inspect.signature(function).parameters.values()
    return [parameter.name for parameter in parameters if parameter.kind is inspect.Parameter.KEYWORD_ONLY]


def load_folder(
    builder_class: type[datasets.GeneratorBasedBuilder],
    loader: Callable[..., Any],
    data_dir: DataDir,
    *,
    config_name: str | None = None,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    cache_dir: str | Path | None = None,
    num_proc: int | None = None,
    streaming: bool = False,
    **options: Any,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """What every ``load_*`` does: ``options`` (builder config fields, and ``loader``'s keyword-only
    parameters) checked, the builder made, its splits built (or, ``streaming``, decoded while iterated)."""
    allowed = {*builder_option_names(builder_class.BUILDER_CONFIG_CLASS), *_keyword_only(loader)}
    unknown = [key for key in options if key not in allowed]
    if unknown:  # a one-line TypeError before any file is read
        valid = sorted({*allowed, *_keyword_only(load_folder)})
        raise TypeError(
            f"{loader.__name__}() got unknown option(s) {unknown_names(unknown, valid)}; "
            f"valid options: {', '.join(valid)}"
        )
    config_class = builder_class.BUILDER_CONFIG_CLASS
    named = set(builder_option_names(config_class))
    given = {key: value for key, value in options.items() if key in named}
    name = config_name or getattr(builder_class, "DEFAULT_CONFIG_NAME", None) or "default"
    options.update(builder_options(config_class, name, sampling_rate=sampling_rate, **given))
    cache = str(cache_dir) if cache_dir is not None else None
    builder = builder_class(cache_dir=cache, config_name=config_name, data_dir=data_dir, **options)
    if streaming:
        if num_proc is not None:
            raise ValueError(
                "num_proc applies to building the cache; streaming=True decodes recordings while iterating"
            )
        return builder.as_streaming_dataset()
    builder.download_and_prepare(num_proc=num_proc)
    return builder.as_dataset()

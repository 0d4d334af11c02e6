"""Datasets loaded with ``datasets.load_dataset``: a ``respira prepare`` folder, its Hub repo, or any dataset
of the same shape, named as in transformers' ``run_audio_classification.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models.respira.labels import CLASS_NAMES
from ..utils.messages import one_line

REQUIRED_COLUMNS: tuple[str, ...] = ("patient_id",)
"""Metadata columns training and evaluation need besides the audio and the label (patient-wise scores)."""
CARD = "README.md"


@dataclass(frozen=True)
class PreparedDataset:
    """What a dataset source holds, read from its card and features (no audio decoded)."""

    name: str  # the Hub id or folder, as given
    config_name: str
    splits: dict[str, int]  # examples per split
    features: Any = field(repr=False)
    audio_column: str = "audio"
    label_column: str = "label"
    build: dict[str, Any] = field(default_factory=dict)
    """The ``respira prepare`` options this config was built with (empty for other datasets)."""

    def require_splits(self, names: Iterable[str], purpose: str) -> None:
        missing = [name for name in names if name not in self.splits]
        if missing:
            raise ValueError(
                f"dataset {self.name!r} (config {self.config_name!r}) has no split {missing[0]!r}, which "
                f"{purpose}; its splits: {', '.join(self.splits)}"
            )


def folder_card(folder: str | Path | None) -> dict[str, Any] | None:
    """The card metadata of a dataset folder (its ``README.md`` lists ``configs``), else ``None``."""
    card = Path(folder).expanduser() / CARD if folder else None
    data = _card_data(card) if card is not None and card.is_file() else {}
    return data if data.get("configs") else None


def is_prepared_folder(path: str | Path | list[str] | None) -> bool:
    """Whether ``path`` is a dataset folder, not a corpus (nor several folders of one)."""
    return isinstance(path, (str, os.PathLike)) and folder_card(path) is not None


def _card_data(card: str | Path) -> dict[str, Any]:
    from huggingface_hub import DatasetCard

    try:
        return DatasetCard.load(card, repo_type="dataset").data.to_dict()
    except Exception:  # no card, or a README.md without YAML front matter: the features still describe it
        return {}


def build_options(card_data: dict[str, Any], config_name: str) -> dict[str, Any]:
    """The build options the card records for ``config_name`` under ``respira:`` (``{}`` when none)."""
    mapping = card_data.get("respira")
    options = mapping.get(config_name) if isinstance(mapping, dict) else None
    return dict(options) if isinstance(options, dict) else {}


def _read_card(name: str) -> dict[str, Any]:
    """The card metadata of a dataset folder or Hub dataset (``{}`` without one)."""
    folder = Path(name).expanduser()
    return _card_data(folder / CARD if folder.is_dir() else name)


def _source(name: str) -> str:
    folder = Path(name).expanduser()
    return str(folder) if folder.is_dir() else name


def _builder(name: str, config_name: str | None, cache_dir: str | Path | None):
    import datasets

    folder = Path(name).expanduser()
    if not folder.is_dir() and (folder.exists() or name.startswith((".", "/", "~"))):
        raise FileNotFoundError(f"--dataset_name {name}: no such dataset folder")
    try:
        return datasets.load_dataset_builder(
            _source(name), config_name, cache_dir=None if cache_dir is None else str(cache_dir)
        )
    except ValueError as error:
        message = one_line(error)
        if "BuilderConfig" in message or "Config name is missing" in message:
            raise ValueError(f"--dataset_config_name {config_name!r} of {name}: {message}") from None
        raise ValueError(f"--dataset_name {name}: {message}") from None
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"--dataset_name {name}: not a dataset folder or Hub dataset ({one_line(error)})"
        ) from None


def _first_file_features(name: str, config: str, builder) -> Any:
    import datasets

    splits = list(builder.config.data_files or {})
    try:
        streamed = datasets.load_dataset(_source(name), config, split=splits[0], streaming=True)
        features = streamed.features or streamed._resolve_features().features
    except Exception as error:
        raise ValueError(f"--dataset_name {name}: cannot read its features ({one_line(error)})") from None
    if features is None:
        raise ValueError(f"--dataset_name {name}: its card states no features and its files name none")
    return features


def inspect_dataset(
    name: str,
    config_name: str | None = None,
    *,
    audio_column: str = "audio",
    label_column: str = "label",
    cache_dir: str | Path | None = None,
) -> PreparedDataset:
    """Check, from its card and features alone, that ``name`` can train or score a respira model (one line
    naming the dataset and its missing config, column or split)."""
    import datasets

    builder = _builder(name, config_name, cache_dir)
    config = builder.config.name
    features = builder.info.features or _first_file_features(name, config, builder)
    columns = list(features)

    def missing(kind: str, column: str) -> ValueError:
        return ValueError(
            f"dataset {name!r} (config {config!r}) has no {kind} {column!r}; "
            f"its columns: {', '.join(columns)}"
        )

    if audio_column not in features:
        raise missing("audio column (--audio_column_name)", audio_column)
    if not isinstance(features[audio_column], datasets.Audio):
        raise ValueError(
            f"--audio_column_name {audio_column}: column of dataset {name!r} is "
            f"{type(features[audio_column]).__name__}, not datasets.Audio"
        )
    if label_column not in features:
        raise missing("label column (--label_column_name)", label_column)
    label = features[label_column]
    if isinstance(label, datasets.ClassLabel):
        if list(label.names) != list(CLASS_NAMES):
            raise ValueError(
                f"--label_column_name {label_column}: dataset {name!r} names its classes "
                f"{', '.join(label.names)}; respira's are {', '.join(CLASS_NAMES)} (in that order)"
            )
    elif not (isinstance(label, datasets.Value) and label.dtype.startswith(("int", "uint"))):
        raise ValueError(
            f"--label_column_name {label_column}: column of dataset {name!r} is {label!r}, not a "
            "ClassLabel of the classes " + ", ".join(CLASS_NAMES)
        )
    for column in REQUIRED_COLUMNS:
        if column not in features:
            raise missing("column", column)
    for wanted, given in (("audio", audio_column), ("label", label_column)):
        if given != wanted and wanted in features:
            raise ValueError(
                f"dataset {name!r} has a column {wanted!r} besides --{wanted}_column_name {given}: "
                f"respira reads the {wanted} as {wanted!r}; remove or rename one of them"
            )
    splits = {split: info.num_examples for split, info in (builder.info.splits or {}).items()}
    if not splits:
        splits = {split: -1 for split in (builder.config.data_files or {})}
    build = build_options(_read_card(name), config)
    return PreparedDataset(name, config, splits, features, audio_column, label_column, build)


def load_prepared(
    source: PreparedDataset, *, cache_dir: str | Path | None = None, num_proc: int | None = None
):
    """The splits of an inspected source (:func:`inspect_dataset`), audio and label as ``audio``/``label``."""
    import datasets

    loaded = datasets.load_dataset(
        _source(source.name),
        source.config_name,
        cache_dir=None if cache_dir is None else str(cache_dir),
        num_proc=num_proc,
    )
    renames = {source.audio_column: "audio", source.label_column: "label"}
    renames = {old: new for old, new in renames.items() if old != new}
    if renames:
        loaded = loaded.rename_columns(renames)
    if isinstance(loaded[next(iter(loaded))].features["label"], datasets.ClassLabel):
        return loaded
    return loaded.cast_column("label", datasets.ClassLabel(names=list(CLASS_NAMES)))  # refuses out-of-range

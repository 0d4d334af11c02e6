"""A built dataset saved as a folder that ``datasets.load_dataset(folder)`` loads (locally or on the Hub).

Layout (the Hub's convention for a named config)::

    README.md                                   card (:mod:`.dataset_card`)
    cycles/train-00000-of-00001.parquet         shards of at most ~500 MB per split
    cycles/test-00000-of-00001.parquet

Several configs live side by side; writing one keeps the others. The folder is written in a hidden
staging sibling and renamed into place when complete, so a failure leaves nothing behind.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import datasets
from huggingface_hub import DatasetCard

from ..utils.files import is_occupied, staged_folder
from .dataset_card import dataset_card
from .prepared import is_prepared_folder

MAX_SHARD_BYTES = 500 * 1024 * 1024
"""Largest in-memory size of one Parquet shard (the Hub's ``push_to_hub`` default)."""


def folder_card(folder: str | Path) -> dict[str, Any] | None:
    """The card metadata of a dataset folder written by :func:`save_dataset_folder` (``None`` otherwise)."""
    folder = Path(folder).expanduser()
    if not is_prepared_folder(folder):
        return None
    return DatasetCard.load(folder / "README.md").data.to_dict()


def card_configs(card: dict[str, Any] | None) -> list[str]:
    """The config names a card's metadata lists."""
    return [entry.get("config_name", "default") for entry in (card or {}).get("configs") or []]


def check_output_folder(output_dir: str | Path, *, overwrite: bool, config_name: str | None = None) -> Path:
    """Return ``output_dir``, or raise a one-line ``OSError`` when a dataset folder cannot be written there.

    Refused: a file at ``output_dir`` or a parent, and a non-empty folder unless ``overwrite`` or it is a
    dataset folder without ``config_name``.
    """
    output_dir = Path(output_dir).expanduser()
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(
            f"--output_dir {output_dir} is a file; give a folder to write the dataset to"
        )
    for parent in output_dir.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot write {output_dir}: {parent} is a file, not a folder")
            break
    if is_occupied(output_dir) and not overwrite:
        held = card_configs(folder_card(output_dir)) if output_dir.is_dir() else []
        if held and config_name is not None and config_name not in held:
            return output_dir
        if config_name in held:
            raise FileExistsError(
                f"{output_dir} already holds the config {config_name!r}; pass --overwrite to replace it (its "
                f"other configs {', '.join(c for c in held if c != config_name) or '(none)'} are kept), or "
                "give another --config_name"
            )
        raise FileExistsError(
            f"{output_dir} is not empty; pass --overwrite to replace it, or choose another folder"
        )
    return output_dir


def save_dataset_folder(
    dataset: datasets.DatasetDict,
    output_dir: str | Path,
    *,
    corpus: str,
    config_name: str,
    options: dict[str, Any],
    builder_config: str | None = None,
    synthetic: bool = False,
    repo_id: str | None = None,
    overwrite: bool = False,
    existing: dict[str, Any] | None = None,
) -> DatasetCard:
    """Write ``dataset`` to ``output_dir`` as Parquet shards and a card; return the card.

    An existing dataset folder keeps its other configs; ``existing`` is card metadata (e.g. the Hub repo's)
    whose other configs the card lists too.
    """
    output_dir = check_output_folder(output_dir, overwrite=overwrite, config_name=config_name)
    layout = {}  # each split's Parquet files, relative to the folder: {config}/{split}-{i}-of-{n}.parquet
    for split, part in dataset.items():
        shards = max(1, math.ceil(part.data.nbytes / MAX_SHARD_BYTES))
        layout[split] = [f"{config_name}/{split}-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)]
    local = folder_card(output_dir)
    kept = [name for name in card_configs(local) if name != config_name]
    with staged_folder(output_dir, overwrite=overwrite or bool(kept)) as staging:
        for name in kept:  # the folder's other configs, unchanged (hard links where possible)
            if (output_dir / name).is_dir():
                shutil.copytree(output_dir / name, staging / name, copy_function=_link_or_copy)
        for split, names in layout.items():
            part = dataset[split]
            for index, name in enumerate(names):
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                part.shard(len(names), index, contiguous=True).to_parquet(str(target))
        size = sum((staging / name).stat().st_size for names in layout.values() for name in names)
        card = dataset_card(
            dataset,
            corpus=corpus,
            config_name=config_name,
            builder_config=builder_config,
            data_files=layout,
            options=options,
            download_size=size,
            synthetic=synthetic,
            repo_id=repo_id,
            existing=local or existing,
        )
        card.save(staging / "README.md")
    return card


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)

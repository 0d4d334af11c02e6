"""A built dataset saved as a folder that ``datasets.load_dataset(folder)`` loads, locally or once uploaded
to a Hub dataset repo: Parquet shards per split plus a dataset card (:mod:`.dataset_card`).

Layout (the Hub's own convention for a named config)::

    README.md                                   card: configs, dataset_info, corpus facts, licence
    cycles/train-00000-of-00001.parquet         one or more shards per split (at most ~500 MB each)
    cycles/validation-00000-of-00001.parquet
    cycles/test-00000-of-00001.parquet

The folder is written in a hidden staging sibling and renamed into place only when complete: a failure
leaves nothing behind, and ``overwrite`` replaces an earlier folder only then.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import datasets
from huggingface_hub import DatasetCard

from ..utils.files import is_occupied, staged_folder
from .dataset_card import dataset_card

__all__ = ["MAX_SHARD_BYTES", "check_output_folder", "parquet_layout", "save_dataset_folder"]

MAX_SHARD_BYTES = 500 * 1024 * 1024
"""Largest in-memory size of one Parquet shard (the Hub's ``push_to_hub`` default)."""


def check_output_folder(output_dir: str | Path, *, overwrite: bool) -> Path:
    """Raise a one-line ``OSError`` when a dataset folder cannot be written to ``output_dir``; return it.

    Refused: a file at ``output_dir`` or at one of its parents, and a non-empty folder unless
    ``overwrite``. Called before the dataset is built, so a long build never ends in this error.
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
        raise FileExistsError(
            f"{output_dir} is not empty; pass --overwrite to replace it, or choose another folder"
        )
    return output_dir


def parquet_layout(
    dataset: datasets.DatasetDict, config_name: str, max_shard_bytes: int = MAX_SHARD_BYTES
) -> dict[str, list[str]]:
    """Each split's Parquet file names, relative to the folder: ``{config}/{split}-{i}-of-{n}.parquet``."""
    layout = {}
    for split, part in dataset.items():
        shards = max(1, math.ceil(part.data.nbytes / max_shard_bytes))
        layout[split] = [f"{config_name}/{split}-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)]
    return layout


def save_dataset_folder(
    dataset: datasets.DatasetDict,
    output_dir: str | Path,
    *,
    corpus: str,
    config_name: str,
    options: dict[str, Any],
    synthetic: bool = False,
    repo_id: str | None = None,
    overwrite: bool = False,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> DatasetCard:
    """Write ``dataset`` to ``output_dir`` as Parquet shards and a card (see the module docstring).

    ``corpus``, ``options``, ``synthetic`` and ``repo_id`` go to :func:`~.dataset_card.dataset_card`.
    Returns the card written as ``README.md``.
    """
    output_dir = check_output_folder(output_dir, overwrite=overwrite)
    layout = parquet_layout(dataset, config_name, max_shard_bytes)
    with staged_folder(output_dir, overwrite=overwrite) as staging:
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
            data_files=layout,
            options=options,
            download_size=size,
            synthetic=synthetic,
            repo_id=repo_id,
        )
        card.save(staging / "README.md")
    return card

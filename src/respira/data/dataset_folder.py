"""A built dataset saved as a folder that ``datasets.load_dataset(folder)`` loads (locally or on the Hub):
Parquet shards and a ``README.md`` card whose metadata ``push_to_hub`` would write, with the build options
under ``respira:``. Writing one config keeps the folder's others.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from huggingface_hub import DatasetCard, DatasetCardData

from ..models.respira.labels import CLASS_NAMES, RECORDING_LABELS
from ..utils import files
from ..utils.tables import format_table
from .corpora import CORPORA, get_corpus
from .prepared import build_options, folder_card

MAX_SHARD_BYTES = 500 * 1024 * 1024  # push_to_hub's default


def card_configs(card: dict[str, Any] | None) -> list[str]:
    """The config names a card's metadata lists."""
    return [entry.get("config_name", "default") for entry in (card or {}).get("configs") or []]


def check_output_folder(output_dir: str | Path, *, overwrite: bool, config_name: str | None = None) -> Path:
    """``output_dir``, or a one-line ``OSError``: a file there or above, a non-empty folder (unless
    ``overwrite``, or a dataset folder without ``config_name``)."""
    output_dir = Path(output_dir).expanduser()
    if files.is_occupied(output_dir) and not overwrite:
        held = card_configs(folder_card(output_dir)) if output_dir.is_dir() else []
        if held and config_name is not None and config_name not in held:  # a new config beside the others
            return files.check_output_folder(output_dir, overwrite=True)
        if config_name in held:
            files.check_output_folder(output_dir, overwrite=True)  # what --overwrite would refuse, said now
            raise FileExistsError(
                f"{output_dir} already holds the config {config_name!r}; pass --overwrite to replace it (its "
                f"other configs {', '.join(c for c in held if c != config_name) or '(none)'} are kept), or "
                "give another --config_name"
            )
    message = f"{output_dir} is not empty; pass --overwrite to replace it, or choose another folder"
    return files.check_output_folder(output_dir, overwrite=overwrite, exists_message=message)


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
    """Write ``dataset`` to ``output_dir`` as Parquet shards and a card (returned), keeping the folder's
    other configs; ``existing``: card metadata (the Hub repo's) whose other configs the card lists too."""
    output_dir = check_output_folder(output_dir, overwrite=overwrite, config_name=config_name)
    layout = {}  # each split's Parquet files, relative to the folder: {config}/{split}-{i}-of-{n}.parquet
    for split, part in dataset.items():
        shards = max(1, math.ceil(part.data.nbytes / MAX_SHARD_BYTES))
        layout[split] = [f"{config_name}/{split}-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)]
    local = folder_card(output_dir)
    kept = [name for name in card_configs(local) if name != config_name]
    with files.staged_folder(output_dir, overwrite=overwrite or bool(kept)) as staging:
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
            dataset, corpus=corpus, config_name=config_name, builder_config=builder_config, data_files=layout,
            options=options, download_size=size, synthetic=synthetic, repo_id=repo_id,
            existing=local or existing,
        )  # fmt: skip
        card.save(staging / "README.md")
    return card


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


# ------------------------------------------------------------ the card
TEMPLATE = "dataset_card_template.md"
_SEGMENTS = {"cycle": ("cycles", "annotated respiratory cycles"), "event": ("events", "annotated events")}
"""Segment labels → the config with one example per segment (its column in ``recordings``), its words."""


def _size_category(rows: int) -> str:
    bounds = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
    return next((name for bound, name in bounds if rows < bound), "n>1M")


def split_table(dataset: datasets.DatasetDict, corpus: str) -> tuple[list[str], list[list[str]]]:
    """A header and one row per split of what ``dataset`` holds (no audio decoded)."""
    spec = get_corpus(corpus)
    if spec.split_table is not None:
        return spec.split_table(dataset)
    first = next(iter(dataset.values()))
    flags = [flag for flag in RECORDING_LABELS if flag in first.column_names]
    group = spec.group_column if spec.group_column in first.column_names else None
    header = ["split", "recordings", "patients", *flags, *([f"{group.replace('_', ' ')}s"] if group else [])]
    rows = []
    for split, part in dataset.items():
        frame = part.select_columns([spec.group_by, *flags, *([group] if group else [])]).to_pandas()
        row = [split, str(len(frame)), str(frame[spec.group_by].nunique())]
        row += [str(int(frame[flag].sum())) for flag in flags]
        if group:
            row.append(
                ", ".join(f"{value} {int(n)}" for value, n in sorted(frame[group].value_counts().items()))
            )
        rows.append(row)
    return header, rows


def split_counts(dataset: datasets.DatasetDict) -> str:
    """Patients, recordings and cycles (or windows) per split, and cycles per class (no audio decoded)."""
    header = ["split", "patients", "recordings", "cycles", *CLASS_NAMES]
    rows = []
    for split, part in dataset.items():
        names = [name for name in ("label", "patient_id", "recording") if name in part.column_names]
        columns = part.select_columns(names).to_pandas()
        labels = columns["label"].to_numpy() if "label" in columns else np.zeros(0, dtype=int)
        counts = np.bincount(labels[labels >= 0], minlength=len(CLASS_NAMES))
        groups = (
            str(columns[name].nunique()) if name in columns else "-" for name in ("patient_id", "recording")
        )
        rows.append([split, *groups, str(len(part)), *map(str, counts)])
    return format_table(rows, header)


def summarize(dataset: datasets.DatasetDict, corpus: str = "icbhi") -> str:
    """What ``dataset`` (built from ``corpus``) holds per split, as its card's table (no audio decoded)."""
    header, rows = split_table(dataset, corpus)
    return format_table(rows, header, align="<" + ">" * (len(header) - 2) + "<")


def _split_definition(corpus: str, options: Mapping[str, Any], splits: Sequence[str]) -> list[str]:
    spec = get_corpus(corpus)
    if spec.split_definition is not None:
        return spec.split_definition(options, splits)
    return [
        "`test`: every recording. "
        f"{spec.label} validates models trained on another corpus; it is never used to train or tune them."
    ]


def _audio_sentence(corpus: str, config_name: str, options: Mapping[str, Any]) -> str:
    cutoff = options.get("lowpass_cutoff")
    order = options.get("lowpass_order")
    lowpass = (
        f"low-passed at {float(cutoff):g} Hz (zero-phase Butterworth, order {order})"
        if cutoff
        else "not filtered"
    )
    segments = _SEGMENTS.get(get_corpus(corpus).labels)
    examples = (
        f"then cut into its {segments[1]} (no padding), one example per {segments[0][:-1]}"
        if segments is not None and config_name == segments[0]
        else "one example per recording"
    )
    return (
        f"Each recording is decoded, down-mixed to mono, resampled once with soxr (HQ) to "
        f"{int(options['sampling_rate'])} Hz and {lowpass}, {examples}; the samples are stored as "
        f"{options.get('audio_subtype', 'FLOAT')} WAV bytes in the `audio` column (`datasets.Audio`)."
    )


def build_counts(dataset: datasets.DatasetDict, corpus: str) -> dict[str, int]:
    """Recordings, patients and (segment-labelled corpora) ``cycles`` or ``events`` over all splits."""
    labels = get_corpus(corpus).labels
    unit = _SEGMENTS[labels][0] if labels in _SEGMENTS else "cycles"
    recordings: set[str] = set()
    patients: set[int] = set()
    rows = segments = 0
    for part in dataset.values():
        names = part.column_names
        if "recording" in names:
            recordings.update(part["recording"])
        if "patient_id" in names:
            patients.update(int(patient) for patient in part["patient_id"])
        rows += len(part)
        segments += sum(len(entry) for entry in part[unit]) if unit in names else len(part)
    if labels == "recording":  # one example per recording file
        return {"recordings": rows, "patients": len(patients)}
    return {"recordings": len(recordings), "patients": len(patients), unit: segments}


def _build_sentence(counts: Mapping[str, int], corpus: str) -> str:
    text = f"This build holds {counts['recordings']} recordings of {counts['patients']} patients"
    if "events" in counts:
        return text + f", {counts['events']} annotated events."
    if "cycles" not in counts:
        return text + "."
    text += f", {counts['cycles']} annotated respiratory cycles"
    complete = get_corpus(corpus).complete_counts
    if not complete:
        return text + "."
    if (counts["recordings"], counts["cycles"]) == (complete["recordings"], complete["cycles"]):
        return text + ": the complete database."
    return text + (
        f" (the complete database has {complete['recordings']} recordings and {complete['cycles']} cycles)."
    )


def _configs_table(card_data: Mapping[str, Any]) -> str:
    infos = card_data.get("dataset_info")
    infos = {
        info.get("config_name", "default"): info for info in ([infos] if isinstance(infos, dict) else infos)
    }
    rows = []
    for entry in card_data.get("configs") or []:
        name = entry["config_name"]
        options = build_options(dict(card_data), name)
        splits = infos.get(name, {}).get("splits") or []
        rows.append(
            [
                f"`{name}`" + (" (default)" if entry.get("default") else ""),
                CORPORA[options["corpus"]].title if options.get("corpus") in CORPORA else "",
                ", ".join(f"{split['name']} {split['num_examples']}" for split in splits),
                f"{int(options['sampling_rate'])} Hz" if options.get("sampling_rate") else "",
            ]
        )
    return _markdown_table(["config", "corpus", "examples per split", "sampling rate"], rows)


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _dataset_info(dataset: datasets.DatasetDict, download_size: int | None) -> datasets.DatasetInfo:
    """The ``datasets`` info of ``dataset``: its features, and each split's size and examples."""
    splits = datasets.SplitDict()
    for split, part in dataset.items():
        splits.add(datasets.SplitInfo(name=split, num_bytes=part.data.nbytes, num_examples=len(part)))
    return datasets.DatasetInfo(
        features=next(iter(dataset.values())).features,
        splits=splits,
        download_size=download_size,
        dataset_size=sum(part.data.nbytes for part in dataset.values()),
    )


def dataset_card(
    dataset: datasets.DatasetDict,
    *,
    corpus: str,
    config_name: str,
    data_files: Mapping[str, Sequence[str]],
    options: Mapping[str, Any],
    download_size: int | None = None,
    synthetic: bool = False,
    repo_id: str | None = None,
    existing: Mapping[str, Any] | None = None,
    builder_config: str | None = None,
) -> DatasetCard:
    """The card of ``dataset`` (built from ``corpus`` with the builder ``options``) stored as ``data_files``
    (each split's Parquet files); ``existing``: the metadata of a card whose other configs are kept."""
    spec = get_corpus(corpus)
    facts = spec.facts
    first = next(iter(dataset.values()))
    info = _dataset_info(dataset, download_size)
    license_fields = {"license_name": facts.license_name, "license_link": facts.license_link}
    existing = dict(existing or {})  # its other configs are kept: datasets' metadata writers merge them
    others = [entry for entry in existing.get("configs") or [] if entry.get("config_name") != config_name]
    kept = {entry.get("config_name") for entry in others}
    respira = {name: found for name in kept if (found := build_options(existing, name))}
    builder_config = builder_config or config_name
    own = {"corpus": corpus, "config": builder_config, "synthetic": synthetic, **options}
    card_data = DatasetCardData(
        pretty_name=f"{'Synthetic ICBHI-format corpus' if synthetic else spec.title} "
        f"({config_name}, {int(options['sampling_rate']) / 1000:g} kHz)",
        license=facts.license,
        task_categories=["audio-classification"],
        size_categories=_size_category(sum(len(part) for part in dataset.values())),
        tags=[*facts.tags, *(["synthetic"] if synthetic else [])],
        **{key: value for key, value in license_fields.items() if value},
        respira={**respira, config_name: own},
    )
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs

    for field in ("configs", "dataset_info"):
        if existing.get(field):
            card_data[field] = existing[field]
    default = not any(entry.get("default") for entry in others)
    layout = [{"split": split, "path": list(paths)} for split, paths in data_files.items()]
    entry = {"data_files": layout, **({"default": True} if default else {})}
    MetadataConfigs({config_name: entry}).to_dataset_card_data(card_data)
    DatasetInfosDict({config_name: info}).to_dataset_card_data(card_data)
    header, rows = split_table(dataset, corpus)
    template = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    return DatasetCard.from_template(
        card_data,
        template_str=template,
        title=card_data.pretty_name,
        synthetic=synthetic,
        corpus_description=facts.description,
        license_text=facts.license_text,
        citation=spec.citation.strip(),
        homepage=spec.homepage,
        split_table=_markdown_table(header, rows),
        split_definition=_split_definition(corpus, options, list(dataset)),
        audio_sentence=_audio_sentence(corpus, builder_config, options),
        columns=list(first.features),
        load_path=repo_id or "path/to/this/folder",
        config_name=config_name,
        load_config="" if default else f', "{config_name}"',
        first_split=next(iter(dataset)),
        build_sentence=_build_sentence(build_counts(dataset, corpus), corpus),
        configs_table=_configs_table(card_data.to_dict()) if len(card_data["configs"]) > 1 else "",
    )

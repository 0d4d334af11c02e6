"""Training on several corpora (``corpora: [icbhi, kauh, sprsound]``): ICBHI alone makes validation and
test; SPRSound joins training as cycles, KAUH as bags of windows carrying the recording's flags."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.respira.labels import MULTI_LABEL, classes_to_flags, flags_to_classes
from ..models.respira.windows import DEFAULT_AGGREGATION, aggregate_windows
from ..records.run import CorpusRecord
from .corpora import CORPORA, PRIMARY_CORPUS, CorpusSpec
from .corpus_files import DataDir
from .errors import CorpusError

if TYPE_CHECKING:
    import datasets

    from ..records.run import DataRecord


BAG_COLUMN = "bag"
"""Training-split column: the recording (bag) a window belongs to; ``-1`` for a cycle."""
CORPUS_COLUMN = "corpus"
"""Column naming the corpus of each example (``icbhi``, ``kauh``) when a run trains on several."""
PATIENT_OFFSET = 1_000_000
"""Patient ids of the corpus at position ``i`` of ``corpora`` are shifted by ``i × PATIENT_OFFSET``."""


def parse_corpora(
    corpora: str | list[str] | None, corpus_dirs: str | Mapping[str, DataDir] | None
) -> list[str]:
    """The corpus names of a recipe (``icbhi`` first), checked: one-line ``ValueError`` for an unknown
    or repeated name, a corpus without a folder, a folder of a corpus not listed, or ``icbhi`` missing."""
    if not corpora:
        if corpus_dirs:
            raise ValueError("corpus_dirs is set but corpora is not: list them, e.g. corpora: [icbhi, kauh]")
        return []
    listed = corpora if isinstance(corpora, list) else corpora.split(",")
    names = [str(name).strip().lower() for name in listed]
    names = [name for name in names if name]
    unknown = [name for name in names if name not in CORPORA]
    if unknown:
        raise ValueError(f"corpora: unknown corpus {unknown[0]!r} (known: {', '.join(CORPORA)})")
    if len(set(names)) != len(names):
        raise ValueError(f"corpora: a corpus is listed twice: {', '.join(names)}")
    if PRIMARY_CORPUS not in names:
        raise ValueError(
            f"corpora must include {PRIMARY_CORPUS}: its cycles make the validation and test splits "
            "(data_dir)"
        )
    others = [name for name in names if name != PRIMARY_CORPUS]
    folders = corpus_folders(corpus_dirs)
    for name in others:
        if name not in folders:
            raise ValueError(f"corpora: {name} needs a folder: corpus_dirs: {{{name}: <folder>}}")
    extra = [name for name in folders if name not in names]
    if extra:
        raise ValueError(f"corpus_dirs names {extra[0]!r}, which is not in corpora ({', '.join(names)})")
    if PRIMARY_CORPUS in folders:
        primary = CORPORA[PRIMARY_CORPUS]
        raise ValueError(
            f"corpus_dirs: {primary.label}'s folder is data_dir; leave {primary.name} out of corpus_dirs"
        )
    return [PRIMARY_CORPUS, *others]


def corpus_folders(corpus_dirs: str | Mapping[str, DataDir] | None) -> dict[str, DataDir]:
    """``corpus_dirs`` (a mapping, or its JSON text) as ``{name: folder}`` (a folder, or the list of
    folders the corpus spans)."""
    if not corpus_dirs:
        return {}
    value: Any = corpus_dirs
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(
                "corpus_dirs must be a mapping of corpus: folder, e.g. {kauh: ../shared/kauh}, got "
                f"{corpus_dirs!r}"
            ) from None
    if not isinstance(value, Mapping) or not all(map(_is_folders, value.values())):
        raise ValueError(
            f"corpus_dirs must map each corpus to a folder (or a list of the folders it spans), got "
            f"{corpus_dirs!r}"
        )
    return {str(name).strip().lower(): folder for name, folder in value.items()}


def _is_folders(value: Any) -> bool:
    """Whether ``value`` is a folder's name, or a non-empty list of them."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, str) and v for v in value)
    return isinstance(value, str) and bool(value)


def check_corpora(
    corpora: str | list[str] | None,
    corpus_dirs: str | Mapping[str, DataDir] | None,
    *,
    window_seconds: float,
    hop_seconds: float,
    problem_type: str,
) -> list[str]:
    """:func:`parse_corpora`, and each folder located (its listing read, nothing decoded)."""
    from .recording_windows import check_window_options

    names = parse_corpora(corpora, corpus_dirs)
    if len(names) < 2:
        return names
    if has_recording_labels(names) and problem_type != MULTI_LABEL:
        raise ValueError(
            f"corpora: recording-labelled corpora train a multi-label model (bags of windows): set "
            f"problem_type: {MULTI_LABEL}"
        )
    check_window_options(window_seconds, hop_seconds)
    for name, folder in corpus_folders(corpus_dirs).items():
        try:
            CORPORA[name].check_folder(folder)
        except (OSError, ValueError) as error:
            kind = CorpusError if isinstance(error, CorpusError) else type(error)  # its path: in the text
            raise kind(f"corpus_dirs: {name}: {error}") from None
    return names


def has_recording_labels(names: list[str]) -> bool:
    """Whether corpora ``names`` include a recording-labelled one (its windows train as bags)."""
    return any(CORPORA[name].labels == "recording" for name in names)


def has_bags(dataset: Any) -> bool:
    """Whether ``dataset`` holds window examples of recordings (a :data:`BAG_COLUMN` value >= 0)."""
    names = getattr(dataset, "column_names", None) or ()
    return BAG_COLUMN in names and bool((np.asarray(dataset[BAG_COLUMN]) >= 0).any())


def _training_examples(
    spec: CorpusSpec,
    folder: DataDir,
    data: DataRecord,
    offset: int,
    cache_dir: str | Path | None,
    num_proc: int | None,
) -> datasets.Dataset:
    """Every split of ``spec``'s builder as training examples in the ICBHI split's columns: patient ids
    shifted by ``offset``, ``bag`` -1 but for windows of a recording-labelled corpus, ``cycle_index`` a
    window's or event's number within its recording."""
    from datasets import concatenate_datasets

    from .recording_windows import recording_windows

    low_pass = {"lowpass_cutoff": data.lowpass_cutoff, "lowpass_order": data.lowpass_order}
    built = spec.load()(
        folder,
        config_name=spec.configs[0],
        sampling_rate=data.sampling_rate,
        cache_dir=cache_dir,
        num_proc=num_proc,
        **(low_pass if data.lowpass_cutoff else {}),
    )
    examples = concatenate_datasets(list(built.values()))  # every split: all its patients train
    bags = spec.labels == "recording"
    if bags:
        examples = recording_windows(
            examples.add_column(BAG_COLUMN, list(range(len(examples)))),
            window_seconds=data.corpus_window_seconds,
            hop_seconds=data.corpus_hop_seconds,
            num_proc=num_proc,
        )

    def as_icbhi(example: dict[str, Any]) -> dict[str, Any]:
        if bags:
            flags = np.array([[example["crackle"], example["wheeze"]]])
            label, bag = int(flags_to_classes(flags)[0]), int(example[BAG_COLUMN]) + offset
        else:
            label, bag = int(example["label"]), -1
        device, index = spec.name, example["cycle_index" if "cycle_index" in example else "event_index"]
        if spec.training_device:
            given = {name: value for name, value in example.items() if value is not None and value != ""}
            with contextlib.suppress(KeyError):
                device = spec.training_device.format(**given)
        return {
            "label": label,
            "cycle_index": int(index),
            "patient_id": int(example["patient_id"]) + offset,
            "device": device,
            "acquisition_mode": "sc",
            CORPUS_COLUMN: spec.name,
            BAG_COLUMN: bag,
        }

    unit = "windows" if bags else "examples"
    return examples.map(as_icbhi, desc=f"{spec.label} {unit} as training examples")


def primary_rows(split: datasets.Dataset) -> datasets.Dataset:
    """The rows of ``split`` that are the primary corpus's cycles (the split itself when no other corpus
    was added): what k-fold runs test, each cycle once, while added windows only ever train."""
    if CORPUS_COLUMN not in split.column_names:
        return split
    return split.select(np.flatnonzero(np.asarray(split[CORPUS_COLUMN]) == PRIMARY_CORPUS))


def add_corpora(
    splits: datasets.DatasetDict,
    data: DataRecord,
    *,
    cache_dir: str | Path | None = None,
    num_proc: int | None = None,
) -> datasets.DatasetDict:
    """``splits`` (ICBHI's) with every split marked ``corpus: icbhi``, ``bag: -1`` and the examples of
    ``data.corpora``'s other corpora appended to ``train`` (see the module docstring)."""
    import datasets

    extra = [corpus for corpus in data.corpora if corpus.name != PRIMARY_CORPUS]
    if not extra or CORPUS_COLUMN in next(iter(splits.values())).column_names:  # none, or added already
        return splits
    marked = datasets.DatasetDict()
    for name, split in splits.items():
        named = split.add_column(CORPUS_COLUMN, [PRIMARY_CORPUS] * len(split))
        named = named.add_column(BAG_COLUMN, [-1] * len(split))
        named = named.cast_column(BAG_COLUMN, datasets.Value("int32"))
        marked[name] = named
    train = marked["train"]
    parts = [train]
    names = [corpus.name for corpus in data.corpora]
    for corpus in extra:
        examples = _training_examples(
            CORPORA[corpus.name],
            corpus.data_dir,
            data,
            names.index(corpus.name) * PATIENT_OFFSET,
            cache_dir,
            num_proc,
        )
        for column in train.column_names:
            if column not in examples.column_names:
                examples = examples.add_column(column, [None] * len(examples))
        examples = examples.select_columns(train.column_names).cast(train.features)
        parts.append(examples)
    marked["train"] = datasets.concatenate_datasets(parts)
    return marked


def corpus_records(corpora: list[CorpusRecord], train: datasets.Dataset) -> list[CorpusRecord]:
    """``corpora`` with the patients, recordings and examples (cycles or windows) each holds in ``train``."""
    if not corpora or CORPUS_COLUMN not in train.column_names:
        return corpora
    table = train.select_columns([CORPUS_COLUMN, "patient_id", "recording"]).to_pandas()
    records = []
    for corpus in corpora:
        rows = table[table[CORPUS_COLUMN] == corpus.name]
        records.append(
            replace(
                corpus,
                patients=int(rows["patient_id"].nunique()),
                recordings=int(rows["recording"].nunique()),
                examples=len(rows),
            )
        )
    return records


def threshold_units(
    pool: datasets.Dataset, probabilities: np.ndarray, aggregation: str = DEFAULT_AGGREGATION
) -> tuple[np.ndarray, np.ndarray]:
    """``(flags [U, 2], probabilities [U, 2])`` of the units thresholds are tuned on: each cycle, and each
    bag once at the ``aggregation`` of its windows (as ``decide_recording`` decides it)."""
    flags = classes_to_flags(np.asarray(pool["label"]))
    cycles, bags = _units(pool)
    unit_flags = [flags[cycles], *(flags[rows[:1]] for rows in bags)]
    unit_probabilities = [
        probabilities[cycles],
        *(aggregate_windows(probabilities[rows], aggregation)[None, :] for rows in bags),
    ]
    return np.concatenate(unit_flags), np.concatenate(unit_probabilities)


def threshold_unit_column(pool: datasets.Dataset, name: str) -> np.ndarray:
    """Column ``name`` of :func:`threshold_units`' units, in their order: each cycle's value, then each
    bag's (its first window's: a recording has one device, one site)."""
    values = np.asarray([str(value) for value in pool[name]])
    cycles, bags = _units(pool)
    return np.concatenate([values[cycles], *(values[rows[:1]] for rows in bags)])


def _units(pool: datasets.Dataset) -> tuple[np.ndarray, list[np.ndarray]]:
    """The rows of the threshold units, in their order: the cycles' (one unit each), then each bag's."""
    if BAG_COLUMN not in pool.column_names:
        return np.arange(len(pool)), []
    bags = np.asarray(pool[BAG_COLUMN])
    cycles = bags < 0
    return np.flatnonzero(cycles), [np.flatnonzero(bags == bag) for bag in np.unique(bags[~cycles])]

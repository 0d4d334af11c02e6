"""The ``split_table`` and ``split_definition`` of the SPRSound :class:`~respira.data.corpora.CorpusSpec`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import datasets

from ..labels import CLASS_NAMES
from .sprsound_files import RECORD_LABELS

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

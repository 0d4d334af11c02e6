"""The ``split_table`` and ``split_definition`` of the ICBHI :class:`~respira.data.corpora.CorpusSpec`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import numpy as np

from ..labels import CLASS_NAMES
from .corpus import DEVICES


def split_table(dataset: datasets.DatasetDict) -> tuple[list[str], list[list[str]]]:
    """A header and one row per split: recordings or cycles, cycles per class, patients and devices."""
    rows = []
    first = next(iter(dataset.values()))
    per_recording = "cycles" in first.column_names
    header = ["split", "recordings" if per_recording else "cycles", *CLASS_NAMES, "patients", "devices"]
    if per_recording:
        header.insert(2, "cycles")
    for split, part in dataset.items():
        columns = part.select_columns(
            [c for c in ("label", "cycles", "device", "patient_id") if c in part.column_names]
        )
        frame = columns.to_pandas()
        labels = (
            [cycle["label"] for cycles in frame["cycles"] for cycle in cycles]
            if per_recording
            else frame["label"]
        )
        counts = np.bincount(np.asarray(labels, dtype=int), minlength=len(CLASS_NAMES))
        devices = frame["device"].value_counts()
        row = [split, str(len(frame)), *map(str, counts), str(frame["patient_id"].nunique())]
        row.append(", ".join(f"{name} {int(devices[name])}" for name in DEVICES if name in devices))
        if per_recording:
            row.insert(2, str(len(labels)))
        rows.append(row)
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

"""Text summaries of a dataset: :func:`summarize` (``respira prepare``), :func:`split_counts` (``train``), and
the ICBHI dataset card's :func:`split_table` and :func:`split_definition` (its spec's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import numpy as np

from ..labels import CLASS_NAMES
from ..utils.tables import format_table
from .corpus import DEVICES


def summarize(dataset: datasets.DatasetDict) -> str:
    """Cycles per split and class, total and mean cycle duration, and cycles per device (no audio decoded)."""
    header = ["split", "cycles", *CLASS_NAMES, "minutes", "mean s", "patients", *DEVICES]
    rows = []
    totals = np.zeros(len(CLASS_NAMES) + 1, dtype=int)
    for split, part in dataset.items():
        columns = part.select_columns(["label", "start", "end", "device", "patient_id"]).to_pandas()
        labels = np.bincount(columns["label"], minlength=len(CLASS_NAMES))
        durations = columns["end"] - columns["start"]
        devices = columns["device"].value_counts()
        totals += [len(columns), *labels]
        rows.append(
            [
                split,
                str(len(columns)),
                *map(str, labels),
                f"{durations.sum() / 60:.1f}",
                f"{durations.mean():.2f}",
                str(columns["patient_id"].nunique()),
                *(str(int(devices.get(device, 0))) for device in DEVICES),
            ]
        )
    return format_table(rows, header)


def split_counts(dataset: datasets.DatasetDict) -> str:
    """Patients, recordings and cycles (or windows) per split, and cycles per class (no audio decoded)."""
    header = ["split", "patients", "recordings", "cycles", *CLASS_NAMES]
    rows = []
    for split, part in dataset.items():
        names = [name for name in ("label", "patient_id", "recording") if name in part.column_names]
        columns = part.select_columns(names).to_pandas()
        labels = columns["label"].to_numpy() if "label" in columns else np.zeros(0, dtype=int)
        counts = np.bincount(labels[labels >= 0], minlength=len(CLASS_NAMES))
        rows.append(
            [
                split,
                *(
                    str(columns[name].nunique()) if name in columns else "-"
                    for name in ("patient_id", "recording")
                ),
                str(len(part)),
                *map(str, counts),
            ]
        )
    return format_table(rows, header)


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

"""Per-split tables of a dataset (``respira prepare``, ``train``), and the ICBHI dataset card's split table
and definition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import numpy as np

from ..models.respira.labels import CLASS_NAMES
from ..utils.tables import format_table
from .corpus import DEVICES


def summarize(dataset: datasets.DatasetDict, corpus: str = "icbhi") -> str:
    """What ``dataset`` (built from ``corpus``) holds per split, as its card's table (no audio decoded)."""
    from .dataset_folder import split_table

    header, rows = split_table(dataset, corpus)
    return format_table(rows, header, align="<" + ">" * (len(header) - 2) + "<")


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


def split_table(dataset: datasets.DatasetDict) -> tuple[list[str], list[list[str]]]:
    """A header and one row per split: recordings or cycles, cycles per class, patients and devices."""
    rows = []
    first = next(iter(dataset.values()))
    per_recording = "cycles" in first.column_names
    counted = ["recordings", "cycles"] if per_recording else ["cycles"]
    header = ["split", *counted, *CLASS_NAMES, *([] if per_recording else ["minutes"]), "patients", "devices"]
    for split, part in dataset.items():
        columns = part.select_columns(
            [c for c in ("label", "cycles", "start", "end", "device", "patient_id") if c in part.column_names]
        )
        frame = columns.to_pandas()
        labels = (
            [c["label"] for cycles in frame["cycles"] for c in cycles] if per_recording else frame["label"]
        )
        counts = np.bincount(np.asarray(labels, dtype=int), minlength=len(CLASS_NAMES))
        used = frame["device"].value_counts()
        counted = [str(len(frame)), str(len(labels))] if per_recording else [str(len(frame))]
        minutes = [] if per_recording else [f"{(frame['end'] - frame['start']).sum() / 60:.1f}"]
        devices = ", ".join(f"{name} {int(used[name])}" for name in DEVICES if name in used)
        rows.append(
            [split, *counted, *map(str, counts), *minutes, str(frame["patient_id"].nunique()), devices]
        )
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

"""Text summaries of a dataset: :func:`summarize` (``respira prepare``), :func:`split_counts` (``train``)."""

from __future__ import annotations

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

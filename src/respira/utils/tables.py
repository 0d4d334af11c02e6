"""Plain-text tables for the console: the one formatter behind every table respira prints."""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

COLUMN_GAP = "  "
DECIMALS = 6
"""Decimals of the floats in prediction rows written as JSON or CSV (:func:`format_rows`)."""


def format_number(value: object, decimals: int = 3, *, missing: str = "-") -> str:
    """``value`` with ``decimals`` decimals, or ``missing`` for ``None``, NaN and non-numbers."""
    return f"{value:.{decimals}f}" if _is_number(value) else missing


def _is_number(value: object) -> bool:
    # models.respira.audio_decoding.is_number, which utils cannot import (models/checkpoints.py imports utils)
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


PERCENT_DECIMALS = 1
"""Every score a person reads (console, card, app, README) is a percentage with this many decimals."""
TOO_FEW = 5
"""Samples at or below which a zero-width interval means too few to say anything (rule of three)."""


def format_percent(value: object, *, missing: str = "n/a") -> str:
    """A fraction as percent, :data:`PERCENT_DECIMALS` decimals (``0.5238`` -> ``52.4``); else ``missing``."""
    return f"{100 * value:.{PERCENT_DECIMALS}f}" if _is_number(value) else missing


def format_score(
    value: object,
    interval: Sequence[object] | None = None,
    *,
    missing: str = "n/a",
    count: int | None = None,
) -> str:
    """A score with its interval, in percent: ``52.4 [45.9, 58.2]``, a zero-width interval marked with why
    (``count``: the samples behind the score, when known; :data:`TOO_FEW`)."""
    text = format_percent(value, missing=missing)
    if interval is None or len(interval) != 2 or any(format_percent(end) == "n/a" for end in interval):
        return text
    low, high = (format_percent(end) for end in interval)
    text += f" [{low}, {high}]"
    if low != high:
        return text
    if count is not None and count <= TOO_FEW:
        return text + f" (interval of zero width: too few samples to mean anything: {count})"
    of = "" if count is None else f" of the {count}"
    return text + f" (interval of zero width: every resample{of} gave the same score)"


def format_table(
    rows: Sequence[Sequence[object]],
    header: Sequence[str] | None = None,
    *,
    align: str | None = None,
    indent: str = "",
) -> str:
    """``rows`` (and an underlined ``header``) as aligned columns; ``align``: ``<`` or ``>``
    per column (default: all right)."""
    lines = [[str(cell) for cell in row] for row in ([header] if header is not None else []) + list(rows)]
    if not lines:
        return ""
    count = max(len(line) for line in lines)
    align = align or ">" * count
    lines = [line + [""] * (count - len(line)) for line in lines]
    widths = [max(len(line[k]) for line in lines) for k in range(count)]
    if header is not None:
        lines.insert(1, ["-" * width for width in widths])

    def render(cells: list[str]) -> str:
        padded = (
            cell.ljust(width) if side == "<" else cell.rjust(width)
            for cell, width, side in zip(cells, widths, align, strict=True)
        )
        return (indent + COLUMN_GAP.join(padded)).rstrip()

    return "\n".join(render(line) for line in lines)


def format_rows(
    rows: Sequence[Mapping[str, Any]], output_format: str, columns: Sequence[str] | None = None
) -> str:
    """Prediction rows as a JSON list or as CSV with a header (floats to :data:`DECIMALS` decimals)."""
    rounded = [{k: round(v, DECIMALS) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    if output_format == "json":
        return json.dumps(rounded, indent=2, allow_nan=False) + "\n"
    header = list(columns) if columns is not None else list(dict.fromkeys(k for row in rounded for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rounded)
    return buffer.getvalue()

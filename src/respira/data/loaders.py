"""What ``load_icbhi`` and ``load_kauh`` share: their options checked up front, then build or stream.

Both loaders take a few named arguments plus further fields of their builder config. An unknown option
(a typo, an option of the other corpus) is refused with one line naming it, the closest valid names and
every valid option, before any file is read. ``streaming=True`` returns the builder's
``as_streaming_dataset()``: recordings are decoded while iterating, nothing is written to the cache.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

import datasets

__all__ = ["build_or_stream", "builder_option_names", "check_loader_options"]

_INTERNAL_OPTIONS = ("input_fingerprint",)  # set by the builders from the input files


def builder_option_names(config_class: type[datasets.BuilderConfig]) -> tuple[str, ...]:
    """The options a user may set on ``config_class``: its own fields (not ``BuilderConfig``'s)."""
    base = {field.name for field in fields(datasets.BuilderConfig)}
    return tuple(
        field.name
        for field in fields(config_class)
        if field.init and field.name not in base and field.name not in _INTERNAL_OPTIONS
    )


def check_loader_options(
    loader: str,
    options: Mapping[str, Any],
    config_class: type[datasets.BuilderConfig],
    named: Iterable[str],
) -> None:
    """Raise a one-line ``TypeError`` for options of ``loader`` that are not ``config_class`` fields.

    The message names each unknown option (with the closest valid names) and lists every valid
    option: ``named`` (the loader's own keyword arguments) and the config's fields.
    """
    allowed = builder_option_names(config_class)
    unknown = [key for key in options if key not in allowed]
    if not unknown:
        return
    valid = sorted({*named, *allowed})
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=2)
        hints.append(f"{key!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    raise TypeError(f"{loader}() got unknown option(s) {', '.join(hints)}; valid options: {', '.join(valid)}")


def build_or_stream(
    builder: datasets.DatasetBuilder, *, streaming: bool, num_proc: int | None
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """``builder``'s splits, built into its cache (in ``num_proc`` processes) or, ``streaming``, streamed."""
    if streaming:
        if num_proc is not None:
            raise ValueError(
                "num_proc applies to building the cache; streaming=True decodes recordings while iterating"
            )
        return builder.as_streaming_dataset()
    builder.download_and_prepare(num_proc=num_proc)
    return builder.as_dataset()

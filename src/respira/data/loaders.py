"""What the corpus builders and their ``load_*`` functions share: a located, fingerprinted folder
(:class:`FolderBuilder`) and options checked before any file is read.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

import datasets

__all__ = ["FolderBuilder", "builder_option_names", "check_loader_options", "load_folder"]

_INTERNAL_OPTIONS = ("input_fingerprint",)  # set by the builders from the input files
WHOLE_RECORDING_BATCH = 50
"""Examples per write batch of a config whose examples are whole recordings (large: keep batches small)."""


class FolderBuilder:
    """Builder mixin (first in the bases) for a corpus in a local folder: located first, fingerprinted, and
    its config validated again after ``datasets`` has set the user's options.
    """

    CORPUS_LABEL: ClassVar[str]
    """How messages name the corpus (``ICBHI``, ``KAUH``)."""
    WHOLE_RECORDING_CONFIGS: ClassVar[tuple[str, ...]] = ("recordings",)
    locate: ClassVar[Callable[[str | Path], Any]]
    """``locate(data_dir)``: the corpus's layout, with ``fingerprint()``."""

    def __init__(self, *args: Any, data_dir: str | Path | None = None, **kwargs: Any) -> None:
        if data_dir is None:
            raise ValueError(
                f"the {self.CORPUS_LABEL} builder reads a local copy of the corpus: pass data_dir=<folder>"
            )
        self.layout = type(self).locate(data_dir)
        kwargs["input_fingerprint"] = self.layout.fingerprint()
        config_name = kwargs.get("config_name") or getattr(self, "DEFAULT_CONFIG_NAME", None)
        if config_name in self.WHOLE_RECORDING_CONFIGS and kwargs.get("writer_batch_size") is None:
            kwargs["writer_batch_size"] = WHOLE_RECORDING_BATCH
        super().__init__(*args, data_dir=str(Path(data_dir).expanduser().resolve()), **kwargs)  # type: ignore[call-arg]
        self.config.validate()  # type: ignore[attr-defined]


def builder_option_names(config_class: type[datasets.BuilderConfig]) -> tuple[str, ...]:
    """The options a user may set on ``config_class``: its own fields (not ``BuilderConfig``'s)."""
    base = {field.name for field in fields(datasets.BuilderConfig)}
    return tuple(
        field.name
        for field in fields(config_class)
        if field.init and field.name not in base and field.name not in _INTERNAL_OPTIONS
    )


def check_loader_options(
    loader: Callable[..., Any], options: Mapping[str, Any], config_class: type[datasets.BuilderConfig]
) -> None:
    """Raise a one-line ``TypeError`` naming ``options`` that are not ``config_class`` fields."""
    allowed = builder_option_names(config_class)
    unknown = [key for key in options if key not in allowed]
    if not unknown:
        return
    named = [
        parameter.name
        for parameter in inspect.signature(loader).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    valid = sorted({*named, *allowed})
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=2)
        hints.append(f"{key!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    raise TypeError(
        f"{loader.__name__}() got unknown option(s) {', '.join(hints)}; valid options: {', '.join(valid)}"
    )


def load_folder(
    builder_class: type[datasets.GeneratorBasedBuilder],
    loader: Callable[..., Any],
    options: Mapping[str, Any],
    *,
    cache_dir: str | Path | None,
    num_proc: int | None,
    streaming: bool,
    **given: Any,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """What every ``load_*`` does: ``options`` checked, the builder made with them and ``given``, its
    splits built into ``cache_dir`` (in ``num_proc`` processes) or, ``streaming``, streamed."""
    check_loader_options(loader, options, builder_class.BUILDER_CONFIG_CLASS)
    cache = str(cache_dir) if cache_dir is not None else None
    builder = builder_class(cache_dir=cache, **given, **options)
    if streaming:
        if num_proc is not None:
            raise ValueError(
                "num_proc applies to building the cache; streaming=True decodes recordings while iterating"
            )
        return builder.as_streaming_dataset()
    builder.download_and_prepare(num_proc=num_proc)
    return builder.as_dataset()

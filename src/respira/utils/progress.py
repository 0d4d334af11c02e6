"""Progress of respira's long loops on standard error: a tqdm bar on a terminal, one line otherwise; off
where transformers', datasets', huggingface_hub's (group ``respira``) or tqdm's bars are."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

GROUP = "respira"
"""huggingface_hub's progress-bar group of respira's stages."""


def bars_enabled() -> bool:
    """Whether no transformers, huggingface_hub, datasets or tqdm switch turns progress off."""
    from huggingface_hub.utils import are_progress_bars_disabled
    from transformers.utils import logging as transformers_logging

    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no", "off"):
        return False
    if "datasets" in sys.modules:
        from datasets.utils import are_progress_bars_disabled as datasets_disabled
    else:  # not imported (a second of start-up): only its environment variable can have turned it off
        variable = os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS", "").strip().upper()
        datasets_disabled = lambda: variable in ("1", "ON", "YES", "TRUE")  # noqa: E731
    return transformers_logging.is_progress_bar_enabled() and not (
        are_progress_bars_disabled(GROUP) or datasets_disabled()
    )


class Stage:
    """A running stage: :meth:`update` advances it by ``n`` units."""

    def __init__(self, bar: Any = None) -> None:
        self.update = bar.update if bar is not None else lambda n=1: None

    def track(self, iterable: Iterable[T]) -> Iterator[T]:
        """The items of ``iterable``, advancing the stage by one after each."""
        for item in iterable:
            yield item
            self.update()


def on_terminal(stream: Any = None) -> bool:
    """Whether ``stream`` (default: standard error) is a terminal."""
    try:
        return bool((stream or sys.stderr).isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


@contextmanager
def stage(description: str, total: int, unit: str = "item", *, enabled: bool = True) -> Iterator[Stage]:
    """Show a stage of ``total`` ``unit`` items while the block runs (nothing with ``enabled=False``)."""
    shown = enabled and bars_enabled()
    if shown and on_terminal():
        from tqdm.auto import tqdm

        with tqdm(total=total, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True) as bar:
            yield Stage(bar)
        return
    if shown:
        print(f"{description} ({total} {unit if total == 1 else unit + 's'})", file=sys.stderr, flush=True)
    yield Stage()


def progress(
    iterable: Sequence[T], description: str, *, unit: str = "item", enabled: bool = True
) -> Iterator[T]:
    """The items of ``iterable``, advancing a :func:`stage` by one each."""
    with stage(description, len(iterable), unit, enabled=enabled) as shown:
        yield from shown.track(iterable)

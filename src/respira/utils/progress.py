"""Progress of respira's long loops on standard error: a tqdm bar on a terminal, one line otherwise.

Turned off as transformers', datasets' or tqdm's bars are (``HF_HUB_DISABLE_PROGRESS_BARS=1``,
``HF_DATASETS_DISABLE_PROGRESS_BARS=1``, ``TQDM_DISABLE=1``), or alone with
``huggingface_hub.utils.disable_progress_bars("respira")``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["GROUP", "Stage", "bars_enabled", "on_terminal", "progress", "stage"]

T = TypeVar("T")

_FALSE = ("", "0", "false", "no", "off")
_DATASETS_TRUE = ("1", "ON", "YES", "TRUE")  # datasets.config.ENV_VARS_TRUE_VALUES
GROUP = "respira"
"""huggingface_hub's progress-bar group of respira's stages:
``huggingface_hub.utils.disable_progress_bars("respira")`` turns off these alone."""


def bars_enabled() -> bool:
    """Whether progress may be shown: no transformers, huggingface_hub, datasets or tqdm switch is off."""
    from huggingface_hub.utils import are_progress_bars_disabled as hub_disabled
    from transformers.utils import logging as transformers_logging

    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in _FALSE:
        return False
    return transformers_logging.is_progress_bar_enabled() and not (
        hub_disabled(GROUP) or _datasets_disabled()
    )


def _datasets_disabled() -> bool:
    """datasets' switch, without importing datasets (a second of start-up) where nothing has: then only
    its environment variable can have turned its bars off."""
    if "datasets" not in sys.modules:
        return os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS", "").strip().upper() in _DATASETS_TRUE
    from datasets.utils import are_progress_bars_disabled

    return are_progress_bars_disabled()


class Stage:
    """A running stage: :meth:`update` advances it by ``n`` units (nothing to do when it is not shown)."""

    def __init__(self, bar: Any = None) -> None:
        self._bar = bar

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def track(self, iterable: Iterable[T]) -> Iterator[T]:
        """The items of ``iterable``, advancing the stage by one after each."""
        for item in iterable:
            yield item
            self.update()


def on_terminal(stream: Any = None) -> bool:
    """Whether ``stream`` (default: standard error) is a terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@contextmanager
def stage(description: str, total: int, unit: str = "item", *, enabled: bool = True) -> Iterator[Stage]:
    """Show a stage of ``total`` ``unit`` items while the block runs (nothing with ``enabled=False``)."""
    stream = sys.stderr
    if not enabled or not bars_enabled():
        yield Stage()
        return
    if not on_terminal(stream):
        units = unit if total == 1 else f"{unit}s"
        print(f"{description} ({total} {units})", file=stream, flush=True)
        yield Stage()
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=description, unit=unit, file=stream, dynamic_ncols=True) as bar:
        yield Stage(bar)


def progress(
    iterable: Iterable[T],
    description: str,
    *,
    total: int | None = None,
    unit: str = "item",
    enabled: bool = True,
) -> Iterator[T]:
    """The items of ``iterable``, advancing a :func:`stage` by one each."""
    count = total if total is not None else len(iterable)  # type: ignore[arg-type]
    with stage(description, count, unit, enabled=enabled) as shown:
        yield from shown.track(iterable)

"""Progress of respira's long loops (scoring many cycles or recordings, embedding a training split,
training the cross-fit group models), on standard error.

A stage is shown as a tqdm bar when standard error is a terminal, as one line (``description (N
units)``) when it is not (a log file, a CI job), and not at all when progress bars are turned off the
way transformers and datasets turn theirs off: ``transformers.utils.logging.disable_progress_bar()``
or ``HF_HUB_DISABLE_PROGRESS_BARS=1``, ``datasets.disable_progress_bars()`` or
``HF_DATASETS_DISABLE_PROGRESS_BARS=1``, and tqdm's own ``TQDM_DISABLE=1``; respira's alone with
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
GROUP = "respira"
"""huggingface_hub's progress-bar group of respira's stages:
``huggingface_hub.utils.disable_progress_bars("respira")`` turns off these alone."""


def bars_enabled() -> bool:
    """Whether progress may be shown: neither transformers' (and huggingface_hub's, which also has a
    ``"respira"`` group of its own) nor datasets' progress bars are turned off, nor tqdm's."""
    from datasets.utils import are_progress_bars_disabled as datasets_disabled
    from huggingface_hub.utils import are_progress_bars_disabled as hub_disabled
    from transformers.utils import logging as transformers_logging

    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in _FALSE:
        return False
    return transformers_logging.is_progress_bar_enabled() and not (hub_disabled(GROUP) or datasets_disabled())


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
    """Whether ``stream`` (default: standard error, where progress goes) is a terminal: bars that redraw
    themselves (carriage returns, cursor-movement escape codes) are drawn only there."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


@contextmanager
def stage(description: str, total: int, unit: str = "item", *, enabled: bool = True) -> Iterator[Stage]:
    """Show a stage of ``total`` ``unit``\\ s (see the module docstring) while the block runs.

    ``enabled=False`` (e.g. a trainer's ``disable_tqdm``) shows nothing, as do the global switches.
    """
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
    """The items of ``iterable``, advancing a :func:`stage` of ``total`` (default: ``len(iterable)``)
    ``unit``\\ s by one each. The stage is shown when the first item is asked for."""
    count = total if total is not None else len(iterable)  # type: ignore[arg-type]
    with stage(description, count, unit, enabled=enabled) as shown:
        yield from shown.track(iterable)

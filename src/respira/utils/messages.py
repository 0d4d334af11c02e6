"""Errors as a person reads them (:func:`one_line`), and the warnings a run shows (:func:`run_warnings`)."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable, Iterator

_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(error: BaseException | str) -> str:
    """``error``'s message on one line, colour codes removed; its type name when that leaves nothing."""
    text = " ".join(_ANSI_CODES.sub("", str(error)).split())
    return text or (type(error).__name__ if isinstance(error, BaseException) else "")


QUIET_WARNINGS: tuple[type[Warning], ...] = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)
"""Warning categories a command does not print (Python hides them by default too)."""


def _shown_once(show: Callable[..., None]) -> Callable[..., None]:
    """``show`` passing on each warning once per run, across ``catch_warnings`` blocks too."""
    shown: set[tuple[str, type[Warning]]] = set()

    def show_once(message, category, filename, lineno, file=None, line=None) -> None:
        key = (str(message), category)
        if key not in shown:
            shown.add(key)
            show(message, category, filename, lineno, file, line)

    return show_once


@contextlib.contextmanager
def run_warnings() -> Iterator[None]:
    """Each warning of the run once, the categories of :data:`QUIET_WARNINGS` hidden."""
    with warnings.catch_warnings():
        warnings.simplefilter("once")
        warnings.showwarning = _shown_once(warnings.showwarning)
        for hidden in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", category=hidden)
        yield

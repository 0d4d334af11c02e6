"""What every layer does to an error before a person reads it (:func:`one_line`), and which warnings a run
shows (:func:`run_warnings`)."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Callable, Iterator

__all__ = ["QUIET_WARNINGS", "one_line", "run_warnings"]

_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(error: BaseException | str) -> str:
    """``error``'s message on one line, colour codes removed; its type name when that leaves nothing."""
    text = " ".join(_ANSI_CODES.sub("", str(error)).split())
    return text or (type(error).__name__ if isinstance(error, BaseException) else "")


QUIET_WARNINGS: tuple[type[Warning], ...] = (DeprecationWarning, PendingDeprecationWarning, ResourceWarning)
"""Warning categories a command does not print (Python hides them by default too): a library's notes to
developers, nothing a user can act on."""


def _shown_once(show: Callable[..., None]) -> Callable[..., None]:
    """``show`` (a ``warnings.showwarning``) passing on each warning (its text and category) once per run:
    the "once" filter alone shows one again after any ``warnings.catch_warnings`` block, which clears
    the registries it keeps (a training run scores with such blocks between its evaluations)."""
    shown: set[tuple[str, type[Warning]]] = set()

    def show_once(message, category, filename, lineno, file=None, line=None) -> None:
        key = (str(message), category)
        if key not in shown:
            shown.add(key)
            show(message, category, filename, lineno, file, line)

    return show_once


@contextlib.contextmanager
def run_warnings() -> Iterator[None]:
    """Warnings as a command (or :func:`respira.train`, :func:`respira.evaluate`) shows them: each warning
    of the run once, however often it is raised; the categories of :data:`QUIET_WARNINGS` hidden."""
    with warnings.catch_warnings():
        warnings.simplefilter("once")
        warnings.showwarning = _shown_once(warnings.showwarning)
        for hidden in QUIET_WARNINGS:  # hidden by Python's own defaults: for developers, not users
            warnings.filterwarnings("ignore", category=hidden)
        yield

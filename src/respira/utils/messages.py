"""Errors as a person reads them (:func:`one_line`, :func:`unknown_names`), and the warnings a run shows
(:func:`run_warnings`)."""

from __future__ import annotations

import contextlib
import difflib
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence

_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(error: BaseException | str) -> str:
    """``error``'s message on one line, colour codes removed; its type name when that leaves nothing."""
    text = " ".join(_ANSI_CODES.sub("", str(error)).split())
    return text or (type(error).__name__ if isinstance(error, BaseException) else "")


def unknown_names(
    names: Iterable[str],
    known: Sequence[str] = (),
    suggest: Callable[[str], list[str]] | None = None,
    *,
    shown: Callable[[str], str] = repr,
    cutoff: float = 0.6,
) -> str:
    """``names`` listed ``'a' (did you mean b or c?), 'd'``: each ``shown``, with the two ``known`` names
    closest to it, else those ``suggest`` offers."""
    hints = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=2, cutoff=cutoff)
        if not close and suggest is not None:
            close = suggest(name)
        hints.append(shown(name) + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    return ", ".join(hints)


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

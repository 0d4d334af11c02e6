"""What every layer does to an error before a person reads it: :func:`one_line`."""

from __future__ import annotations

import re

__all__ = ["one_line"]

_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def one_line(error: BaseException | str) -> str:
    """``error``'s message on one line, colour codes removed; its type name when that leaves nothing."""
    text = " ".join(_ANSI_CODES.sub("", str(error)).split())
    return text or (type(error).__name__ if isinstance(error, BaseException) else "")

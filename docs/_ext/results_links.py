"""Sphinx extension: BENCHMARKS.md's links into the results history resolve on the Results page.

``docs/results.md`` includes BENCHMARKS.md, whose links (written to work on GitHub from the repository's
root) lead to ``docs/history/<page>.md#anchor``. This ``include-read`` handler rewrites them to
``history/<page>.md#anchor``, relative to the Results page, while the file is included (the file itself is
not changed), so a stale anchor still fails the build as a missing cross-reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BENCHMARKS = "BENCHMARKS.md"
HISTORY_LINK = "](docs/history/"


def _page_links(app: Any, relative_path: Path, parent_docname: str, content: list[str]) -> None:
    if Path(relative_path).name == BENCHMARKS:
        content[0] = content[0].replace(HISTORY_LINK, "](history/")


def setup(app: Any) -> dict[str, Any]:
    app.connect("include-read", _page_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""Sphinx extension: the studies table's links into BENCHMARKS.md resolve on the Results page.

``docs/results.md`` includes BENCHMARKS.md's summary, ``studies/README.md``'s table and the rest of
BENCHMARKS.md on one page, so a section of BENCHMARKS.md is an anchor of that page. The summary already
links its sections as ``#anchor``; the studies table, written to work from ``studies/``, links them as
``../BENCHMARKS.md#anchor``, a file outside the docs. This ``include-read`` handler rewrites those links to
the page's own anchors while the table is included (the files themselves are not changed), so a stale
anchor still fails the build as a missing cross-reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STUDIES = Path("studies") / "README.md"
BENCHMARKS_LINK = "](../BENCHMARKS.md#"


def _page_anchors(app: Any, relative_path: Path, parent_docname: str, content: list[str]) -> None:
    if Path(relative_path).parts[-2:] == STUDIES.parts:
        content[0] = content[0].replace(BENCHMARKS_LINK, "](#")


def setup(app: Any) -> dict[str, Any]:
    app.connect("include-read", _page_anchors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

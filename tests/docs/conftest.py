"""The count of code blocks per documentation page, printed at the end of a run that ran them."""

from __future__ import annotations

import pytest

CODE_BLOCKS = "tests/docs/test_code_blocks.py::"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = any(
        getattr(report, "nodeid", "").startswith(CODE_BLOCKS)
        for reports in terminalreporter.stats.values()
        for report in reports
    )
    if not ran:
        return
    # the pages as the tests read them; under pytest-xdist the controlling process imported no test module
    from .doc_blocks import documentation_pages, read_page

    terminalreporter.section("documentation code blocks (collected / run / parsed only / data)")
    total = [0, 0, 0, 0]
    for page in (read_page(path) for path in documentation_pages()):
        blocks = page.blocks
        counts = [
            len(blocks),
            sum(block.runs for block in blocks),
            sum(block.kind in {"shell", "python", "recipe"} and not block.runs for block in blocks),
            sum(block.kind == "data" for block in blocks),
        ]
        total = [a + b for a, b in zip(total, counts, strict=True)]
        shared = " (data=shared)" if page.shared_data else ""
        terminalreporter.write_line(f"{page.name}{shared}: {' / '.join(map(str, counts))}")
    terminalreporter.write_line(f"all pages: {' / '.join(map(str, total))}")

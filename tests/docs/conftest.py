"""The count of code blocks per documentation page, printed at the end of a run that collected them."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = __import__("sys").modules.get("tests.docs.test_code_blocks")
    if module is None:
        return
    terminalreporter.section("documentation code blocks (collected / run / parsed only / data)")
    total = [0, 0, 0, 0]
    for page in module.PAGES:
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

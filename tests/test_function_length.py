"""CONTRIBUTING's promise of short functions holds: no function in ``src/respira`` has more than
``MAX_BODY_LINES`` body lines, bar the ones listed in ``STILL_LONG``, a list that can only shrink."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
MAX_BODY_LINES = 60

# Functions still over the limit (issue 85 item 5), as ``module path::function name``: none left. The
# list may only shrink: the test fails while a listed function is short, or an unlisted one is long.
STILL_LONG: set[str] = set()


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The lines from a function's first statement after its docstring to its end (0 for a docstring only)."""
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return function.end_lineno - body[0].lineno + 1 if body else 0


def long_functions(source: str, module: str) -> dict[str, int]:
    """The functions (methods and nested ones included) of ``source`` over the limit, by ``module::name``."""
    return {
        f"{module}::{node.name}": body_lines(node)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and body_lines(node) > MAX_BODY_LINES
    }


def _package_long_functions() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted((SOURCE / "respira").rglob("*.py")):
        found.update(long_functions(path.read_text(encoding="utf-8"), path.relative_to(SOURCE).as_posix()))
    return found


def test_no_function_is_over_the_limit_but_the_listed_ones() -> None:
    assert sorted(set(_package_long_functions()) - STILL_LONG) == []


def test_every_listed_function_is_still_long() -> None:
    assert sorted(STILL_LONG - set(_package_long_functions())) == []


def test_body_lines_start_after_the_docstring() -> None:
    statements = "\n".join("    x = 1" for _ in range(MAX_BODY_LINES))
    short = f'def short():\n    """Doc\n    string."""\n{statements}\n'
    long = f"async def long():\n    x = 0\n{statements}\n"
    assert long_functions(short + long, "m.py") == {"m.py::long": MAX_BODY_LINES + 1}

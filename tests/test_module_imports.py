"""CONTRIBUTING's promise of modules a reader holds in mind: no module of ``src/respira`` imports more than
``MAX_IMPORTED`` of respira's modules, bar the ones listed in ``STILL_WIDE``, a list that can only shrink."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
MAX_IMPORTED = 15

# Modules still over the limit (issue 85 item 5), as ``module path``: none left. The list may only shrink: the
# test fails while a listed module is narrow, or an unlisted one is wide.
STILL_WIDE: set[str] = set()


def module_name(path: Path, root: Path = SOURCE) -> str:
    """The dotted name of the module at ``path`` (a package's ``__init__.py``: the package)."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, *, package: bool, root: Path = SOURCE) -> set[str]:
    """The respira modules ``source`` (the module ``module``; ``package``: its ``__init__.py``) imports,
    at module or function level, each once: ``from a.b import c`` counts ``a.b.c`` where that is a module,
    else ``a.b``."""

    def is_module(name: str) -> bool:
        path = root.joinpath(*name.split("."))
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    here = module.split(".") if package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            origin = ".".join([*base, *([node.module] if node.module else [])])
            found.update(
                f"{origin}.{alias.name}" if is_module(f"{origin}.{alias.name}") else origin
                for alias in node.names
            )
    return {name for name in found if name.split(".")[0] == "respira" and name != module}


def _wide_modules() -> dict[str, int]:
    wide: dict[str, int] = {}
    for path in sorted((SOURCE / "respira").rglob("*.py")):
        name = module_name(path)
        source = path.read_text(encoding="utf-8")
        count = len(imported_modules(source, name, package=path.name == "__init__.py"))
        if count > MAX_IMPORTED:
            wide[path.relative_to(SOURCE).as_posix()] = count
    return wide


def test_no_module_imports_more_than_the_limit_but_the_listed_ones() -> None:
    assert {path: n for path, n in _wide_modules().items() if path not in STILL_WIDE} == {}


def test_every_listed_module_is_still_wide() -> None:
    assert sorted(STILL_WIDE - set(_wide_modules())) == []


def test_each_imported_module_counts_once(tmp_path: Path) -> None:
    """Relative and absolute, module and function level; names of one module count it once, a package's
    submodule counts itself; other packages' modules are not counted."""
    for name in ("a/__init__.py", "a/b.py", "a/c.py", "a/d/__init__.py", "a/d/e.py"):
        (tmp_path / "respira" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "respira" / name).touch()
    source = (
        "import numpy\nfrom . import c\nfrom .b import x, y\nfrom respira.a.b import z\n"
        "from .d import e, f\nfrom ..a import b\ndef g():\n    import respira.a.d.e\n    from .. import top\n"
    )
    found = imported_modules(source, "respira.a.m", package=False, root=tmp_path)
    assert found == {"respira.a.c", "respira.a.b", "respira.a.d.e", "respira.a.d", "respira"}
    package = imported_modules("from . import b\nfrom .d import e", "respira.a", package=True, root=tmp_path)
    assert package == {"respira.a.b", "respira.a.d.e"}

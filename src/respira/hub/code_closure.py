"""The part of respira's source a shipped model runs: its classes and what they reach, nothing else.

:func:`code_closure` follows names, not modules: a top-level definition ships when a shipped definition names
it (in its module or through a ``from respira... import``), with its module's statements that bind no name.
``entries`` drops the registry entries of other families; ``@not_shipped`` methods are cut and
``@shipped_when("stage")`` ones ship only when ``stages`` holds the stage. Each module ships its own lines,
in order, its docstring cut to the summary unless the shipped code cites it.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntryFilter:
    """Registry entries to drop: calls of ``call`` whose ``keyword`` is a constant not in ``keep``."""

    call: str
    keyword: str
    keep: frozenset[str]


@dataclass
class _Module:
    """One respira module: its top-level names' statements, and (``always``) those binding no name."""

    name: str
    source: str
    tree: ast.Module
    bindings: dict[str, list[ast.stmt]] = field(default_factory=dict)
    always: list[ast.stmt] = field(default_factory=list)


@dataclass(frozen=True)
class Closure:
    """What ships, per module in the order reached, and (``left_out``) the names cut with the stage each
    needs."""

    sources: dict[str, str]
    trees: dict[str, ast.Module]
    kept: dict[str, list[ast.stmt]]
    used: dict[str, set[str]]
    reach: Callable[[ast.AST], _Reach]  # _reach at ``stages``: each node walked once
    stages: frozenset[str] | None = None
    left_out: dict[str, dict[str, str]] = field(default_factory=dict)


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def bound_names(node: ast.stmt) -> list[str]:
    """The top-level names a statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            return []
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    if not isinstance(node, (ast.Assign, ast.AnnAssign)):
        return []
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)]


def _filtered_source(source: str, tree: ast.Module, entries: EntryFilter | None) -> str:
    if entries is None or entries.call not in source:
        return source
    lines = source.splitlines(keepends=True)
    for node in sorted(ast.walk(tree), key=lambda n: -getattr(n, "lineno", 0)):
        if not (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entries.call
        ):
            continue
        value = next((k.value for k in node.keywords if k.arg == entries.keyword), None)
        if not isinstance(value, ast.Constant) or value.value in entries.keep:
            continue
        start, end = node.lineno - 1, node.end_lineno or node.lineno
        after = lines[end - 1][node.end_col_offset :].strip()
        if lines[start][: node.col_offset].strip() or after not in ("", ","):
            raise ValueError(f"line {node.lineno}: put each {entries.call}(...) entry on lines of its own")
        del lines[start:end]
    return "".join(lines)


def _load(module: str, source: str, entries: EntryFilter | None) -> _Module:
    filtered = _filtered_source(source, tree := ast.parse(source), entries)
    loaded = _Module(module, filtered, tree if filtered == source else ast.parse(filtered))
    for node in loaded.tree.body:
        if _is_type_checking(node):
            for child in node.body:  # type-only imports bind names like any other import
                for name in bound_names(child):
                    loaded.bindings.setdefault(name, []).append(node)
            continue
        names = [name for name in bound_names(node) if name != "__all__"]
        if names:
            for name in names:
                loaded.bindings.setdefault(name, []).append(node)
        elif not (isinstance(node, ast.Assign) and bound_names(node) == ["__all__"]):
            loaded.always.append(node)
    return loaded


_NOT_SHIPPED, _SHIPPED_WHEN = "not_shipped", "shipped_when"  # respira.utils.shipping's decorators

_Stages = frozenset[str] | None
_Reach = tuple[set[str], list[ast.ImportFrom], list[ast.Call]]  # names, imports, @shipped_when decorators


def _stage_decorators(node: ast.AST) -> list[ast.Call]:
    return [
        d
        for d in getattr(node, "decorator_list", [])
        if isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == _SHIPPED_WHEN
    ]


def _stage_of(node: ast.AST) -> str | None:
    for decorator in _stage_decorators(node):
        argument = decorator.args[0] if len(decorator.args) == 1 and not decorator.keywords else None
        if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
            raise ValueError(f"line {decorator.lineno}: write the stage of @shipped_when as a string literal")
        return argument.value
    return None


def _is_cut(node: ast.AST, stages: _Stages) -> bool:
    stage = _stage_of(node)
    return stage is not None and stages is not None and stage not in stages


def _cut_methods(node: ast.AST, stages: _Stages) -> list[ast.stmt]:
    if not isinstance(node, ast.ClassDef):
        return []
    return [
        child
        for child in node.body
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (
            any(isinstance(d, ast.Name) and d.id == _NOT_SHIPPED for d in child.decorator_list)
            or _is_cut(child, stages)
        )
    ]


def _reach(node: ast.AST, stages: _Stages) -> _Reach:
    names, imports, decorators = set(), [], []
    skipped = {id(method) for method in _cut_methods(node, stages)}
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.Name):
            names.add(current.id)
        elif isinstance(current, ast.ImportFrom):
            imports.append(current)
        elif getattr(current, "decorator_list", None):
            found = _stage_decorators(current)
            decorators += found
            skipped.update(map(id, found))
        pending.extend(child for child in ast.iter_child_nodes(current) if id(child) not in skipped)
    return names, imports, decorators


def code_closure(
    roots: Iterable[tuple[str, str]],
    *,
    read: Callable[[str], str],
    target: Callable[[str, ast.ImportFrom], str | None],
    entries: EntryFilter | None = None,
    stages: frozenset[str] | None = None,
) -> Closure:
    """The definitions reached from ``roots`` (``(module, name)`` pairs): see the module docstring."""
    modules: dict[str, _Module] = {}
    kept: dict[str, set[int]] = {}
    used: dict[str, set[str]] = {}
    started: list[str] = []  # modules with a name that ships, in the order reached
    cut: dict[tuple[str, str], str] = {}  # definitions left out → the stage they need
    pending = list(roots)
    done: set[tuple[str, str]] = set()
    reach = functools.cache(lambda node: _reach(node, stages))

    def keep(module: _Module, node: ast.stmt) -> None:
        if id(node) in kept[module.name]:
            return
        kept[module.name].add(id(node))
        if _is_type_checking(node):
            used[module.name] |= reach(node.test)[0]
            pending.extend((module.name, name) for name in reach(node.test)[0])
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return  # an import ships the names that are used from it, found by the statements using them
        names, imports, _ = reach(node)
        used[module.name] |= names
        pending.extend((module.name, name) for name in names if name in module.bindings)
        for statement in imports:  # function-level imports of respira modules
            found = target(module.name, statement)
            if found is not None and statement not in module.tree.body:
                pending.extend((found, alias.name) for alias in statement.names)

    while pending:
        module_name, name = pending.pop()
        if (module_name, name) in done:
            continue
        done.add((module_name, name))
        if module_name not in modules:
            modules[module_name] = _load(module_name, read(module_name), entries)
            kept[module_name], used[module_name] = set(), set()
        module = modules[module_name]
        statements = module.bindings.get(name)
        if statements and all(_is_cut(node, stages) for node in statements):
            cut[(module_name, name)] = str(_stage_of(statements[0]))
            continue
        if module_name not in started:  # its first name that ships: with the statements binding none
            started.append(module_name)
            for node in module.always:
                keep(module, node)
        used[module_name].add(name)
        if statements is None:
            if any(name in reach(node)[0] for node in module.always):
                continue  # bound by a statement that ships anyway (a `try` around an import)
            raise ValueError(f"{module_name} defines no {name!r} that the shipped code could find")
        for node in statements:
            keep(module, node)
            for statement in _imports_of(node):
                found = target(module_name, statement)
                for alias in statement.names if found is not None else []:
                    if (alias.asname or alias.name) == name:
                        pending.append((found, alias.name))

    def stage_needed(module_name: str, name: str) -> str | None:
        if (module_name, name) in cut:
            return cut[(module_name, name)]
        for node in modules[module_name].bindings.get(name, []) if module_name in modules else []:
            for statement in _imports_of(node):
                found = target(module_name, statement)
                for alias in statement.names if found is not None else []:
                    if (alias.asname or alias.name) == name:
                        return stage_needed(found, alias.name)  # type: ignore[arg-type]
        return None

    left_out: dict[str, dict[str, str]] = {}
    for module_name in started:
        for name in sorted(used[module_name]):
            stage = stage_needed(module_name, name)
            if stage is not None:  # named by code that runs only in that stage: its import goes
                used[module_name].discard(name)
                left_out.setdefault(module_name, {})[name] = stage
    return Closure(
        sources={name: modules[name].source for name in started},
        trees={name: modules[name].tree for name in started},
        kept={name: [node for node in modules[name].tree.body if id(node) in kept[name]] for name in started},
        used={name: used[name] for name in started},
        reach=reach,
        stages=stages,
        left_out=left_out,
    )


def _imports_of(node: ast.stmt) -> list[ast.ImportFrom]:
    if isinstance(node, ast.ImportFrom):
        return [node]
    if _is_type_checking(node):
        return [child for child in node.body if isinstance(child, ast.ImportFrom)]
    return []


def _start(lines: list[str], node: ast.stmt) -> int:
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))]) - 1
    while start > 0 and lines[start - 1].lstrip().startswith("#"):
        start -= 1
    return start


def _import_text(node: ast.Import | ast.ImportFrom, used: set[str], relative: str | None, indent: str) -> str:
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return ""  # the file's own first statement says it once
    aliases = [a for a in node.names if (a.asname or a.name).split(".")[0] in used]
    if not aliases:
        return ""
    if relative == "":
        return "".join(f"{indent}{a.asname} = {a.name}\n" for a in aliases if a.asname not in (None, a.name))
    names = ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}" for a in aliases)
    if isinstance(node, ast.Import):
        return f"{indent}import {names}\n"
    module = f".{relative}" if relative is not None else "." * node.level + (node.module or "")
    return f"{indent}from {module} import {names}\n"


def shipped_source(closure: Closure, module: str, *, flat: Callable[[ast.ImportFrom], str | None]) -> str:
    """The text of ``module`` that ships, its respira imports rewritten by ``flat(node)`` to the flat file
    they name."""
    source = closure.sources[module]
    lines = source.splitlines(keepends=True)
    tree = closure.trees[module]
    kept = {id(node) for node in closure.kept[module]}
    used = closure.used[module]
    edits: list[tuple[int, int, str]] = []
    for node in tree.body:
        end = node.end_lineno or node.lineno
        if id(node) not in kept:
            edits.append((_start(lines, node), end, ""))
        elif node is tree.body[0] and is_docstring(node) and not _cites_docstring(closure, module, lines):
            rest = _docstring_rest(lines, node)
            if rest is not None:
                edits.append((*rest, ""))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            relative = flat(node) if isinstance(node, ast.ImportFrom) else None
            edits.append((node.lineno - 1, end, _import_text(node, used, relative, "")))
        elif _is_type_checking(node):
            body = "".join(
                _import_text(child, used, flat(child) if isinstance(child, ast.ImportFrom) else None, "    ")
                for child in node.body
            )
            edits.append((node.lineno - 1, end, f"if TYPE_CHECKING:\n{body}" if body else ""))
        else:
            for method in _cut_methods(node, closure.stages):
                start, end = _start(lines, method), method.end_lineno or method.lineno
                if start > 0 and not lines[start - 1].strip() and end < len(lines) and not lines[end].strip():
                    end += 1  # and one of the blank lines around it
                edits.append((start, end, ""))
            _, imports, decorators = closure.reach(node)
            for decorator in decorators:  # @shipped_when lines never ship
                if lines[decorator.lineno - 1][: decorator.col_offset - 1].strip():
                    raise ValueError(f"{module}, line {decorator.lineno}: put @shipped_when on its own line")
                edits.append((decorator.lineno - 1, decorator.end_lineno or decorator.lineno, ""))
            for statement in imports:
                relative = flat(statement)
                if relative is None:
                    continue
                indent = lines[statement.lineno - 1][: statement.col_offset]
                if indent.strip():
                    raise ValueError(f"{module}, line {statement.lineno}: put the import on its own line(s)")
                text = _import_text(
                    statement, {(a.asname or a.name) for a in statement.names}, relative, indent
                )
                if not text and relative == "":  # a function-level import of its own file's names
                    text = f"{indent}pass\n" if _only_statement(node, statement) else ""
                edits.append((statement.lineno - 1, statement.end_lineno or statement.lineno, text))
    for start, end, text in sorted(edits, key=lambda edit: -edit[0]):
        lines[start:end] = [text] if text else []
    text = "".join(_without_empty_sections(lines))
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return text


def is_docstring(node: ast.AST) -> bool:
    """Whether ``node`` is a string standing as a statement (a docstring, or an attribute's)."""
    value = node.value if isinstance(node, ast.Expr) else None
    return isinstance(value, ast.Constant) and isinstance(value.value, str)


def _cites_docstring(closure: Closure, module: str, lines: list[str]) -> bool:
    return any(
        "module docstring" in "".join(lines[node.lineno - 1 : node.end_lineno])
        for node in closure.kept[module]
        if node is not closure.trees[module].body[0]
    )


def _docstring_rest(lines: list[str], node: ast.stmt) -> tuple[int, int] | None:
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    if lines[last].strip() not in ('"""', "'''"):
        return None
    blank = next((index for index in range(first + 1, last) if not lines[index].strip()), None)
    return None if blank is None else (blank, last)


def _without_empty_sections(lines: list[str]) -> list[str]:
    rule = [line.startswith("# ---") for line in lines]
    kept = []
    for index, line in enumerate(lines):
        following = next((i for i in range(index + 1, len(lines)) if lines[i].strip()), None)
        if rule[index] and (following is None or rule[following]):
            continue
        kept.append(line)
    return kept


def _only_statement(node: ast.AST, statement: ast.stmt) -> bool:
    for child in ast.walk(node):
        for body in ("body", "orelse", "finalbody"):
            block = getattr(child, body, None)
            if isinstance(block, list) and block == [statement]:
                return True
    return False

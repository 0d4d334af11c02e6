"""Which files a model's shipped code is, and how each is put together from respira's modules.

A Hub custom-code repository is a few files (a configuration, a modeling, a feature-extraction and a
pipeline file, a few helpers), not one per source module: :data:`FILES` gathers respira's modules into
such files, and :func:`file_text` writes one of them, each module's shipped text as a section marked
with its source file. Modules of one file share its namespace, so a name two of them define would
clash: :func:`file_text` refuses it.
"""

from __future__ import annotations

import ast
import importlib.util
import textwrap
from collections.abc import Callable
from pathlib import Path

from .code_closure import Closure

__all__ = [
    "FILES",
    "ROOT_PACKAGE",
    "file_of",
    "file_text",
    "flat_name",
    "in_import_order",
    "is_respira",
    "respira_imports",
    "rewrite_imports",
    "section_marker",
    "source_file",
    "target_module",
]

ROOT_PACKAGE = "respira"

FILES: dict[str, tuple[str, ...]] = {
    "configuration_respira": ("labels", "windows", "configuration_respira"),
    "encoders": ("citations", "time_steps", "encoders"),
    "featurizers": (
        "buffers",
        "kernel_choice",
        "banded",
        "mel_banks",
        "frame_dft",
        "resample",
        "log_mel",
        "kaldi_fbank",
        "efficientat_mel",
    ),
    "feature_extraction_respira": ("checks", "wav", "dsp", "decoding", "feature_extraction_respira"),
    "modeling_respira": ("fixed_length", "spec_augment", "waveform_inputs", "featurizer", "modeling_respira"),
    "pipeline_respira": ("decision", "batching", "pipeline_respira"),
}
"""The shipped files that gather several respira modules (by their last name), as a Hub custom-code
repository looks: a configuration, a modeling, a feature-extraction and a pipeline file, the encoders
and the featurizers; any other module ships as a file of its own name (an encoder family's
``configuration_x`` and ``modeling_x``)."""
FILE_OF = {module: file for file, modules in FILES.items() for module in modules}


def file_of(module: str) -> str:
    """The shipped file (without ``.py``) a respira module goes to."""
    name = module.rsplit(".", 1)[-1]
    return FILE_OF.get(name, name)


def in_import_order(
    modules: list[str], closure: Closure, file: str, target: Callable[[str, ast.ImportFrom], str | None]
) -> list[str]:
    """The modules of one file, each after those it imports at its top level (their order in
    :data:`FILES` otherwise)."""
    rank = {name: index for index, name in enumerate(FILES.get(file, ()))}
    modules = sorted(modules, key=lambda module: rank.get(module.rsplit(".", 1)[-1], len(rank)))
    needs = {
        module: {
            found
            for node in closure.kept[module]
            if isinstance(node, ast.ImportFrom) and (found := target(module, node)) in modules
        }
        for module in modules
    }
    ordered: list[str] = []
    while len(ordered) < len(modules):
        ready = next((m for m in modules if m not in ordered and needs[m] <= set(ordered)), None)
        if ready is None:
            raise ValueError(f"{file}.py: its modules import each other in a circle")
        ordered.append(ready)
    return ordered


def _bindings(text: str) -> dict[str, str]:
    """Top-level name → what binds it in ``text`` (the statement, unparsed)."""
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = f"def {node.name}"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                found[(alias.asname or alias.name).split(".")[0]] = ast.unparse(node).split(" import ")[0]
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        found[name.id] = f"{name.id} = ..."
    return found


def file_text(
    file: str, sections: list[tuple[str, str]], version: str, left_out: dict[str, str] | None = None
) -> str:
    """One shipped file: the generated header, ``from __future__ import annotations`` once, then each
    module's shipped text, marked with its source (:func:`section_marker`); raises ``ValueError`` when
    two of them bind one name differently. ``left_out``: names the file's code names that do not ship,
    each with the optional stage it runs in, which the header lists."""
    seen: dict[str, tuple[str, str]] = {}
    clashes: list[str] = []
    for module, text in sections:
        for name, binding in _bindings(text).items():
            if name in seen and (seen[name][1] != binding or binding.startswith(("def ", name))):
                clashes.append(f"{module} and {seen[name][0]} both define {name}")
            seen[name] = (module, binding)
    if clashes:
        raise ValueError(f"{file}.py: {'; '.join(clashes)}: rename one of each")
    header = (
        f"# Generated by respira {version} (`respira export --with_code`) from respira's source: each\n"
        "# section is the part of the file its marker names that this model reaches. Edit respira's source,\n"
        "# not this copy.\n"
    )
    if left_out:
        names = ", ".join(f"{name} ({stage})" for name, stage in sorted(left_out.items()))
        note = f"Not shipped, as this model never runs their optional stages: {names}."
        header += "".join(f"# {line}\n" for line in textwrap.wrap(note, 100))
    header += "from __future__ import annotations\n"
    return header + "".join(f"\n\n{section_marker(module)}\n{text.strip()}\n" for module, text in sections)


def section_marker(module: str) -> str:
    """The comment line that opens the section of ``module`` in a shipped file."""
    return f"# {'-' * 60} from {Path(*module.split('.')).with_suffix('.py').as_posix()}"


def is_respira(module: str) -> bool:
    """Whether ``module`` is respira's (the package or one of its modules)."""
    return module == ROOT_PACKAGE or module.startswith(ROOT_PACKAGE + ".")


def source_file(module: str) -> Path:
    """The source file of the respira module ``module`` (a module, not a package)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ValueError(f"cannot ship {module}: no Python source file found")
    if Path(spec.origin).name == "__init__.py":
        raise ValueError(
            f"cannot ship the package {module}: import from one of its modules instead "
            "(remote code is a flat folder of modules)"
        )
    return Path(spec.origin)


def target_module(module: str, node: ast.ImportFrom) -> str | None:
    """The respira module an import statement of ``module`` imports from (``None``: not respira's)."""
    if node.level == 0:
        name = node.module or ""
        return name if is_respira(name) else None
    package = module.rsplit(".", 1)[0].split(".")  # the module's package (shipped modules are not packages)
    if node.level > len(package):
        raise ValueError(f"{module}: relative import beyond the top-level package")
    base = package[: len(package) - node.level + 1]
    if node.module is None:
        raise ValueError(
            f"{module}: `from {'.' * node.level} import ...` cannot be shipped; import from the module"
        )
    return ".".join([*base, node.module])


def respira_imports(module: str, tree: ast.Module) -> list[tuple[ast.stmt, str]]:
    """Every ``from <respira module> import ...`` in the tree (function-level ones too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(is_respira(alias.name) for alias in node.names):
            raise ValueError(f"{module}: `import respira...` cannot be shipped; use `from ... import`")
        if isinstance(node, ast.ImportFrom):
            target = target_module(module, node)
            if target is not None:
                found.append((node, target))
    return found


def flat_name(module: str) -> str:
    """The file name (without ``.py``) a module ships as in a flat folder."""
    return module.rsplit(".", 1)[-1]


def rewrite_imports(module: str, source: str, tree: ast.Module) -> str:
    """``source`` with each respira import replaced by a one-dot import of the flat module."""
    lines = source.splitlines(keepends=True)
    for node, target in sorted(respira_imports(module, tree), key=lambda item: -item[0].lineno):
        names = ", ".join(
            alias.name if alias.asname is None else f"{alias.name} as {alias.asname}" for alias in node.names
        )
        indent = lines[node.lineno - 1][: node.col_offset]
        after = lines[node.end_lineno - 1][node.end_col_offset :].strip()
        if indent.strip() or (after and not after.startswith("#")):
            raise ValueError(f"{module}, line {node.lineno}: put the import on its own line(s) to ship it")
        replacement = f"{indent}from .{flat_name(target)} import {names}\n"
        lines[node.lineno - 1 : node.end_lineno] = [replacement]
    return "".join(lines)

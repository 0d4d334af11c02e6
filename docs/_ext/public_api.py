"""Fail the build when the API reference and the packages' ``__all__`` disagree.

autodoc documents a module's ``__all__`` but drops, without a word, a name it cannot find: a stale entry
of ``__all__``, or a lazily imported one a module does not list in ``dir()``. After the pages are read,
each module an ``automodule`` documented is checked: every public name of its ``__all__`` must exist, and
every public class and function must be documented, under that module or, for a name it re-exports, under
another documented module (autodoc leaves out a re-exported constant whose doc comment is elsewhere).

A docstring's reference to a respira object outside the reference
(``:mod:`respira.models.respira.audio_decoding```, a base class) is shown as text when the object
exists; one to a respira object that does not exist stays an error (nitpicky), so a renamed function
still breaks the build.
"""

from __future__ import annotations

import importlib
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _check_public_names(app: Sphinx, env: BuildEnvironment) -> None:
    python = env.get_domain("py")
    documented = {name for name in python.objects}
    modules = {name: entry.docname for name, entry in python.modules.items()}
    shown: set[int] = set()
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if f"{module_name}.{name}" in documented and hasattr(module, name):
                shown.add(id(getattr(module, name)))
    for module_name, docname in sorted(modules.items()):
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            if name.startswith("__"):
                continue
            where = f"{module_name}.{name}"
            if not hasattr(module, name):
                logger.warning(
                    "%s is in %s.__all__ but does not exist (stale)", where, module_name, location=docname
                )
            elif (
                where not in documented
                and id(getattr(module, name)) not in shown
                and callable(getattr(module, name))  # constants stay out unless they have a doc comment
            ):
                logger.warning("%s is public (in __all__) but not documented", where, location=docname)


def _resolves(target: str, module: str | None, klass: str | None) -> bool:
    """Whether ``target`` (as a Python role wrote it, ``~`` stripped) names an existing respira object."""
    target = target.lstrip("~")
    candidates = [target]
    if module:
        candidates.append(f"{module}{target}" if target.startswith(".") else f"{module}.{target}")
        if klass:
            candidates.append(f"{module}.{klass}.{target.lstrip('.')}")
    for candidate in candidates:
        parts = candidate.split(".")
        if parts[0] != "respira":
            continue
        for split in range(len(parts), 0, -1):
            try:
                found: Any = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            rest = parts[split:]
            for index, attribute in enumerate(rest):
                if hasattr(found, attribute):
                    found = getattr(found, attribute)
                elif index == len(rest) - 1 and attribute in getattr(found, "__annotations__", {}):
                    return True  # a field declared without a class-level value (a dataclass's)
                else:
                    break
            else:
                return True
            break
    return False


def _existing_internal(app: Sphinx, domain: Any, node: Any) -> bool | None:
    """``warn-missing-reference``: True (no warning) for a reference to an existing respira object that the
    reference does not document."""
    if domain is None or domain.name != "py":
        return None
    if _resolves(node["reftarget"], node.get("py:module"), node.get("py:class")):
        return True
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("env-check-consistency", _check_public_names)
    app.connect("warn-missing-reference", _existing_internal)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

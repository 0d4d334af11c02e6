"""Ship a respira model's code with it (``trust_remote_code``): the self-contained model folder
(:mod:`respira.models.respira`) copied beside the weights, its classes named in ``auto_map``."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from transformers.dynamic_module_utils import get_imports, get_relative_imports

from ..models import respira as model_folder
from ..models.respira import (
    RespiraAudioClassificationPipeline,
    RespiraConfig,
    RespiraFeatureExtractor,
    RespiraForAudioClassification,
    RespiraModel,
)

ROOT_PACKAGE = "respira"
MODEL_FOLDER = Path(model_folder.__file__).parent
"""The model folder whose ``*.py`` files ship with a model."""


def _reference(cls: type) -> str:
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__qualname__}"


REMOTE_CODE_AUTO_MAP: dict[str, str] = {
    "AutoConfig": _reference(RespiraConfig),
    "AutoModel": _reference(RespiraModel),
    "AutoModelForAudioClassification": _reference(RespiraForAudioClassification),
    "AutoFeatureExtractor": _reference(RespiraFeatureExtractor),
}
"""``config.json``'s ``auto_map``: Auto class → ``file.Class`` of the shipped code."""
REMOTE_CODE_PIPELINES: dict[str, dict[str, Any]] = {
    "audio-classification": {
        "impl": _reference(RespiraAudioClassificationPipeline),
        "pt": ["AutoModelForAudioClassification"],
    }
}
"""``config.json``'s ``custom_pipelines``: the shipped pipeline, deciding at the model's thresholds."""


@dataclass(frozen=True)
class RemoteCode:
    """The shipped code: file name → text, and the third-party packages it imports."""

    files: Mapping[str, str]
    requirements: tuple[str, ...]


@functools.cache  # the package's source is fixed while it runs
def remote_code_files() -> RemoteCode:
    """The model folder's files, and the packages transformers checks are installed before it loads them
    (``transformers.dynamic_module_utils.get_imports``: all but those imported in a ``try``)."""
    paths = sorted(MODEL_FOLDER.glob("*.py"))
    files = {path.name: path.read_text(encoding="utf-8") for path in paths}
    imported = {name for path in paths for name in get_imports(path)}
    requirements = sorted(name for name in imported if name not in sys.stdlib_module_names)
    return RemoteCode(files=MappingProxyType(files), requirements=tuple(requirements))


def code_size(texts: Iterable[str]) -> tuple[int, int]:
    """(files, code lines) of shipped code files; code lines, as ``cloc`` counts them, exclude docstrings."""
    texts = list(texts)
    return len(texts), sum(map(_code_lines, texts))


@functools.lru_cache(maxsize=256)  # keyed by the text: an edited file is counted again
def _code_lines(text: str) -> int:
    documentation = {
        line
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Expr) and isinstance(getattr(node.value, "value", None), str)
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    return sum(
        1
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#") and number not in documentation
    )


def _update_json(path: Path, **entries: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(entries)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_remote_code(folder: Path, code: RemoteCode | None = None) -> None:
    """Write the shipped code into a model folder, add the ``auto_map`` entries and check the folder."""
    for name, text in (code or remote_code_files()).files.items():
        (folder / name).write_text(text, encoding="utf-8")
    _update_json(
        folder / "config.json", auto_map=REMOTE_CODE_AUTO_MAP, custom_pipelines=REMOTE_CODE_PIPELINES
    )
    extractor = {"AutoFeatureExtractor": REMOTE_CODE_AUTO_MAP["AutoFeatureExtractor"]}
    _update_json(folder / "preprocessor_config.json", auto_map=extractor)
    check_remote_code(folder)


_IMPORTS: dict[bytes, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _imports(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """transformers' reading of the file's relative and package imports, kept per process by the SHA-256
    of its bytes (every fitted or exported folder ships the same files; an edited one is read again)."""
    key = hashlib.sha256(path.read_bytes()).digest()
    if key not in _IMPORTS:
        _IMPORTS[key] = (tuple(get_relative_imports(path)), tuple(get_imports(path)))
    return _IMPORTS[key]


@functools.lru_cache(maxsize=256)  # keyed by the text: an edited file is parsed again
def _class_names(text: str) -> frozenset[str]:
    return frozenset(node.name for node in ast.parse(text).body if isinstance(node, ast.ClassDef))


def _check_shipped_imports(folder: Path, name: str) -> None:
    """The imports transformers reads before it loads ``name``: its siblings in ``folder``, never respira."""
    relative, imported = _imports(folder / name)
    for module in relative:
        if not (folder / f"{module}.py").is_file():
            raise ValueError(f"{name}: `from .{module} import` names no file of the folder")
    if ROOT_PACKAGE in imported:
        raise ValueError(f"{name} imports respira: the shipped code must not need it")


def check_remote_code(folder: str | Path) -> list[str]:
    """The shipped code files of a folder, after checking it is self-contained."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    auto_map = config.get("auto_map") or {}
    if not auto_map:
        raise ValueError(f"{folder / 'config.json'} has no auto_map (no shipped code)")
    shipped = sorted(path.name for path in folder.glob("*.py"))
    pipelines = {
        task: entry.get("impl", "") for task, entry in (config.get("custom_pipelines") or {}).items()
    }
    for auto, reference in [*auto_map.items(), *pipelines.items()]:
        file, _, class_name = reference.partition(".")
        path = folder / f"{file}.py"
        if not path.is_file():
            raise ValueError(f"auto_map {auto} names {reference}, but {path.name} is not in {folder}")
        if class_name not in _class_names(path.read_text(encoding="utf-8")):
            raise ValueError(f"auto_map {auto} names {reference}, but {path.name} defines no {class_name}")
    for name in shipped:
        _check_shipped_imports(folder, name)
    return shipped

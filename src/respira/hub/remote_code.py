"""Ship a respira model's code with it, so it loads where respira is not installed (``trust_remote_code``).

The shipped code is generated from respira's source at export time: :func:`remote_code_files` starts from
the config, model, feature extractor and pipeline classes (and the encoder family's), ships only the
definitions they reach (:mod:`respira.hub.code_closure`) in a few flat files (:mod:`respira.hub.code_files`)
with one-dot relative imports, and appends lines registering the encoder classes with the Auto classes.
The folder still loads with ``import respira`` and no ``trust_remote_code``.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .code_closure import is_docstring
from .code_files import (
    ROOT_PACKAGE,
    file_of,
    file_text,
    flat_name,
    in_import_order,
    is_respira,
    respira_imports,
    rewrite_imports,
    source_file,
    target_module,
)

if TYPE_CHECKING:
    from ..models.respira import RespiraConfig

__all__ = [
    "REMOTE_CODE_AUTO_MAP",
    "REMOTE_CODE_PIPELINES",
    "RemoteCode",
    "check_remote_code",
    "code_size",
    "flatten_modules",
    "remote_code_files",
    "write_remote_code",
]


def _entry_classes() -> dict[str, type]:
    """The classes the shipped code starts from: the Auto classes' and (last) the pipeline."""
    from ..models.respira import (
        RespiraConfig,
        RespiraFeatureExtractor,
        RespiraForAudioClassification,
        RespiraModel,
    )
    from ..models.respira.pipeline_respira import RespiraAudioClassificationPipeline

    return {
        "AutoConfig": RespiraConfig,
        "AutoModel": RespiraModel,
        "AutoModelForAudioClassification": RespiraForAudioClassification,
        "AutoFeatureExtractor": RespiraFeatureExtractor,
        "pipeline": RespiraAudioClassificationPipeline,
    }


_REFERENCES = {
    key: f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__qualname__}" for key, cls in _entry_classes().items()
}
REMOTE_CODE_AUTO_MAP: dict[str, str] = {key: value for key, value in _REFERENCES.items() if key != "pipeline"}
"""``config.json``'s ``auto_map``: Auto class → ``file.Class`` of the shipped code."""
REMOTE_CODE_PIPELINES: dict[str, dict[str, Any]] = {
    "audio-classification": {"impl": _REFERENCES["pipeline"], "pt": ["AutoModelForAudioClassification"]}
}
"""``config.json``'s ``custom_pipelines``: ``pipeline(task, trust_remote_code=True)`` loads the shipped
pipeline, which decides at the model's thresholds."""


@dataclass(frozen=True)
class RemoteCode:
    """The shipped code of one encoder family: ``files`` (file name → text) and the third-party
    packages it imports (``requirements``, top-level names, e.g. ``soxr``)."""

    files: dict[str, str]
    requirements: tuple[str, ...]


def _shipped_encoder_classes(model_type: str) -> list[tuple[type, type | None]]:
    """The respira encoder classes an export of ``model_type`` ships and registers, as (config, model)
    pairs: the family's own (none for AST, which transformers provides), and the default family's config
    alone when it differs (transformers builds a bare ``RespiraConfig()`` while it loads any saved one)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    from .. import models  # noqa: F401  (registers respira's encoder families)
    from ..models.encoders import DEFAULT_ENCODER, get_encoder_spec

    shipped: list[tuple[type, type | None]] = []
    for family, with_model in ((model_type, True), (get_encoder_spec(DEFAULT_ENCODER).model_type, False)):
        config_class = CONFIG_MAPPING[family]
        if is_respira(config_class.__module__) and all(config_class is not c for c, _ in shipped):
            shipped.append((config_class, MODEL_MAPPING[config_class] if with_model else None))
    return shipped


def _registration_lines(registered: list[tuple[type, type | None]]) -> str:
    """Generated lines that register the shipped encoder classes (:func:`_shipped_encoder_classes`),
    appended to the configuration file.

    They call the Auto classes' ``register(..., exist_ok=True)``: transformers may load the shipped modules
    more than once (one copy per entry file of a local folder), each copy registering its own classes.
    """
    imports, calls = [], []
    for config_class, model_class in registered:
        for cls in (config_class, model_class):
            if cls is not None:
                imports.append(f"from .{file_of(cls.__module__)} import {cls.__name__}  # noqa: E402")
        name = config_class.__name__
        calls.append(f"_AutoConfig.register({name}.model_type, {name}, exist_ok=True)")
        if model_class is not None:
            calls.append(f"_AutoModel.register({name}, {model_class.__name__}, exist_ok=True)")
    header = [
        "\n\n# Generated by `respira export --with_code`: respira's encoder classes, registered with the",
        "# Auto classes as `import respira` registers them.",
        "from transformers import AutoConfig as _AutoConfig, AutoModel as _AutoModel  # noqa: E402",
    ]
    return "\n".join([*header, *imports, "", *calls]) + "\n"


_IMPORT_FAILURES = frozenset({"ImportError", "ModuleNotFoundError", "Exception"})
"""Handlers that make an import in their ``try`` optional: the code runs on without the package."""


def _third_party(tree: ast.Module) -> set[str]:
    """Packages the shipped code needs: every third-party import but optional ones (in a ``try`` that
    catches their failure, like ``read_audio``'s torchcodec fallback)."""
    optional: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            handler.type is None
            or {name.id for name in ast.walk(handler.type) if isinstance(name, ast.Name)} & _IMPORT_FAILURES
            for handler in node.handlers
        ):
            optional.update(child for child in node.body if isinstance(child, (ast.Import, ast.ImportFrom)))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and node not in optional:
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node not in optional:
            names.add(node.module.split(".")[0])
    return {name for name in names if name not in sys.stdlib_module_names and name != ROOT_PACKAGE}


def flatten_modules(
    modules: list[str],
    *,
    leave_out: tuple[str, ...] = (),
    note: str = "`respira export --with_code`",
) -> RemoteCode:
    """``modules`` and every respira module they import (function-level imports too), as flat files."""
    from .. import __version__

    pending, seen = list(modules), set(leave_out)
    files: dict[str, str] = {}
    origins: dict[str, str] = {}
    requirements: set[str] = set()
    while pending:
        module = pending.pop(0)
        if module in seen:
            continue
        seen.add(module)
        path = source_file(module)
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
        pending.extend(target for _, target in respira_imports(module, tree) if target not in seen)
        requirements |= _third_party(tree)
        name = flat_name(module) + ".py"
        if name in files:
            raise ValueError(f"{module} and {origins[name]} would both be shipped as {name}: rename one")
        origins[name] = module
        relative = Path(*module.split(".")).with_suffix(".py").as_posix()
        header = (
            f"# Generated by respira {__version__} from {relative} ({note}):\n"
            "# edit respira's source, not this copy.\n"
        )
        files[name] = header + rewrite_imports(module, source, tree)
    return RemoteCode(files=files, requirements=tuple(sorted(requirements)))


def remote_code_files(model: RespiraConfig | str) -> RemoteCode:
    """The code folder of a respira model (its config, or its encoder's ``model_type``): only the definitions
    its classes reach (:func:`~respira.hub.code_closure.code_closure`; registries cut to its encoder family:
    the default family's config ships, for a bare ``RespiraConfig()``, but not its spec nor featurizer),
    gathered into the files of :data:`~respira.hub.code_files.FILES`."""
    from .. import __version__
    from ..models.encoders import EncoderSpec
    from ..models.respira.featurizer import stages_of
    from .code_closure import EntryFilter, code_closure, shipped_source

    if isinstance(model, str):
        encoder_model_type, stages = model, None
    else:
        encoder_model_type, stages = model.encoder_config.model_type, stages_of(model)
    registered = _shipped_encoder_classes(encoder_model_type)
    classes = list(_entry_classes().values())
    classes += [cls for pair in registered for cls in pair if cls is not None]
    families = frozenset({encoder_model_type})
    closure = code_closure(
        [(cls.__module__, cls.__name__) for cls in classes],
        read=lambda module: source_file(module).read_text(encoding="utf-8"),
        target=target_module,
        entries=EntryFilter(EncoderSpec.__name__, "model_type", families),
        stages=stages,
    )

    def relative(module: str, node: ast.ImportFrom) -> str | None:
        target = target_module(module, node)
        if target is None:
            return None
        return "" if file_of(target) == file_of(module) else file_of(target)

    sections = {
        module: shipped_source(closure, module, flat=lambda node, module=module: relative(module, node))
        for module in closure.sources
    }
    files: dict[str, str] = {}
    for file in sorted({file_of(module) for module in sections}):
        members = in_import_order([m for m in sections if file_of(m) == file], closure, file, target_module)
        left_out = {name: stage for m in members for name, stage in closure.left_out.get(m, {}).items()}
        files[f"{file}.py"] = file_text(file, [(m, sections[m]) for m in members], __version__, left_out)
    configuration = file_of(_entry_classes()["AutoConfig"].__module__) + ".py"
    if registered:
        files[configuration] += _registration_lines(registered)
    requirements = set().union(*(_third_party(ast.parse(text)) for text in files.values()))
    return RemoteCode(files=files, requirements=tuple(sorted(requirements)))


def code_size(texts: Iterable[str]) -> tuple[int, int]:
    """(files, code lines) of shipped code files, from their texts: code lines are the lines that are
    neither blank, a comment nor part of a docstring (a string standing as a statement), as ``cloc`` counts
    Python; a docstring edit leaves the count (and the card that states it) as it was."""
    texts = list(texts)
    return len(texts), sum(map(_code_lines, texts))


def _code_lines(text: str) -> int:
    documentation = {
        line
        for node in ast.walk(ast.parse(text))
        if is_docstring(node)
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    return sum(
        1
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#") and number not in documentation
    )


# --------------------------------------------------------------------------------------------- folders
def _update_json(path: Path, **entries: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(entries)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_remote_code(folder: str | Path, code: RemoteCode | None = None) -> RemoteCode:
    """Write the shipped code into a model folder and add the ``auto_map`` entries."""
    folder = Path(folder)
    if code is None:
        from ..models.respira import RespiraConfig

        code = remote_code_files(RespiraConfig.from_pretrained(folder))
    for name, text in code.files.items():
        (folder / name).write_text(text, encoding="utf-8")
    _update_json(
        folder / "config.json",
        auto_map=dict(REMOTE_CODE_AUTO_MAP),
        custom_pipelines=json.loads(json.dumps(REMOTE_CODE_PIPELINES)),
    )
    extractor = {"AutoFeatureExtractor": REMOTE_CODE_AUTO_MAP["AutoFeatureExtractor"]}
    _update_json(folder / "preprocessor_config.json", auto_map=extractor)
    return code


def _check_shipped_imports(folder: Path, name: str) -> None:
    tree = ast.parse((folder / name).read_text(encoding="utf-8"), filename=name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
        elif isinstance(node, ast.ImportFrom):
            if node.level != 1 or node.module is None or not (folder / f"{node.module}.py").is_file():
                statement = f"from {'.' * node.level}{node.module or ''} import"
                raise ValueError(f"{name}: `{statement}` names no file of the folder")
            continue
        else:
            continue
        if any(is_respira(module) for module in modules):
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
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not any(isinstance(node, ast.ClassDef) and node.name == class_name for node in tree.body):
            raise ValueError(f"auto_map {auto} names {reference}, but {path.name} defines no {class_name}")
    for name in shipped:
        _check_shipped_imports(folder, name)
    return shipped

"""CONTRIBUTING.md is true: every repository path, ``respira`` command and option, Python API name and
``make`` target it names exists."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import respira
from respira.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
PATH_SUFFIXES = (".py", ".md", ".toml", ".yaml", ".yml", ".cfg")
SKIPPED_FOLDERS = {".git", ".venv", "node_modules", "_build", "__pycache__", ".pytest_cache", ".ruff_cache"}


def _repository_paths() -> set[str]:
    """Every file and folder of the repository (folders with a trailing ``/``), relative to its root."""
    paths: set[str] = set()
    for folder, folders, files in os.walk(ROOT):
        folders[:] = [name for name in folders if name not in SKIPPED_FOLDERS]
        relative = Path(folder).relative_to(ROOT).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        paths.update(f"{prefix}{name}/" for name in folders)
        paths.update(f"{prefix}{name}" for name in files)
    return paths


FENCED = re.compile(r"^```.*?^```", flags=re.MULTILINE | re.DOTALL)


def _spans(text: str) -> list[str]:
    """The inline code spans of ``text``, fenced blocks left out."""
    return re.findall(r"`([^`\n]+)`", FENCED.sub("", text))


def _named_paths(text: str) -> list[tuple[str, str]]:
    """What ``text`` names as a repository path, each with the folder of the last path named before it (a
    bare file name's context): the code spans and relative link targets with a ``/`` or a source file's
    suffix (placeholders, globs and paths outside the repository left out)."""
    named, folder = [], ""
    for span, link in re.findall(r"`([^`\n]+)`|\]\(([^)#\s]+)(?:#[^)]*)?\)", FENCED.sub("", text)):
        path = span or link
        if "://" in path or re.search(r"[\s<>*]", path) or path.startswith(("../", "-")):
            continue
        if "/" in path or path.endswith(PATH_SUFFIXES):
            named.append((path, folder))
            folder = path.rpartition("/")[0] + "/" if "/" in path else folder
    return named


def _exists(path: str, folder: str, paths: set[str]) -> bool:
    """Whether ``path`` is a repository path or the end of one (``sites/sample.py`` for
    ``src/respira/sites/sample.py``); a bare file name is looked for in ``folder`` (its context) and the
    folders above it, if it has one."""
    if "/" in path or not folder:
        return path in paths or any(known.endswith(f"/{path}") for known in paths)
    folders = [known for known in paths if known == folder or known.endswith(f"/{folder}")]
    above = {"/".join(known.split("/")[:i]) for known in folders for i in range(known.count("/") + 1)}
    return any(f"{prefix}/{path}".lstrip("/") in paths for prefix in above)


def missing_paths(text: str, paths: set[str]) -> list[str]:
    """The named paths that are no repository path."""
    return [path for path, folder in _named_paths(text) if not _exists(path, folder, paths)]


def _commands() -> dict[str, set[str]]:
    """Each ``respira`` command and its options, as ``respira --help`` lists them."""
    parser = build_parser()
    choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return {
        name: {o for a in command._actions for o in a.option_strings} for name, command in choices.items()
    }


def missing_commands(text: str) -> list[str]:
    """``respira CMD [--option...]`` whose command or option does not exist, ``respira.NAME`` that the
    package does not export, and ``make TARGET`` that the Makefile does not define."""
    code = "\n".join([*_spans(text), *FENCED.findall(text)])
    commands = _commands()
    missing = []
    for command, options in re.findall(r"\brespira ([a-z][\w-]*)((?: --\w+)*)", code):
        if command not in commands:
            missing.append(f"respira {command}")
        missing += [f"respira {command} {o}" for o in options.split() if o not in commands.get(command, {o})]
    missing += [
        f"respira.{name}"
        for name in re.findall(r"^respira\.(\w+)$", code, flags=re.MULTILINE)
        if not hasattr(respira, name)
    ]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    missing += [
        f"make {target}" for target in re.findall(r"\bmake ([a-z][\w-]*)", code) if target not in targets
    ]
    return missing


def test_every_path_contributing_names_exists() -> None:
    assert missing_paths(CONTRIBUTING.read_text(encoding="utf-8"), _repository_paths()) == []


def test_every_command_and_target_contributing_names_exists() -> None:
    assert missing_commands(CONTRIBUTING.read_text(encoding="utf-8")) == []


def test_a_path_command_or_target_that_is_gone_is_found() -> None:
    paths = {
        "src/",
        "src/respira/",
        "src/respira/sites/",
        "src/respira/sites/sample.py",
        "src/respira/api.py",
    }
    text = (
        "`sites/` holds `sample.py`, not `embedding.py`; `api.py` is above it; `sites/sample.py` and "
        "[a page](src/respira/api.py#top) exist, `sites/embedding.py` and [b](docs/gone.md) do not; "
        "`tests/<package>/test_<module>.py`, `../shared`, `evaluation_*/metrics.json` and "
        "[c](https://example.org/x.py) are no repository paths.\n```bash\n`sites/fenced.py`\n```\n"
    )
    assert missing_paths(text, paths) == ["embedding.py", "sites/embedding.py", "docs/gone.md"]
    text = (
        "`respira predict --plot`, `respira evaluate --record`, `respira.fit_site`, `make test` exist; "
        "`respira calibrate`, `respira predict --adapt`, `respira.calibrate`, `make nothing` do not."
    )
    assert missing_commands(text) == [
        "respira calibrate",
        "respira predict --adapt",
        "respira.calibrate",
        "make nothing",
    ]

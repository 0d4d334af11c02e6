"""Modules that moved into rooms keep their old paths for one release, without files at the old paths:
every name is the new module's, with a DeprecationWarning naming the new home."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import respira
from respira.utils.moved import install_moved_modules

SRC = Path(respira.__file__).parent
MOVED = respira._MOVED_MODULES


def _public_name(module: str) -> str:
    found = importlib.import_module(module)
    names = getattr(found, "__all__", None) or [n for n in vars(found) if not n.startswith("_")]
    return sorted(n for n in names if getattr(getattr(found, n), "__module__", module) == module)[0]


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_path_gives_the_new_modules_names_with_a_deprecation_warning(old: str, new: str) -> None:
    name = _public_name(new)
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated .* import {name} from {new}"):
        moved = getattr(module, name)
    assert moved is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError), pytest.warns(DeprecationWarning):
        module.no_such_name  # noqa: B018


@pytest.mark.parametrize("old", sorted(MOVED))
def test_no_file_is_left_at_an_old_path(old: str) -> None:
    relative = Path(*old.split(".")[1:])
    assert not (SRC / relative).with_suffix(".py").exists()
    assert not (SRC / relative / "__init__.py").exists()


def test_from_an_old_path_import_works_in_a_fresh_interpreter() -> None:
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "try:\n"
        "    from respira.detector import Detector\n"
        "except DeprecationWarning as warning:\n"
        "    print(warning)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "import Detector from respira.inference.detector" in done.stdout


def test_installing_again_adds_names_to_the_one_finder() -> None:
    before = [finder for finder in sys.meta_path if type(finder).__name__ == "_MovedModules"]
    install_moved_modules({"respira.no_such_old_home": "respira.core.windows"})
    after = [finder for finder in sys.meta_path if type(finder).__name__ == "_MovedModules"]
    assert len(before) == len(after) == 1
    module = importlib.import_module("respira.no_such_old_home")
    with pytest.warns(DeprecationWarning):
        assert module.window_starts is importlib.import_module("respira.core.windows").window_starts


def test_the_old_engine_module_names_answer_from_the_inference_package_with_a_warning() -> None:
    """``respira.inference`` was the engine module before the room existed: its names still answer."""
    import respira.inference as room
    from respira.inference import engine

    with pytest.warns(DeprecationWarning, match="import predict_files from respira.inference.engine"):
        assert room.predict_files is engine.predict_files
    assert room.Detector is importlib.import_module("respira.inference.detector").Detector  # no warning
    with pytest.raises(AttributeError):
        room.no_such_name  # noqa: B018

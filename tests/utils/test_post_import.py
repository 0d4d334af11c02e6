"""The post-import hook (respira.utils.post_import)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from respira.utils.post_import import after_import


@pytest.fixture
def module_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A top-level module not yet imported, which records that it was executed."""
    (tmp_path / "respira_hook_probe.py").write_text("import sys\nsys.hook_events.append('executed')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "hook_events", [], raising=False)
    yield "respira_hook_probe"
    sys.modules.pop("respira_hook_probe", None)


def test_the_hook_runs_once_right_after_the_module_is_executed(module_file: str) -> None:
    after_import(module_file, lambda: sys.hook_events.append("hook"))
    assert sys.hook_events == []
    module = __import__(module_file)
    assert sys.hook_events == ["executed", "hook"]
    assert type(module.__loader__).__name__ == "SourceFileLoader"  # its own loader again
    __import__(module_file)
    assert sys.hook_events == ["executed", "hook"]


def test_a_module_already_imported_runs_the_hook_now(module_file: str) -> None:
    __import__(module_file)
    after_import(module_file, lambda: sys.hook_events.append("hook"))
    assert sys.hook_events == ["executed", "hook"]

"""The package root ``respira``."""

from __future__ import annotations

import respira


def test_dir_lists_the_lazily_imported_names() -> None:
    """``dir(respira)`` lists every public name, the lazily imported ones too (autodoc documents from it)."""
    assert set(respira.__all__) <= set(dir(respira))
    assert {"Detector", "Prediction", "RespiraConfig"} <= set(dir(respira))

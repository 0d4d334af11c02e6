"""The modules that moved into respira.sites keep their old paths for one release: every name is the new
module's, with a DeprecationWarning naming the new home."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("respira.hub.adaptation", "respira.sites.adaptation", "adapt_model"),
        ("respira.hub.quality", "respira.sites.quality", "fit_quality"),
        ("respira.reports.calibration", "respira.sites.calibration", "cross_validated"),
    ],
)
def test_an_old_path_gives_the_new_modules_names_with_a_deprecation_warning(
    old: str, new: str, name: str
) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=f"{old} is deprecated .* import {name} from {new}"):
        moved = getattr(module, name)
    assert moved is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError), pytest.warns(DeprecationWarning):
        module.no_such_name  # noqa: B018

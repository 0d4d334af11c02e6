"""The model card lives in four modules (card_data with its training callback, card_results, card_template,
card_render)."""

from __future__ import annotations

from pathlib import Path

import respira.hub

CARD_MODULES = {"card_data.py", "card_results.py", "card_template.py", "card_render.py"}


def test_the_card_is_four_modules() -> None:
    assert {path.name for path in Path(respira.hub.__file__).parent.glob("card_*.py")} == CARD_MODULES

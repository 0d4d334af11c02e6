"""How ``make test`` shares the suite between pytest-xdist workers (tests/conftest.py)."""

from __future__ import annotations

import pytest


def test_a_module_runs_on_one_worker_as_one_group(request: pytest.FixtureRequest) -> None:
    """Every test without a group of its own is grouped by its module, so ``--dist loadgroup`` keeps a
    module on one worker, in file order, with its module fixtures built once."""
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args == ("tests/test_workers.py",)

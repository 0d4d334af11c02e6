"""How ``make test`` shares the suite between pytest-xdist workers (tests/conftest.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from transformers.utils import hub


def test_a_module_runs_on_one_worker_as_one_group(request: pytest.FixtureRequest) -> None:
    """Every test without a group of its own is grouped by its module, so ``--dist loadgroup`` keeps a
    module on one worker, in file order, with its module fixtures built once."""
    mark = request.node.get_closest_marker("xdist_group")
    assert mark is not None and mark.args == ("tests/test_workers.py",)


def test_each_session_loads_remote_code_into_its_own_modules_cache() -> None:
    """transformers copies a loaded folder's remote code into its modules cache without a lock: two workers
    (and a docs block's subprocess) must not share the user's ``~/.cache/huggingface/modules``."""
    cache = Path(os.environ["HF_MODULES_CACHE"])
    assert Path(hub.HF_MODULES_CACHE) == cache and cache.is_dir()
    assert cache.parent == Path(tempfile.gettempdir()) and cache.name.startswith("respira-tests-hf-modules-")

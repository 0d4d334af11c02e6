"""The real SPRSound sample's test parts for the evaluation tests (the tiny models: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import SHARED_DIR


@pytest.fixture(scope="session")
def sprsound_test_parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SPRSound sample's official test parts (links into ../shared; what evaluate scores by
    default), and the train part's annotations without its recordings: scoring that part would fail."""
    shared = SHARED_DIR / "sprsound"
    if not shared.is_dir():
        pytest.skip(f"{shared} is absent (the real SPRSound sample)")
    folder = tmp_path_factory.mktemp("sprsound_test") / "sprsound"
    folder.mkdir()
    for part in ("test_wav", "test_json", "train_json"):
        (folder / part).symlink_to(shared / part, target_is_directory=True)
    return folder

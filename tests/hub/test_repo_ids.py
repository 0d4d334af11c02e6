"""Telling a Hub repo id from a path by its spelling."""

from __future__ import annotations

import pytest

from respira.hub.repo_ids import is_hub_repo_id


@pytest.mark.parametrize("name", ["user/icbhi", "icbhi", "MIT/ast-finetuned-audioset-10-10-0.4593"])
def test_a_repo_id_is_one(name: str) -> None:
    assert is_hub_repo_id(name)


@pytest.mark.parametrize(
    "name",
    ["./prepared", "../icbhi", "/data/icbhi", "~/icbhi", "~nosuchuser/icbhi", "a/b/c", "data\\icbhi", ""],
)
def test_a_path_is_none(name: str) -> None:
    assert not is_hub_repo_id(name)

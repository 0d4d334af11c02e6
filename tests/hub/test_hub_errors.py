"""respira.hub.hub_errors: telling a Hub repo id from a path by its spelling, and what went wrong talking to
the Hub, read from real huggingface_hub and HTTP client exceptions as loading and push meet them (wrapped by
transformers in OSErrors)."""

from __future__ import annotations

import importlib

import pytest
from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, OfflineModeIsEnabled

from respira.hub.hub_errors import error_chain, hub_error, is_download_error, is_hub_repo_id


def _raised(error: BaseException, wrapper: BaseException) -> BaseException:
    """``wrapper`` raised from ``error``, as transformers re-raises download errors."""
    try:
        try:
            raise error
        except BaseException as inner:
            raise wrapper from inner
    except BaseException as outer:
        return outer


def _client():
    """The HTTP client huggingface_hub uses here (``httpx2`` under huggingface_hub 2, else ``httpx``)."""
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    pytest.skip("no httpx client installed")


def test_the_cause_chain_is_walked_once_per_link() -> None:
    inner = ValueError("inner")
    outer = _raised(inner, OSError("outer"))
    inner.__context__ = outer  # a cycle: each link still comes once
    assert [str(e) for e in error_chain(outer)] == ["outer", "inner"]


def test_hub_error_names_a_gated_repository_before_a_connection_problem() -> None:
    client = _client()
    response = client.Response(401, request=client.Request("GET", "https://hub.test/api/models/a/b"))
    gated = GatedRepoError("access to a/b is restricted", response=response)
    wrapped = _raised(gated, OSError("You are trying to access a gated repo"))
    assert hub_error(wrapped) == ("gated", gated)
    assert hub_error(wrapped, ("missing",)) is None  # gated is its own kind, not "missing"
    refused = _raised(client.ConnectError("connection refused"), OSError("could not download"))
    kind, link = hub_error(refused)
    assert kind == "network" and isinstance(link, client.ConnectError)
    offline = _raised(OfflineModeIsEnabled("offline"), OSError("offline"))
    assert hub_error(offline)[0] == "network"
    assert hub_error(_raised(KeyError("k"), ValueError("v"))) is None
    assert hub_error(refused, ("gated", "missing")) is None


def test_download_errors_include_the_hub_clients_own() -> None:
    client = _client()
    assert is_download_error(client.ConnectError("refused"))  # not an OSError under huggingface_hub 2
    assert is_download_error(LocalEntryNotFoundError("not cached"))
    assert is_download_error(OSError("wrapped by transformers"))
    assert not is_download_error(ValueError("a bad config value"))


def test_model_load_error_has_one_class_whichever_module_names_it(tmp_path) -> None:
    """``ModelLoadError`` lives in hub_errors (so checksums and loading need not import each other);
    ``respira.hub`` and ``respira.hub.loading`` name the same class, and a checksum error is one."""
    import respira.hub
    import respira.hub.loading
    from respira.hub.checksums import CHECKSUM_FILE, read_checksums
    from respira.hub.hub_errors import ModelLoadError

    assert respira.hub.ModelLoadError is respira.hub.loading.ModelLoadError is ModelLoadError
    (tmp_path / CHECKSUM_FILE).write_text("not a digest  model.safetensors\n")
    with pytest.raises(respira.hub.loading.ModelLoadError, match="line 1"):
        read_checksums(tmp_path)


@pytest.mark.parametrize("name", ["user/icbhi", "icbhi", "MIT/ast-finetuned-audioset-10-10-0.4593"])
def test_a_repo_id_is_one(name: str) -> None:
    assert is_hub_repo_id(name)


@pytest.mark.parametrize(
    "name",
    ["./prepared", "../icbhi", "/data/icbhi", "~/icbhi", "~nosuchuser/icbhi", "a/b/c", "data\\icbhi", ""],
)
def test_a_path_is_none(name: str) -> None:
    assert not is_hub_repo_id(name)

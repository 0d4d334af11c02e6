"""What went wrong talking to the Hugging Face Hub, and the error of a model that cannot be loaded."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

__all__ = ["ModelLoadError", "error_chain", "hub_error", "is_download_error"]


class ModelLoadError(OSError):
    """A model folder or Hub model cannot be used; the one-line message says why and what to do."""


_NETWORK_ERROR_NAMES = {
    "TransportError",
    "NetworkError",
    "ConnectError",
    "ConnectTimeout",
    "TimeoutException",
    "RemoteProtocolError",
    "ProxyError",
}


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes / contexts, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _kind(error: BaseException) -> str | None:
    from huggingface_hub.errors import (
        GatedRepoError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(error, GatedRepoError):
        return "gated"
    if isinstance(error, (RepositoryNotFoundError, RevisionNotFoundError)):
        return "missing"
    if isinstance(error, (OfflineModeIsEnabled, ConnectionError)) or any(
        cls.__name__ in _NETWORK_ERROR_NAMES for cls in type(error).__mro__
    ):
        return "network"
    return None


def hub_error(
    error: BaseException, kinds: Sequence[str] = ("gated", "missing", "network")
) -> tuple[str, BaseException] | None:
    """What went wrong talking to the Hub, from ``error``'s cause chain: ``(kind, the link that says so)``."""
    chain = list(error_chain(error))
    for kind in kinds:
        for link in chain:
            if _kind(link) == kind:
                return kind, link
    return None


def is_download_error(error: BaseException) -> bool:
    """Errors of a download: OSError (transformers wraps them), huggingface_hub's, and the HTTP client's
    (``httpx``, or ``httpx2`` under huggingface_hub 2: matched by their base class, either package)."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    if isinstance(error, (OSError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled)):
        return True
    return any(
        cls.__name__ == "HTTPError" and cls.__module__.split(".")[0] in ("httpx", "httpx2")
        for cls in type(error).__mro__
    )

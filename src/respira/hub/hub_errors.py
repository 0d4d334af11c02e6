"""Hub repository ids, what went wrong talking to the Hub, and the error of a model that cannot be loaded."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..utils.messages import one_line


class ModelLoadError(OSError):
    """A model folder or Hub model cannot be used; the one-line message says why and what to do."""


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes / contexts, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _kind(error: BaseException) -> str | None:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(error, GatedRepoError):
        return "gated"
    if isinstance(error, (RepositoryNotFoundError, RevisionNotFoundError)):
        return "missing"
    # OfflineModeIsEnabled is a ConnectionError; httpx's (httpx2's) network errors derive from TransportError
    if isinstance(error, ConnectionError) or any(
        cls.__name__ == "TransportError" for cls in type(error).__mro__
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
    """Errors of a download: OSError (all of huggingface_hub's are) and those of ``httpx`` / ``httpx2``."""
    return isinstance(error, OSError) or any(
        cls.__name__ == "HTTPError" and cls.__module__.split(".")[0] in ("httpx", "httpx2")
        for cls in type(error).__mro__
    )


def check_repo_id(repo_id: str, *, owner_required: bool = True) -> None:
    """One-line ``ValueError`` unless ``repo_id`` is ``owner/name`` (or a bare name,
    ``owner_required=False``)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"{repo_id!r} is not a Hub repository id: {one_line(error)}") from None
    if "/" not in repo_id and owner_required:
        raise ValueError(f"{repo_id!r}: give the repository as owner/name (your user or organisation)")


def is_hub_origin(source: str) -> bool:
    """Whether an encoder checkpoint is a known Hub model: a family's default checkpoint or a cached repo."""
    from huggingface_hub import try_to_load_from_cache

    from ..models.respira.encoders import encoder_specs

    if not re.match(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", source) or Path(source).exists():
        return False
    if any(spec.default_checkpoint == source for spec in encoder_specs()):
        return True
    try:
        return isinstance(try_to_load_from_cache(source, "config.json"), str)
    except ValueError:
        return False


def is_hub_repo_id(name: str) -> bool:
    """Whether ``name`` is spelled as a Hub repo id (``owner/name`` or ``name``), not a path."""
    try:
        check_repo_id(name, owner_required=False)
    except ValueError:
        return False
    return True

"""Hub repository ids: checking one, and telling a Hub name from a local folder's."""

from __future__ import annotations

import re
from pathlib import Path

from ..utils.messages import one_line

__all__ = ["check_repo_id", "is_hub_origin", "is_hub_repo_id"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def check_repo_id(repo_id: str, *, owner_required: bool = True) -> None:
    """One-line ``ValueError`` unless ``repo_id`` is a Hub repository id (``owner/name``; a bare name
    too with ``owner_required=False``)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"{repo_id!r} is not a Hub repository id: {one_line(error)}") from None
    if "/" not in repo_id and owner_required:
        raise ValueError(f"{repo_id!r}: give the repository as owner/name (your user or organisation)")


def is_hub_origin(source: str) -> bool:
    """Whether an encoder checkpoint name is known to be a Hub model: a registered encoder family's default
    Hub checkpoint, or a repo in the local Hub cache."""
    from huggingface_hub import try_to_load_from_cache

    from ..models.encoders import encoder_specs

    if not _HUB_ID.match(source) or Path(source).exists():
        return False
    if any(spec.default_checkpoint == source for spec in encoder_specs()):
        return True
    try:
        return isinstance(try_to_load_from_cache(source, "config.json"), str)
    except ValueError:
        return False


def is_hub_repo_id(name: str) -> bool:
    """Whether ``name`` is spelled as a Hub repo id (``owner/name`` or ``name``); a path is not (it starts
    with ``.``, ``/`` or ``~``, or holds another separator, all of which a repo id cannot)."""
    try:
        check_repo_id(name, owner_required=False)
    except ValueError:
        return False
    return True

"""Push to the Hugging Face Hub: a run (exported, as a model repo), a static page (Space) or a dataset."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..utils.files import WRITTEN_FILE
from ..utils.messages import one_line
from .export import export_model, model_folder
from .hub_errors import check_repo_id, hub_error


class HubConnectionError(ConnectionError):
    """The Hub could not be reached (no network, wrong ``HF_ENDPOINT``, or ``HF_HUB_OFFLINE=1``)."""


def _unreachable(endpoint: str, reason: BaseException | str) -> HubConnectionError:
    text = one_line(reason)
    return HubConnectionError(f"cannot reach the Hugging Face Hub at {endpoint} (offline?): {text}")


@contextmanager
def _reaching(endpoint: str) -> Iterator[None]:
    """A network failure inside the block as a one-line :class:`HubConnectionError`."""
    try:
        yield
    except Exception as error:
        found = hub_error(error, ("network",))
        if found is None:
            raise
        raise _unreachable(endpoint, found[1]) from None


def push_run(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    with_code: bool = True,
    onnx: bool | None = None,
    before_upload: Callable[[Path], object] | None = None,
) -> str:
    """Export ``run_dir`` (:func:`respira.hub.export_model`) and upload it to the model repo ``repo_id``
    (created when needed, ``private`` then) on ``revision``; return the repository's URL. ``before_upload``
    is called with the exported folder first. An unreachable Hub is a one-line :class:`HubConnectionError`."""
    run_dir = model_folder(run_dir)
    check_push_target(repo_id, token=token)
    with tempfile.TemporaryDirectory(prefix="respira-push-") as tmp:
        folder = export_model(
            run_dir, Path(tmp) / repo_id.replace("/", "--"), model_id=repo_id, with_code=with_code, onnx=onnx
        )
        if before_upload is not None:
            before_upload(folder)
        message = f"Upload respira model from {run_dir.name}"
        commit = _upload(folder, repo_id, "model", message, private=private, token=token, revision=revision)
    return str(commit.repo_url)


def _upload(
    folder: str | Path,
    repo_id: str,
    repo_type: str,
    commit_message: str,
    *,
    private: bool,
    token: str | None,
    revision: str | None = None,
    **options: Any,
) -> Any:
    """Create the repository (and the ``revision`` branch) when needed and upload ``folder`` to it."""
    from huggingface_hub import HfApi, constants

    api = HfApi(token=token)  # offline mode: refused by check_push_target, before any upload
    space_sdk = "static" if repo_type == "space" else None
    with _reaching(api.endpoint):
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, space_sdk=space_sdk)
        if revision is not None and revision != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=folder,
            revision=revision,
            commit_message=commit_message,
            ignore_patterns=[WRITTEN_FILE, f"**/{WRITTEN_FILE}"],  # respira's own record, not the model's
            **options,
        )


def check_push_target(repo_id: str, *, token: str | None = None, owner_required: bool = True) -> None:
    """Check that ``repo_id`` can be pushed to (valid id, reachable Hub accepting the token), else raise a
    one-line error. ``owner_required=False`` accepts a bare name (the Trainer prefixes the token's user)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    check_repo_id(repo_id, owner_required=owner_required)
    api = HfApi(token=token)
    if constants.is_offline_mode():
        raise _unreachable(api.endpoint, "offline mode is enabled (unset HF_HUB_OFFLINE to push)")
    try:
        with _reaching(api.endpoint):
            api.whoami()
    except LocalTokenNotFoundError:
        raise PermissionError(
            "pushing needs a Hugging Face token: run `hf auth login` or pass --token"
        ) from None
    except HfHubHTTPError as error:
        status = getattr(error.response, "status_code", None)
        if status in (401, 403):
            raise PermissionError(f"the Hub at {api.endpoint} refused the token (HTTP {status})") from None
        raise


def push_dataset_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
) -> str:
    """Upload a dataset folder to the dataset repo ``repo_id`` (its folders replaced); return its URL."""
    replaced = [f"{path.name}/**" for path in sorted(Path(folder).iterdir()) if path.is_dir()]
    message = "Upload dataset built by respira prepare"
    commit = _upload(folder, repo_id, "dataset", message, private=private, token=token, revision=revision,
                     delete_patterns=replaced)  # fmt: skip
    return str(commit.repo_url)


def push_space_folder(
    folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None
) -> str:
    """Upload ``folder`` (a static page) to the Space repo ``repo_id``; return the Space's URL."""
    message = f"Upload the respira static page for {repo_id}"
    return str(_upload(folder, repo_id, "space", message, private=private, token=token).repo_url)


def remote_dataset_card(repo_id: str, *, token: str | None = None) -> dict | None:
    """The card metadata of the dataset repo ``repo_id`` (``None`` when it or its card does not exist)."""
    from huggingface_hub import DatasetCard, HfApi
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        with _reaching(HfApi(token=token).endpoint):
            return DatasetCard.load(repo_id, repo_type="dataset", token=token).data.to_dict()
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):
        return None

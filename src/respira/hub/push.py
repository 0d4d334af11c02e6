"""Push a training run to the Hugging Face Hub: export it (model card included), then upload the folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .export import WEIGHTS, export_model
from .loading import check_model_folder, hub_error

__all__ = ["HubConnectionError", "push_run"]


class HubConnectionError(ConnectionError):
    """The Hub could not be reached (no network, wrong ``HF_ENDPOINT``, or ``HF_HUB_OFFLINE=1``)."""


def _unreachable(endpoint: str, reason: BaseException | str) -> HubConnectionError:
    text = " ".join(str(reason).split()) or type(reason).__name__
    return HubConnectionError(f"cannot reach the Hugging Face Hub at {endpoint} (offline?): {text}")


def push_run(
    run_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
) -> str:
    """Export ``run_dir`` (see :func:`respira.hub.export_model`) and upload it to the model repo ``repo_id``.

    Creates the repository when needed (``private`` applies only then) and, for a ``revision`` other
    than ``main``, the branch. Returns the URL of the model repository. An unreachable Hub or offline mode
    (``HF_HUB_OFFLINE=1``) raises :class:`HubConnectionError` with a one-line message naming the
    endpoint.
    """
    from huggingface_hub import HfApi, constants

    run_dir = Path(run_dir).expanduser()
    check_model_folder(run_dir, weights=(WEIGHTS,))
    api = HfApi(token=token)
    endpoint = api.endpoint
    if constants.is_offline_mode():
        raise _unreachable(endpoint, "offline mode is enabled (unset HF_HUB_OFFLINE to push)")
    with tempfile.TemporaryDirectory(prefix="respira-push-") as tmp:
        folder = export_model(run_dir, Path(tmp) / repo_id.replace("/", "--"), model_id=repo_id)
        try:
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            if revision is not None and revision != constants.DEFAULT_REVISION:
                api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
            commit = api.upload_folder(
                repo_id=repo_id,
                repo_type="model",
                folder_path=folder,
                revision=revision,
                commit_message=commit_message or f"Upload respira model from {run_dir.name}",
            )
        except Exception as error:
            found = hub_error(error, ("network",))
            if found is None:
                raise
            raise _unreachable(endpoint, found[1]) from None
    url = getattr(commit, "repo_url", None) or getattr(commit, "commit_url", None) or commit
    return str(url)

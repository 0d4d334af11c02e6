"""What the test Hub server (:mod:`.hub_server`) stores: repos of three kinds, their commits and file blobs.

Model repos live in ``HubState.repos``, dataset repos in ``HubState.dataset_repos`` and Space repos in
``HubState.space_repos``, each keyed by ``owner/name``; blob contents are files under ``root/objects``
named by their sha256.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

USER = "user"
KINDS = ("models", "datasets", "spaces")  # URL segments of the repo kinds: /api/models/..., /api/spaces/...
LFS_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".npy", ".wav", ".zip", ".parquet",
)  # fmt: skip
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = (
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
    b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
)


def git_blob_oid(content: bytes) -> str:
    """Git's object id of a blob (what the Hub reports as a regular file's oid / ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def upload_mode(path: str, size: int) -> str:
    return "lfs" if path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE else "regular"


def front_matter(text: str) -> dict[str, Any] | None:
    """The YAML metadata block of a card (``None`` when it has none)."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
    if not match:
        return None
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else {}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass
class StoredFile:
    sha256: str
    size: int
    lfs: bool

    @property
    def git_oid(self) -> str:
        return git_blob_oid(lfs_pointer(self.sha256, self.size)) if self.lfs else self._content_oid

    _content_oid: str = ""

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid

    def as_tree_entry(self, path: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": self.git_oid, "size": self.size, "path": path}
        if self.lfs:
            entry["lfs"] = {
                "oid": self.sha256,
                "size": self.size,
                "pointerSize": len(lfs_pointer(self.sha256, self.size)),
            }
        return entry


@dataclass
class Commit:
    oid: str
    files: dict[str, StoredFile]
    message: str
    parent: str | None
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    created: str
    kind: str = "models"
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        revision = unquote(revision)
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        return self.commits.get(revision)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class HubState:
    """Repos, commits and blobs (blob contents live on disk under ``root/objects``)."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.objects = root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.stores: dict[str, dict[str, Repo]] = {kind: {} for kind in KINDS}
        self.lock = threading.RLock()
        self._counter = 0

    @property
    def repos(self) -> dict[str, Repo]:
        """Model repos by id."""
        return self.stores["models"]

    @property
    def dataset_repos(self) -> dict[str, Repo]:
        """Dataset repos by id."""
        return self.stores["datasets"]

    @property
    def space_repos(self) -> dict[str, Repo]:
        """Space repos by id."""
        return self.stores["spaces"]

    # blobs ----------------------------------------------------------------------------------------
    def put_blob(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        path = self.objects / sha
        if not path.exists():
            partial = path.with_suffix(".partial")
            partial.write_bytes(content)
            partial.replace(path)
        return sha

    def has_blob(self, sha: str, size: int | None = None) -> bool:
        path = self.objects / sha
        return path.is_file() and (size is None or path.stat().st_size == size)

    def blob_path(self, sha: str) -> Path:
        return self.objects / sha

    def stored(self, content: bytes, lfs: bool) -> StoredFile:
        sha = self.put_blob(content)
        return StoredFile(sha256=sha, size=len(content), lfs=lfs, _content_oid=git_blob_oid(content))

    def text(self, repo: Repo, path: str, revision: str = "main") -> str:
        """The content of ``path`` at ``revision`` of ``repo`` (for tests)."""
        commit = repo.resolve(revision)
        if commit is None or path not in commit.files:
            raise KeyError(f"{path} not in {repo.repo_id}@{revision}")
        return self.blob_path(commit.files[path].sha256).read_text(encoding="utf-8")

    # repos ----------------------------------------------------------------------------------------
    def repo(self, repo_id: str, kind: str = "models") -> Repo:
        repo = self.stores[kind].get(repo_id)
        if repo is None:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def new_commit(
        self, repo: Repo, files: dict[str, StoredFile], message: str, parent: str | None
    ) -> Commit:
        self._counter += 1
        seed = json.dumps(
            [repo.repo_id, parent, message, self._counter, sorted((p, f.sha256) for p, f in files.items())]
        )
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), files, message, parent, now())
        repo.commits[commit.oid] = commit
        return commit

    def create_repo(self, repo_id: str, private: bool, kind: str = "models") -> Repo:
        if repo_id in self.stores[kind]:
            raise HubError(409, f"You already created this {kind[:-1]} repo")
        repo = Repo(repo_id=repo_id, private=private, created=now(), kind=kind)
        initial = self.new_commit(
            repo, {".gitattributes": self.stored(GITATTRIBUTES, lfs=False)}, "initial commit", None
        )
        repo.branches["main"] = initial.oid
        self.stores[kind][repo_id] = repo
        return repo

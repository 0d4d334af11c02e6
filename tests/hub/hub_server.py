"""A small Hugging Face Hub-compatible HTTP server for tests (127.0.0.1 only, files in a temp folder).

It implements what ``huggingface_hub`` 2.x uses to create a model, dataset or Space repo, upload a
folder without Xet (``HF_HUB_DISABLE_XET=1``) and download files, and what ``datasets.load_dataset(repo)``
reads, so push → download and push → ``load_dataset`` round trips run with no network. ``{kind}`` is
``models``, ``datasets`` or ``spaces``; ``[/datasets]`` is ``/datasets`` for dataset repos, ``/spaces``
for Space repos and absent for models (the Hub's URL scheme). A Space repo needs its ``sdk`` when
created and in its README's metadata, as on the Hub.
The stored state (repos, commits, blobs) is :mod:`.hub_state`.

========  ==================================================  ==========================================
method    path                                                used by
========  ==================================================  ==========================================
POST      ``/api/repos/create``                               ``create_repo`` (409 when it exists)
POST      ``/api/validate-yaml``                              ``create_commit`` checks README.md metadata
POST      ``/api/{kind}/{repo}/preupload/{rev}``              upload mode of each file (regular / lfs)
POST      ``[/datasets]/{repo}.git/info/lfs/objects/batch``   LFS batch API (basic transfer)
PUT       ``/lfs-storage/{oid}``                              LFS object upload (single part)
POST      ``/lfs-storage/verify``                             LFS verify step
POST      ``/api/{kind}/{repo}/commit/{rev}``                 ndjson commit (file, lfsFile, deleted...)
POST      ``/api/{kind}/{repo}/branch/{branch}``              ``create_branch``
GET       ``/api/{kind}/{repo}[/revision/{rev}]``             ``model_info`` / ``dataset_info`` /
                                                              ``repo_info``
GET       ``/api/{kind}/{repo}/tree/{rev}[/{path}]``          ``list_repo_tree``, ``HfFileSystem.ls``
POST      ``/api/{kind}/{repo}/paths-info/{rev}``             ``get_paths_info``, ``HfFileSystem.info``
GET/HEAD  ``[/datasets]/{repo}/resolve/{rev}/{path}``         ``hf_hub_download``, ``HfFileSystem.open``
                                                              (ETag, X-Repo-Commit, Content-Length,
                                                              X-Linked-Etag/Size, Range)
GET       ``/api/whoami-v2``                                  ``whoami``
========  ==================================================  ==========================================

Errors carry the ``X-Error-Code`` header (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``)
that ``huggingface_hub`` turns into its typed exceptions. Writes need ``Authorization: Bearer <token>``.
Every request is recorded in ``server.requests`` as ``(method, path)``; requests the server does not
know are also listed in ``server.unhandled``.

Usage::

    with HubServer(tmp_path / "hub") as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", ...}
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from .hub_state import (
    USER,
    HubError,
    HubState,
    Repo,
    StoredFile,
    front_matter,
    git_blob_oid,
    upload_mode,
)

__all__ = ["HubServer", "HubState", "free_port", "pushing_to"]

_REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
_KIND = r"(?P<kind>models|datasets|spaces)"
_DATASET_PREFIX = r"(?:/(?P<kind>datasets|spaces))?"  # /datasets/{repo}/..., /spaces/{repo}/..., /{repo}/...


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # close idle keep-alive connections
    body = b""

    # plumbing --------------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # silence stderr logging
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _body(self) -> bytes:
        return self.body

    def _json_body(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as error:
            raise HubError(400, f"invalid JSON body: {error}") from None

    def _send(
        self,
        status: int,
        payload: Any = None,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
        length: int | None = None,
    ) -> None:
        if raw is None:
            raw = b"" if payload is None else json.dumps(payload).encode()
            content_type = "application/json"
        else:
            content_type = "application/octet-stream"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and raw:
            self.wfile.write(raw)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {self.server.state.token}"

    def _require_token(self) -> None:
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")

    def _readable(self, repo: Repo) -> None:
        if repo.private and not self._authorized():
            raise HubError(404, f"Repository {repo.repo_id} not found", "RepoNotFound")

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query)
        self.server.requests.append((self.command, path))
        # read the whole body first: a keep-alive connection must not be left with unread bytes
        self.body = self._read_body() if self.command in ("POST", "PUT") else b""
        for pattern, method, handler in ROUTES:
            if method != self.command and not (method == "GET" and self.command == "HEAD"):
                continue
            match = re.fullmatch(pattern, path)
            if match:
                try:
                    with self.server.state.lock:
                        groups = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                        handler(self, **groups, query=query)
                except HubError as error:
                    headers = {"X-Error-Message": error.message}
                    if error.code:
                        headers["X-Error-Code"] = error.code
                    self._send(error.status, {"error": error.message}, headers)
                return
        self.server.unhandled.append((self.command, path))
        self._send(404, {"error": f"not implemented by the test Hub server: {self.command} {path}"})

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch  # noqa: N815 (http.server's names)

    # repos -----------------------------------------------------------------------------------------
    def create_repo(self, query) -> None:
        self._require_token()
        body = self._json_body()
        name = body.get("name")
        namespace = body.get("organization") or USER
        kind = {"model": "models", "dataset": "datasets", "space": "spaces"}.get(body.get("type") or "model")
        if kind is None:
            raise HubError(400, "this test server hosts model, dataset and Space repos only")
        if kind == "spaces" and not body.get("sdk"):
            raise HubError(400, "a Space repo needs its sdk (gradio, docker, static)")
        repo_id = f"{namespace}/{name}"
        url = self._repo_url(repo_id, kind)
        private = body.get("visibility") == "private" or bool(body.get("private"))
        try:
            self.server.state.create_repo(repo_id, private=private, kind=kind)
        except HubError as error:
            if error.status == 409:
                self._send(409, {"error": error.message, "url": url})
                return
            raise
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def _repo_url(self, repo_id: str, kind: str) -> str:
        return f"{self.server.url}{'' if kind == 'models' else '/' + kind}/{repo_id}"

    def validate_yaml(self, query) -> None:
        body = self._json_body()
        try:
            metadata = front_matter(body.get("content", ""))
            if metadata is not None:
                from huggingface_hub import DatasetCardData, ModelCardData, SpaceCardData

                kind = body.get("repoType")
                if kind == "space" and not metadata.get("sdk"):
                    raise ValueError("a Space's README.md metadata needs sdk")
                card = {"dataset": DatasetCardData, "space": SpaceCardData}.get(kind, ModelCardData)
                card(**metadata)
        except Exception as error:
            self._send(400, {"errors": [{"message": " ".join(str(error).split())}], "warnings": []})
            return
        self._send(200, {"errors": [], "warnings": []})

    def whoami(self, query) -> None:
        self._require_token()
        self._send(200, {"type": "user", "name": USER, "fullname": "Test User", "orgs": [], "auth": {}})

    def create_branch(self, repo: str, branch: str, query, kind: str = "models") -> None:
        self._require_token()
        body = self._json_body()
        hub_repo = self.server.state.repo(repo, kind)
        if branch in hub_repo.branches:
            raise HubError(409, f"Branch {branch} already exists")
        start = hub_repo.resolve(body.get("startingPoint") or "main")
        if start is None:
            raise HubError(404, "starting point not found", "RevisionNotFound")
        hub_repo.branches[branch] = start.oid
        self._send(200, {})

    def repo_info(self, repo: str, query, revision: str = "main", kind: str = "models") -> None:
        hub_repo = self.server.state.repo(repo, kind)
        self._readable(hub_repo)
        commit = hub_repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        card: dict[str, Any] = {}
        readme = commit.files.get("README.md")
        if readme is not None:
            card = front_matter(self.server.state.blob_path(readme.sha256).read_text(encoding="utf-8")) or {}
        siblings = []
        for path, stored in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path, "size": stored.size, "blobId": stored.git_oid}
            if stored.lfs:
                sibling["lfs"] = stored.as_tree_entry(path)["lfs"] | {"sha256": stored.sha256}
            siblings.append(sibling)
        namespace = repo.split("/", maxsplit=1)[0]
        self._send(
            200,
            {
                "_id": hashlib.md5(repo.encode()).hexdigest()[:24],
                "id": repo,
                "modelId": repo,
                "author": namespace,
                "sha": commit.oid,
                "lastModified": commit.date,
                "createdAt": hub_repo.created,
                "private": hub_repo.private,
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": card.get("tags", []),
                "pipeline_tag": card.get("pipeline_tag"),
                "library_name": card.get("library_name"),
                "cardData": card,
                "siblings": siblings,
            },
        )

    def tree(self, repo: str, revision: str, query, path: str = "", kind: str = "models") -> None:
        hub_repo = self.server.state.repo(repo, kind)
        self._readable(hub_repo)
        commit = hub_repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        entries: dict[str, dict[str, Any]] = {}
        for file_path, stored in sorted(commit.files.items()):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix) :]
            if "/" in rest and not recursive:
                folder = prefix + rest.split("/", maxsplit=1)[0]
                entries.setdefault(
                    folder,
                    {"type": "directory", "oid": git_blob_oid(folder.encode()), "size": 0, "path": folder},
                )
                continue
            entries[file_path] = stored.as_tree_entry(file_path)
        if prefix and not entries:
            raise HubError(404, f"{path} not found", "EntryNotFound")
        self._send(200, list(entries.values()))

    def paths_info(self, repo: str, revision: str, query, kind: str = "models") -> None:
        hub_repo = self.server.state.repo(repo, kind)
        self._readable(hub_repo)
        commit = hub_repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        body = self._body()
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            paths = json.loads(body or b"{}").get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        result = [commit.files[p].as_tree_entry(p) for p in paths if p in commit.files]
        self._send(200, result)

    # uploads ---------------------------------------------------------------------------------------
    def preupload(self, repo: str, revision: str, query, kind: str = "models") -> None:
        self._require_token()
        hub_repo = self.server.state.repo(repo, kind)
        commit = hub_repo.resolve(revision)
        body = self._json_body()
        files = []
        for item in body.get("files", []):
            path, size = item["path"], int(item["size"])
            mode = upload_mode(path, size)
            existing = commit.files.get(path) if commit is not None else None
            oid = None
            if existing is not None:
                oid = existing.sha256 if existing.lfs else existing.git_oid
            files.append({"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._send(200, {"files": files, "commitOid": commit.oid if commit else None})

    def lfs_batch(self, repo: str, query, kind: str = "models") -> None:
        self._require_token()
        self.server.state.repo(repo, kind)
        body = self._json_body()
        if body.get("operation") != "upload":
            raise HubError(400, "only the upload operation is supported")
        objects = []
        for item in body.get("objects", []):
            oid, size = str(item["oid"]), int(item["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not self.server.state.has_blob(oid, size):
                entry["actions"] = {
                    "upload": {"href": f"{self.server.url}/lfs-storage/{oid}", "header": {}},
                    "verify": {"href": f"{self.server.url}/lfs-storage/verify", "header": {}},
                }
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects})

    def lfs_upload(self, oid: str, query) -> None:
        content = self._body()
        if hashlib.sha256(content).hexdigest() != oid:
            raise HubError(400, f"uploaded content does not match its sha256 {oid}")
        self.server.state.put_blob(content)
        self.server.lfs_uploads.append(oid)
        self._send(200)

    def lfs_verify(self, query) -> None:
        body = self._json_body()
        if not self.server.state.has_blob(str(body.get("oid")), int(body.get("size", -1))):
            raise HubError(404, "object not found")
        self._send(200, {})

    def commit(self, repo: str, revision: str, query, kind: str = "models") -> None:
        self._require_token()
        state = self.server.state
        hub_repo = state.repo(repo, kind)
        if query.get("create_pr"):
            raise HubError(400, "pull requests are not supported by the test server")
        if revision not in hub_repo.branches:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        head = hub_repo.commits[hub_repo.branches[revision]]
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit payload must start with a header line")
        header = lines[0]["value"]
        if header.get("parentCommit") and header["parentCommit"] != head.oid:
            raise HubError(412, "parent commit is not the head of the branch")
        files = dict(head.files)
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = value.get("path", "")
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"unsupported encoding for {path}")
                content = base64.b64decode(value["content"])
                files[path] = state.stored(content, lfs=False)
                self.server.committed_regular.append(path)
            elif key == "lfsFile":
                oid, size = value["oid"], int(value["size"])
                if not state.has_blob(oid, size):
                    raise HubError(422, f"LFS object {oid} of {path} was not uploaded")
                files[path] = StoredFile(sha256=oid, size=size, lfs=True)
                self.server.committed_lfs.append(path)
            elif key == "deletedFile":
                if path not in files:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                del files[path]
            elif key == "deletedFolder":
                folder = path.rstrip("/") + "/"
                files = {p: f for p, f in files.items() if not p.startswith(folder)}
            else:
                raise HubError(400, f"unsupported commit operation {key!r}")
        commit = state.new_commit(hub_repo, files, header.get("summary", ""), head.oid)
        hub_repo.branches[revision] = commit.oid
        self._send(
            200,
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(repo, kind)}/commit/{commit.oid}",
                "pullRequestUrl": None,
            },
        )

    # downloads -------------------------------------------------------------------------------------
    def resolve(self, repo: str, revision: str, path: str, query, kind: str = "models") -> None:
        state = self.server.state
        hub_repo = state.repo(repo, kind)
        self._readable(hub_repo)
        commit = hub_repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        stored = commit.files.get(path)
        if stored is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        headers = {
            "ETag": f'"{stored.etag}"',
            "X-Repo-Commit": commit.oid,
            "Accept-Ranges": "bytes",
        }
        if stored.lfs:
            headers["X-Linked-Etag"] = f'"{stored.sha256}"'
            headers["X-Linked-Size"] = str(stored.size)
        start, end = 0, stored.size
        status = 200
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = int(match.group(2)) + 1 if match.group(2) else stored.size
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{stored.size}"
        if self.command == "HEAD":
            self._send(status, headers=headers, raw=b"", length=end - start)
            return
        with state.blob_path(stored.sha256).open("rb") as handle:
            handle.seek(start)
            content = handle.read(end - start)
        self._send(status, headers=headers, raw=content)


ROUTES: list[tuple[str, str, Any]] = [
    (r"/api/repos/create", "POST", _Handler.create_repo),
    (r"/api/validate-yaml", "POST", _Handler.validate_yaml),
    (r"/api/whoami-v2", "GET", _Handler.whoami),
    (rf"/api/{_KIND}/{_REPO}/preupload/(?P<revision>[^/]+)", "POST", _Handler.preupload),
    (rf"/api/{_KIND}/{_REPO}/commit/(?P<revision>[^/]+)", "POST", _Handler.commit),
    (rf"/api/{_KIND}/{_REPO}/branch/(?P<branch>[^/]+)", "POST", _Handler.create_branch),
    (rf"/api/{_KIND}/{_REPO}/paths-info/(?P<revision>[^/]+)", "POST", _Handler.paths_info),
    (rf"/api/{_KIND}/{_REPO}/tree/(?P<revision>[^/]+)(?:/(?P<path>.+))?", "GET", _Handler.tree),
    (rf"/api/{_KIND}/{_REPO}/revision/(?P<revision>[^/]+)", "GET", _Handler.repo_info),
    (rf"/api/{_KIND}/{_REPO}", "GET", _Handler.repo_info),
    (rf"{_DATASET_PREFIX}/{_REPO}\.git/info/lfs/objects/batch", "POST", _Handler.lfs_batch),
    (r"/lfs-storage/verify", "POST", _Handler.lfs_verify),
    (r"/lfs-storage/(?P<oid>[0-9a-f]{64})", "PUT", _Handler.lfs_upload),
    (rf"{_DATASET_PREFIX}/{_REPO}/resolve/(?P<revision>[^/]+)/(?P<path>.+)", "GET", _Handler.resolve),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: HubState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.lfs_uploads: list[str] = []
        self.committed_regular: list[str] = []
        self.committed_lfs: list[str] = []


class HubServer:
    """Run the fake Hub in a background thread: ``with HubServer(folder) as hub: hub.url``."""

    def __init__(self, root: str | Path, token: str = "test-token") -> None:
        self.state = HubState(Path(root), token)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def server(self) -> _Server:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return self._server

    @property
    def url(self) -> str:
        return self.server.url

    def __getattr__(self, name: str) -> Any:
        if name in ("requests", "unhandled", "lfs_uploads", "committed_regular", "committed_lfs"):
            return getattr(self.server, name)
        raise AttributeError(name)

    def start(self) -> HubServer:
        self._server = _Server(self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hub-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound then released)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def pushing_to(hub: HubServer, cache: Path) -> Iterator[None]:
    """huggingface_hub in this process (and what reads the Hub through it) pushing to and reading from
    ``hub``, its cache in ``cache``."""
    from huggingface_hub import constants

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
        yield

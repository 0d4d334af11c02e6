"""The one web server of every page respira serves (``respira app``, ``respira label``, a preview): Starlette
under uvicorn, answering only its own host names, refusing cross-site browser requests, needing a token
when bound to the network, forbidding framing, sniffing and referrers (each defence:
docs/how-to/private-screening-in-the-browser.md); :func:`json_body` reads at most :data:`BODY_LIMIT` bytes."""

from __future__ import annotations

import contextlib
import dataclasses
import html
import ipaddress
import json
import logging
import math
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .options import ServeOptions

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
"""What the static page needs to be cross-origin isolated (onnxruntime-web's threads)."""
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
"""On every answer: no page of another site frames it, reads its type otherwise, or learns its URL."""
NO_STORE = {"Cache-Control": "no-store"}
"""On patient data: the browser keeps no copy."""
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
BODY_LIMIT = 64 * 1024
"""The largest request body read, in bytes."""
BODY_DEPTH = 16
"""The deepest nesting of a body read (the pages send 3): deeper is refused before any use of it."""
logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine alone (``localhost`` or a loopback address)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def usable_addresses(host: str) -> list[str]:
    """The addresses a page listening on ``host`` is reached at: ``host``, or for every address (``0.0.0.0``,
    ``::``) this machine's addresses but loopback and link-local ones (of both families for ``::``), else
    ``localhost``."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return [host]
    if not address.is_unspecified:
        return [host]
    import psutil

    families = (socket.AF_INET, socket.AF_INET6) if address.version == 6 else (socket.AF_INET,)
    found = []
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in families:
                ip = ipaddress.ip_address(entry.address.split("%")[0])
                if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
                    found.append(str(ip))
    return list(dict.fromkeys(found)) or ["localhost"]


def allowed_hosts(options: ServeOptions) -> list[str]:
    """The ``Host`` names a page answers to: the loopback names, ``--host`` (for every address: this
    machine's :func:`usable_addresses`) and ``--allowed_host``'s."""
    named = [*usable_addresses(options.host), *(options.allowed_host or "").split(",")]
    hosts = [f"[{host}]" if ":" in host else host for host in (name.strip() for name in named) if host]
    return list(dict.fromkeys(name.lower() for name in (*LOOPBACK_NAMES, *hosts)))


def refuse(status: int, text: str) -> HTTPException:
    """The exception that answers ``status`` and ``text`` (one line)."""
    return HTTPException(status, " ".join(text.split()))


async def json_body(request: Request) -> dict[str, Any]:
    """The request's body: a JSON object sent as ``application/json``, of at most :data:`BODY_LIMIT` bytes
    and :data:`BODY_DEPTH` levels, its numbers finite; else a 4xx in one line."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise refuse(415, f"send JSON (Content-Type: application/json), not {kind or 'no type'}")
    if int(request.headers.get("content-length") or 0) > BODY_LIMIT:  # uvicorn checked it is a number
        raise refuse(413, f"the body is over {BODY_LIMIT // 1024} KiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > BODY_LIMIT:
            raise refuse(413, f"the body is over {BODY_LIMIT // 1024} KiB")
    try:
        value = json.loads(body, parse_constant=_not_a_number, parse_float=_finite)
        deep = _depth(value) > BODY_DEPTH
    except ValueError as error:
        raise refuse(400, f"the body is not JSON: {error}") from None
    except RecursionError:  # deeper than the parser goes
        deep = True
    if deep:
        raise refuse(400, f"the body is not JSON respira reads: it is nested deeper than {BODY_DEPTH} levels")
    if not isinstance(value, dict):
        raise refuse(400, f"the body must be a JSON object, not {type(value).__name__}")
    return value


def _depth(value: Any) -> int:
    """How deeply ``value`` (parsed JSON) nests lists and objects (``{"a": [1]}``: 2), without recursion."""
    depth, level = 0, [value]
    while level := [item for item in level if isinstance(item, (dict, list))]:
        depth += 1
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is too large for a number")
    return value


class _Guard:
    """Refuses a request with several ``Host`` headers, cross-site browser requests and, with a ``token``,
    every request without it (in the query or the ``cookie``); a page opened with the token in its URL
    gets the cookie and is sent on without it (:class:`_TokenEntry`). Adds :data:`SECURITY_HEADERS` and
    ``headers`` to every answer, the refusals included."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str], token: str | None, cookie: str) -> None:
        self.app, self.headers, self.token, self.cookie = app, {**SECURITY_HEADERS, **headers}, token, cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        request = Request(scope)
        status, refusal = 403, self._refusal(request)
        if sum(name == b"host" for name, _ in scope["headers"]) > 1:
            status, refusal = 400, "the request has several Host headers: send one"
        if refusal is None and self.token is not None:
            given = secrets.compare_digest(
                request.query_params.get("token", "").encode(), self.token.encode()
            )
            cookie = request.cookies.get(self.cookie, "")
            if not (given or secrets.compare_digest(cookie.encode(), self.token.encode())):
                refusal = "this server needs its token: open the URL respira printed (…/?token=…)"
            elif (
                given
                and request.method == "GET"
                and request.headers.get("sec-fetch-dest") in (None, "document")
            ):
                scope[_TokenEntry.KEY] = (self.cookie, self.token)  # a page opened: the token leaves its URL
        if refusal is not None:
            logger.warning("refused %s %s: %s", request.method, request.url.path, refusal)
            await PlainTextResponse(refusal, status_code=status)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    @staticmethod
    def _refusal(request: Request) -> str | None:
        """Why a browser's request from another site is refused; ``None`` when it is not one."""
        headers: Headers = request.headers
        site = headers.get("sec-fetch-site")
        navigation = (
            headers.get("sec-fetch-mode") == "navigate" and headers.get("sec-fetch-dest") == "document"
        )
        if request.method == "GET" and navigation:
            return None  # a link to the page from elsewhere opens it; its own requests are then same-origin
        if site is not None and site not in ("same-origin", "none"):
            return f"refused a {site} request: only this server's own page may ask it"
        origin = headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{headers.get('host')}":
            return f"refused a request from {origin}: only this server's own page may ask it"
        return None


class _TokenEntry:
    """A page opened with its token in the URL (once its ``Host`` is allowed): the token set as an
    ``HttpOnly``, ``SameSite=Strict`` cookie and the browser sent to the same address without it, by the
    page itself (a refresh it starts is same-site: a redirect of a link followed from another site would
    not carry a strict cookie), replacing the token's entry in the history."""

    KEY = "respira.token_entry"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _TokenEntry.KEY not in scope:
            await self.app(scope, receive, send)
            return
        cookie, token = scope[_TokenEntry.KEY]
        path = "/" + scope.get("raw_path", scope["path"].encode()).decode("latin-1").lstrip("/")
        query = urlencode(
            [(key, value) for key, value in Request(scope).query_params.multi_items() if key != "token"]
        )
        target = html.escape(path + (f"?{query}" if query else ""), quote=True)
        page = (
            f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={target}">'
            f'<title>respira</title><p>Opening <a href="{target}">the page</a>…</p>'
        )
        response = HTMLResponse(page, headers=NO_STORE)
        response.set_cookie(cookie, token, path="/", httponly=True, samesite="strict")
        await response(scope, receive, send)


def page_app(
    routes: list[BaseRoute],
    options: ServeOptions,
    *,
    token: str | None,
    headers: Mapping[str, str] = NO_STORE,
) -> Starlette:
    """``routes`` behind the defences (module docstring); ``headers`` added to every answer."""
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(_Guard, headers=headers, token=token, cookie=f"respira-token-{options.port}"),
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(options), www_redirect=False),
            Middleware(_TokenEntry),
        ],
    )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``; a one-line ``ValueError`` when it cannot be."""
    if not 0 <= port < 65536:
        raise ValueError(f"--port must be between 0 (a free one) and 65535, got {port}")
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise ValueError(f"--host {host!r} is not an address of this machine to listen on") from None
    bound = socket.socket(family, kind, protocol)
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        bound.bind(address)
    except OSError as error:
        bound.close()
        raise ValueError(
            f"cannot listen on {host}:{port} ({error.strerror or error}): choose another --port or --host"
        ) from None
    return bound


class PageServer:
    """A page on ``bound`` (:func:`listen`), its ``app`` made of the options and a token (``exposed``: by
    default a non-loopback ``--host``); :meth:`serve` blocks, :meth:`start` threads, :meth:`close` ends."""

    folder: Path | None = None
    """The folder of the files it serves, if it serves a folder."""

    def __init__(
        self,
        app: Callable[[ServeOptions, str | None], ASGIApp],
        options: ServeOptions,
        bound: socket.socket,
        release: Callable[[], Any] | None = None,
        *,
        exposed: bool | None = None,
    ) -> None:
        import uvicorn

        self.options = options
        exposed = not is_loopback(options.host) if exposed is None else exposed
        self.token = secrets.token_urlsafe(32) if exposed else None
        self._socket, self._release = bound, release
        self.port: int = bound.getsockname()[1]
        config = uvicorn.Config(
            app(dataclasses.replace(options, port=self.port), self.token),
            http="h11",
            ws="none",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,  # no X-Forwarded-* header names the client: nothing sits in front
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def exposed(self) -> bool:
        """Whether the page is served to the network (a non-loopback ``--host``)."""
        return self.token is not None

    @property
    def url(self) -> str:
        """The page's address (the first of :func:`usable_addresses`), with the token (printed once) when the
        page is served to the network."""
        return self._urls()[0] + (f"?token={self.token}" if self.token else "")

    @property
    def reach(self) -> str:
        """The names the page answers to, in words (printed when it is served to the network)."""
        urls = self._urls()
        if usable_addresses(self.options.host) == [self.options.host]:
            return "it answers only the names --host and --allowed_host give"
        more = f" (or {', '.join(urls[1:])} with the same token)" if len(urls) > 1 else ""
        return (
            f"it listens on every address: open {urls[0]}{more}; by any other name, the machine's say, only "
            "once --allowed_host gives it"
        )

    def _urls(self) -> list[str]:
        hosts = usable_addresses(self.options.host)
        return [f"http://{f'[{host}]' if ':' in host else host}:{self.port}/" for host in hosts]

    def serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self) -> PageServer:
        self._thread = threading.Thread(target=self.serve, name="respira-page-server", daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the page's server on {self.url} stopped before it served")
            time.sleep(0.005)
        return self

    def close(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join()
        self._socket.close()
        if self._release is not None:
            self._release()


def folder_server(
    folder: str | Path,
    options: ServeOptions,
    bound: socket.socket | None = None,
    release: Callable[[], Any] | None = None,
) -> PageServer:
    """``folder``'s files (``index.html`` at ``/``) served cross-origin isolated (onnxruntime-web's
    threads), as ``respira app`` does; for previews of the static page too."""
    routes: list[BaseRoute] = [Mount("/", StaticFiles(directory=folder, html=True))]
    bound = listen(options.host, options.port) if bound is None else bound
    server = PageServer(
        lambda options, token: page_app(routes, options, token=token, headers=ISOLATION_HEADERS),
        options,
        bound,
        release,
    )
    server.folder = Path(folder)
    return server


def app_server(model: str, options: ServeOptions) -> PageServer:
    """``respira app``: the static page of ``model``, written to a temporary folder and served."""
    from .web_page import write_web_page

    bound = listen(options.host, options.port)  # before the model is read: a taken port is said at once
    with contextlib.ExitStack() as undo:
        undo.callback(bound.close)
        staging = tempfile.TemporaryDirectory(prefix="respira-app-")
        undo.callback(staging.cleanup)
        page = write_web_page(model, Path(staging.name) / "page")
        server = folder_server(page, options, bound, release=staging.cleanup)
        undo.pop_all()
    return server

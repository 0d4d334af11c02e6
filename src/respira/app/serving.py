"""The pages' web server, with the COOP and COEP headers under which onnxruntime-web runs on threads."""

from __future__ import annotations

import functools
import logging
import socket
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
"""What the static page needs to be cross-origin isolated (onnxruntime-web's threads)."""
logger = logging.getLogger(__name__)


class PageServer(ThreadingHTTPServer):
    """A page on ``host:port``: :meth:`serve` blocks, :meth:`start` serves in a thread, :meth:`close` ends."""

    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        handler: Callable[..., BaseHTTPRequestHandler],
        release: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__((host, port), handler)
        self._release = release
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def serve(self) -> None:
        self.serve_forever(poll_interval=0.2)

    def start(self) -> PageServer:
        self._thread = threading.Thread(target=self.serve, name="respira-page-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()
        if self._release is not None:
            self._release()


def check_address(host: str, port: int) -> None:
    """Raise a one-line ``ValueError`` unless the server can listen on ``host:port``."""
    if not 0 <= port < 65536:
        raise ValueError(f"--port must be between 0 (a free one) and 65535, got {port}")
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise ValueError(f"--host {host!r} is not an address of this machine to listen on") from None
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise ValueError(
                f"cannot listen on {host}:{port} ({error.strerror or error}): choose another --port or --host"
            ) from None


class _StaticHandler(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
    }

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        super().end_headers()


def app_server(model: str, *, host: str = "127.0.0.1", port: int = 7860) -> PageServer:
    """``respira app``: the static page of ``model``, written to a temporary folder and served on
    ``host:port``."""
    from .web_page import write_web_page

    check_address(host, port)
    staging = tempfile.TemporaryDirectory(prefix="respira-app-")
    try:
        page = write_web_page(model, Path(staging.name) / "page")
        handler = functools.partial(_StaticHandler, directory=str(page))
        return PageServer(host, port, handler, release=staging.cleanup)
    except BaseException:
        staging.cleanup()
        raise

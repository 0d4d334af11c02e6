"""The labelling page's web server (``respira label``): the standard library's threaded HTTP server, the
page's files (``label_page/``: HTML, script, style) and a small JSON interface over a
:class:`~respira.app.labelling.LabelSession`:

- ``GET /``, ``/label.js``, ``/label.css``: the page;
- ``GET /api/state``: what to show (:meth:`~respira.app.labelling.LabelSession.state`);
- ``GET /audio/N.wav``, ``/spectrogram/N.png``: row ``N``'s audio and spectrogram;
- ``POST /api/answer`` ``{"index": N, "answer": "crackle"|...|"skip"}``: saved, then the new state;
- ``POST /api/events`` ``{"index": N, "events": [{"onset", "offset", "type"}]}``: saved, then the state.

A request it cannot serve gets a 4xx answer with one line of text, which the page shows.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from ..utils.messages import one_line
from .labelling import LabelSession

__all__ = ["PAGE_FILES", "LabelServer"]

PAGE_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/label.js": ("label.js", "text/javascript; charset=utf-8"),
    "/label.css": ("label.css", "text/css; charset=utf-8"),
}
"""Each page path → its file in ``respira/app/label_page`` and its content type."""
_MEDIA = re.compile(r"^/(audio|spectrogram)/(\d+)\.(wav|png)$")
logger = logging.getLogger(__name__)


def _page_file(name: str) -> bytes:
    return resources.files(__package__).joinpath("label_page", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: LabelServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)

    def _send(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any) -> None:
        self._send(json.dumps(value).encode(), "application/json")

    def _refuse(self, status: HTTPStatus, text: str) -> None:
        self._send(text.encode(), "text/plain; charset=utf-8", status)

    def do_GET(self) -> None:
        session = self.server.session
        path = self.path.split("?", 1)[0]
        try:
            if path in PAGE_FILES:
                name, kind = PAGE_FILES[path]
                self._send(_page_file(name), kind)
            elif path == "/api/state":
                self._json(session.state())
            elif (match := _MEDIA.match(path)) and (match[1] == "audio") == (match[3] == "wav"):
                at = int(match[2])
                if at >= len(session.table.rows):
                    self._refuse(HTTPStatus.NOT_FOUND, f"no recording {at}")
                elif match[1] == "audio":
                    self._send(session.audio(at), "audio/wav")
                else:
                    self._send(session.spectrogram(at), "image/png")
            else:
                self._refuse(HTTPStatus.NOT_FOUND, f"nothing at {path}")
        except Exception as error:  # one line in the page, the details in the server's log
            logger.exception("GET %s failed", path)
            self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, one_line(error))

    def do_POST(self) -> None:
        session = self.server.session
        path = self.path.split("?", 1)[0]
        try:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if path == "/api/answer":
                session.answer(body.get("index"), str(body.get("answer")))
            elif path == "/api/events":
                session.set_events(body.get("index"), list(body.get("events", [])))
            else:
                self._refuse(HTTPStatus.NOT_FOUND, f"nothing at {path}")
                return
        except (ValueError, TypeError, KeyError) as error:
            self._refuse(HTTPStatus.BAD_REQUEST, one_line(error))
            return
        except OSError as error:  # labels.csv or events.csv could not be written
            logger.exception("POST %s failed", path)
            self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, f"not saved: {one_line(error)}")
            return
        self._json(session.state())


class LabelServer(ThreadingHTTPServer):
    """The page for ``session`` on ``host:port`` (``port=0``: a free one, :attr:`url` says which);
    :meth:`serve` blocks, :meth:`start` serves in a background thread, :meth:`close` stops either."""

    daemon_threads = True

    def __init__(self, session: LabelSession, host: str = "127.0.0.1", port: int = 7861) -> None:
        super().__init__((host, port), _Handler)
        self.session = session
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def serve(self) -> None:
        self.serve_forever(poll_interval=0.2)

    def start(self) -> LabelServer:
        self._thread = threading.Thread(target=self.serve, name="respira-label-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()
        self.session.close()

"""The labelling page's web server (``respira label``): the page's files and a small JSON interface over a
:class:`~respira.app.labelling.LabelSession`; a request it cannot serve gets a 4xx and one line of text.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..options import SWITCH, option
from ..utils.messages import one_line
from .serving import PageServer, check_address

if TYPE_CHECKING:
    from .labelling import LabelSession

PAGE_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/label.js": ("label.js", "text/javascript; charset=utf-8"),
    "/label.css": ("label.css", "text/css; charset=utf-8"),
}
"""Each page path → its file in ``respira/app/label_page`` and its content type."""
_MEDIA = re.compile(r"^/(audio|spectrogram)/(\d+)\.(wav|png)$")
logger = logging.getLogger(__name__)


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

    def _refuse(self, status: HTTPStatus, text: str) -> None:
        self._send(text.encode(), "text/plain; charset=utf-8", status)

    def do_GET(self) -> None:
        session = self.server.session
        path = self.path.split("?", 1)[0]
        try:
            if path in PAGE_FILES:
                name, kind = PAGE_FILES[path]
                self._send(resources.files(__package__).joinpath("label_page", name).read_bytes(), kind)
            elif path == "/api/state":
                self._send(json.dumps(session.state()).encode(), "application/json")
            elif (match := _MEDIA.match(path)) and (match[1] == "audio") == (match[3] == "wav"):
                at = int(match[2])
                if at >= len(session.table.rows):
                    self._refuse(HTTPStatus.NOT_FOUND, f"no recording {at}")
                elif match[1] == "audio":
                    self._send(session.prepared(at).result().wav, "audio/wav")
                else:
                    self._send(session.prepared(at).result().png, "image/png")
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
        self._send(json.dumps(session.state()).encode(), "application/json")


class LabelServer(PageServer):
    """The page for ``session`` on ``host:port``; :meth:`close` closes the session too."""

    def __init__(self, session: LabelSession, host: str = "127.0.0.1", port: int = 7861) -> None:
        super().__init__(host, port, _Handler, release=session.close)
        self.session = session


@dataclass(kw_only=True)
class LabelOptions:
    """``respira label``'s options (``MODEL`` and ``ARCHIVE`` are positional)."""

    labels: str | None = field(
        default=None,
        metadata={
            "help": "the labels file to fill (default: ARCHIVE/labels.csv); its file cells are relative "
            "to its folder"
        },
    )
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (default 127.0.0.1)"})
    port: int = field(default=7861, metadata={"help": "port to listen on (default 7861; 0: a free one)"})
    onnx: bool = field(
        default=False,
        metadata={"help": "run the model's model.onnx with onnxruntime instead of torch", **SWITCH},
    )
    device: str | None = option("device")


def labels_file(archive: str | os.PathLike[str], labels: str | None) -> Path:
    """The labels file to fill (``labels``, else ``ARCHIVE/labels.csv``), checked to exist."""
    folder = Path(archive).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"ARCHIVE {archive} does not exist or is not a folder")
    found = Path(labels).expanduser() if labels else folder / "labels.csv"
    if not found.is_file():
        raise FileNotFoundError(
            f"no labels file {found}: list the recordings to label there (columns file, crackle, wheeze, "
            "optional patient; blank cells are labelled on the page), e.g. with respira suggest"
        )
    return found


def shown_model(model: str) -> str:
    """``model`` as the fit-site command names it: a shipped detector by its name, anything else as given."""
    from ..pretrained import default_detector_dir

    folder = Path(model).expanduser()
    shipped = default_detector_dir().resolve().parent
    return folder.name if folder.is_dir() and folder.resolve().parent == shipped else model


def label_server(
    model: str, archive: str | os.PathLike[str], options: LabelOptions, *, minimum_units: int
) -> LabelServer:
    """The page's server for ``model`` and the recordings of ``archive``, listening but not yet serving."""
    from ..data.labels_csv import LabelsTable
    from ..inference.detector import Detector
    from .labelling import LabelSession

    check_address(options.host, options.port)
    labels = labels_file(archive, options.labels)
    LabelsTable.read(labels)
    detector = Detector.from_pretrained(model, device=options.device, onnx=True if options.onnx else None)
    session = LabelSession(labels, detector, model=shown_model(model), minimum_units=minimum_units)
    try:
        return LabelServer(session, options.host, options.port)
    except BaseException:
        session.close()
        raise

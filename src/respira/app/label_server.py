"""The labelling page's web server (``respira label``): the page's files and a small JSON interface over a
:class:`~respira.app.labelling.LabelSession`; a request it cannot serve gets a 4xx and one line of text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..data.corpus_files import corpus_root
from ..data.labels_csv import LABELS_FILE, LabelsTable, hold_labels
from ..utils.messages import one_line
from .options import LabelOptions, ServeOptions
from .serving import PageServer, json_body, listen, page_app, refuse

if TYPE_CHECKING:
    import socket

    from starlette.types import ASGIApp

    from .labelling import LabelSession

PAGE_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/label.js": ("label.js", "text/javascript; charset=utf-8"),
    "/label.css": ("label.css", "text/css; charset=utf-8"),
}
"""Each page path → its file in ``respira/app/label_page`` and its content type."""
MEDIA = {"audio": ("wav", "audio/wav"), "spectrogram": ("png", "image/png")}
"""``/audio/N.wav`` and ``/spectrogram/N.png``: each the prepared recording's field and content type."""
logger = logging.getLogger(__name__)


class LabelServer(PageServer):
    """The page for ``session`` (this server's, at each request) on ``options``' address; :meth:`close`
    closes the session too."""

    def __init__(
        self,
        session: LabelSession,
        options: ServeOptions | None = None,
        bound: socket.socket | None = None,
        *,
        port: int | None = None,
        exposed: bool | None = None,
    ) -> None:
        options = options or LabelOptions(**({} if port is None else {"port": port}))
        bound = listen(options.host, options.port) if bound is None else bound
        self.session = session
        super().__init__(self._app, options, bound, exposed=exposed)

    def close(self) -> None:
        super().close()
        self.session.close()

    def _app(self, options: ServeOptions, token: str | None) -> ASGIApp:
        routes = [
            *(Route(path, self._page) for path in PAGE_FILES),
            Route("/api/state", self._state),
            Route("/{kind:str}/{at:int}.{extension:str}", self._media),
            Route("/api/answer", self._answer, methods=["POST"]),
            Route("/api/events", self._events, methods=["POST"]),
        ]
        return page_app(routes, options, token=token)

    async def _page(self, request: Request) -> Response:
        name, kind = PAGE_FILES[request.url.path]
        return Response(
            resources.files(__package__).joinpath("label_page", name).read_bytes(), media_type=kind
        )

    async def _state(self, request: Request) -> Response:
        """The page's state; ``?index=N``: row N's, to change its answer (a bad N is a 400)."""
        if (index := request.query_params.get("index")) is None:
            return await self._served(request, self.session.state)
        if not (index.isascii() and index.isdigit()) or int(index) >= len(self.session.table.rows):
            raise refuse(400, f"index must be a row of the labels file, got {index[:20]!r}")
        return await self._served(request, lambda: self.session.state(int(index)))

    async def _media(self, request: Request) -> Response:
        kind, at = request.path_params["kind"], request.path_params["at"]
        if MEDIA.get(kind, ("",))[0] != request.path_params["extension"]:
            raise refuse(404, f"nothing at {request.url.path}")
        if at >= len(self.session.table.rows):
            raise refuse(404, f"no recording {at}")
        field_name, media_type = MEDIA[kind]
        prepared = await self._served(request, lambda: self.session.prepared(at).result())
        return Response(getattr(prepared, field_name), media_type=media_type)

    async def _answer(self, request: Request) -> Response:
        body = await json_body(request)
        answer, at, seen = str(body.get("answer")), body.get("index"), body.get("seen")
        notice = await self._served(request, lambda: self.session.answer(at, answer, seen))
        return await self._served(request, lambda: {**self.session.state(), "notice": notice})

    async def _events(self, request: Request) -> Response:
        body = await json_body(request)
        at = body.get("index")
        if not isinstance(events := body.get("events", []), list):
            raise refuse(400, f"events must be a list, not {type(events).__name__}")
        await self._served(request, lambda: self.session.set_events(at, events))
        return await self._state(request)

    @staticmethod
    async def _served(request: Request, work: Callable[[], Any]) -> Any:
        """``work()`` in a worker thread, a dict of it as JSON; its failure one line: 400 when a POST's
        body is at fault, else 500 with the details in the server's log."""
        from .labelling import LabelsEditedError

        try:
            done = await run_in_threadpool(work)
        except LabelsEditedError as error:  # the file changed under the page: it reloads
            raise refuse(409, one_line(error)) from None
        except Exception as error:
            posted = request.method == "POST"
            if posted and isinstance(error, (ValueError, TypeError, KeyError)):
                raise refuse(400, one_line(error)) from None
            logger.exception("%s %s failed", request.method, request.url.path)
            # labels.csv or events.csv not written, or a recording not read
            saying = "not saved: " if posted and isinstance(error, OSError) else ""
            raise refuse(500, saying + one_line(error)) from None
        return JSONResponse(done) if isinstance(done, dict) else done


def label_server(
    model: str, archive: str | os.PathLike[str], options: LabelOptions, *, minimum_units: int
) -> LabelServer:
    """The page's server for ``model`` and the recordings of ``archive``'s labels file (``options.labels``,
    else ``ARCHIVE/labels.csv``), listening but not yet serving."""
    from ..inference.detector import Detector
    from ..pretrained.shipped import shipped_name
    from .labelling import LabelSession

    bound = listen(options.host, options.port)  # before the model is read: a taken port is said at once
    try:
        folder = corpus_root(archive, "ARCHIVE")
        labels = Path(options.labels).expanduser() if options.labels else folder / LABELS_FILE
        if not labels.is_file():
            raise FileNotFoundError(
                f"no labels file {labels}: list the recordings to label there (columns file, crackle, "
                "wheeze, optional patient; blank cells are labelled on the page), e.g. with respira suggest"
            )
        LabelsTable.read(labels)
        hold_labels(labels).release()  # another page writes it: said before the model is read
        detector = Detector.from_pretrained(model, device=options.device, onnx=True if options.onnx else None)
        shown = shipped_name(model) or model  # as the fit-site command names it
        session = LabelSession(labels, detector, model=shown, minimum_units=minimum_units)
    except BaseException:
        bound.close()
        raise
    try:
        server = LabelServer(session, options, bound)
        session.serving(server.url.split("?", 1)[0])  # never the token: the lock file is readable
        return server
    except BaseException:
        session.close()
        raise

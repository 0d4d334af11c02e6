"""``respira app [MODEL]``: serve the detector's static page (``respira export --web``) on this machine."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from ..options import add_model_argument

EPILOG = """\
The page is `respira export MODEL OUT --web`'s, written to a temporary folder (removed when the server
stops) and served with the headers under which onnxruntime-web runs the model on threads. The browser
decodes the recording (a file or the microphone) and runs model.onnx itself: nothing is uploaded, not
even to this server. It shows the verdict, one table row per window, the events and the picture
`respira predict --plot --events` draws. onnxruntime-web comes from `make web-deps`.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "app",
        help=line,
        description="Serve MODEL's static page (it runs model.onnx in the browser) on this machine.",
        epilog=EPILOG,
        dataclass_types=[AppOptions],
    )
    add_model_argument(parser, help="model folder, exported ONNX folder, a shipped detector's name or Hub id")


@dataclass(kw_only=True)
class AppOptions:
    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (default 127.0.0.1)"})
    port: int = field(default=7860, metadata={"help": "port to listen on (default 7860; 0: a free one)"})


def run(args: argparse.Namespace) -> None:
    from ..app.label_server import shown_model
    from ..app.serving import app_server
    from ..utils.signals import terminate_as_interrupt

    # SIGTERM stops the server as Ctrl-C does, so the page's temporary folder is removed either way
    with terminate_as_interrupt():
        server = app_server(args.model, host=args.host, port=args.port)
        try:
            print(f"serving the page of {shown_model(args.model)} on {server.url} (Ctrl+C stops)", flush=True)
            server.serve()
        finally:
            server.close()

"""``respira app [MODEL]``: serve the detector's static page (``respira export --web``) on this machine."""

from __future__ import annotations

import argparse

from ..app.options import ServeOptions
from ..options import add_model_argument, options_of

EPILOG = """\
The page is `respira export MODEL OUT --web`'s, written to a temporary folder (removed when the server
stops) and served with the headers under which onnxruntime-web runs the model on threads. The browser
decodes the recording (a file or the microphone) and runs model.onnx itself: nothing is uploaded, not
even to this server. It shows the verdict, one table row per window, the events and the picture
`respira predict --plot --events` draws. onnxruntime-web comes from `make web-deps`. Only this
machine's pages at the printed address may use it (SECURITY.md); `--host` other than a loopback address
serves the page to the network, behind a token printed once in the URL.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "app",
        help=line,
        description="Serve MODEL's static page (it runs model.onnx in the browser) on this machine.",
        epilog=EPILOG,
        dataclass_types=[ServeOptions],
    )
    add_model_argument(parser, help="model folder, exported ONNX folder, a shipped detector's name or Hub id")


def run(args: argparse.Namespace) -> None:
    from ..app.serving import app_server
    from ..pretrained.shipped import shipped_name
    from ..utils.signals import terminate_as_interrupt

    # SIGTERM stops the server as Ctrl-C does, so the page's temporary folder is removed either way
    with terminate_as_interrupt():
        server = app_server(args.model, options_of(args, ServeOptions))
        try:
            name = shipped_name(args.model) or args.model
            print(f"serving the page of {name} on {server.url} (Ctrl+C stops)", flush=True)
            if server.exposed:
                print(
                    f"the model's page is served to the network on {args.host}: keep the URL's token "
                    f"private ({server.reach})",
                    flush=True,
                )
            server.serve()
        finally:
            server.close()

"""``respira app MODEL``: a web page to try a detector on recordings (Gradio)."""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass, field

from ..options import SWITCH, option
from .options import add_model_argument

EPILOG = """\
The page: upload a recording (wav, flac, mp3, ogg; any rate and channels; up to 10 minutes) or record
one, optionally with its ICBHI annotation .txt; it shows the recording figure (as predict --plot
draws it), one table row per window or cycle, the recording-level verdict (crackles present?
wheezes present? the maximum window probability at the model's thresholds), downloads (CSV, JSON,
PNG) and the model card's facts. Needs pip install 'respira[app]'.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "app",
        help=line,
        description="Serve a Gradio page that runs MODEL on uploaded or recorded lung sounds.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[AppOptions],
    )
    add_model_argument(parser, help="model folder, exported ONNX folder, a shipped detector's name or Hub id")
    parser.set_defaults(handler=run)


@dataclass(kw_only=True)
class AppOptions:
    """``respira app``'s options (``MODEL`` is positional)."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on (default 127.0.0.1)"})
    port: int = field(default=7860, metadata={"help": "port to listen on (default 7860)"})
    onnx: bool = field(
        default=False,
        metadata={"help": "run the model's model.onnx with onnxruntime instead of torch", **SWITCH},
    )
    device: str | None = option("device")


def run(args: argparse.Namespace) -> None:
    from ..app.label_server import check_address
    from ..hub.loading import resolve_model_name

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
    check_address(args.host, args.port)
    resolve_model_name(args.model)  # a path that is no folder: one line, before gradio or the model
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ImportError("respira app needs gradio: pip install 'respira[app]'") from None
    from ..app.detectors import example_recordings, open_detector
    from ..app.page import build_page, launch
    from ..utils.signals import terminate_as_interrupt
    from ..utils.threads import apply_num_threads

    apply_num_threads()
    detector, facts = open_detector(args.model, onnx=args.onnx, device=args.device)
    # SIGTERM stops the server as Ctrl-C does (Gradio closes it and returns), so the temporary folders
    # of the examples and of the results are removed either way
    with terminate_as_interrupt(), tempfile.TemporaryDirectory(prefix="respira-app-examples-") as folder:
        examples = example_recordings(folder)
        page = build_page(detector, facts=facts, examples=examples)
        try:
            print(f"serving {detector.name} on http://{args.host}:{args.port} (Ctrl+C stops)", flush=True)
            launch(page, host=args.host, port=args.port, examples=examples)
        finally:
            # Gradio's own Ctrl-C handler closes only the HTTP server, and a Ctrl-C that lands before
            # it is installed closes nothing: stop the server, queue and worker threads either way
            page.close(verbose=False)
            page.respira_results.close()

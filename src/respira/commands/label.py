"""``respira label [MODEL] ARCHIVE``: a web page to label recordings (:mod:`respira.app.labelling`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from .app import check_address
from .options import SWITCH, add_model_argument, option

EPILOG = """\
The page shows the first recording of the labels file, in its order, whose crackle and wheeze cells are
blank (not yet labelled; `respira suggest` writes such a file): its spectrogram (0-4 kHz) under an audio
player whose play head moves over it, and MODEL's crackle and wheeze probability per window. Keys and
buttons answer: C crackle, W wheeze, B both, N normal, P poor quality (cells left blank, `poor` in a
quality column added at the end), S skip (nothing written; it comes back later). Dragging over the
spectrogram marks an event (1 / 2 choose crackle / wheeze; Delete removes the last one). Each answer is
written to the labels file at once, and the events to events.csv beside it (columns file, onset, offset,
type), each replaced atomically: closing the browser or stopping the server loses nothing. Every other
row and column of the file stays as it was. The page counts the units (patients, or recordings without a
patient column) labelled, says when fit-site's minimum is reached and which fit-site command to run.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "label",
        help="serve a web page to label a site's recordings (crackles, wheezes, events)",
        description="Serve a page that shows each unlabelled recording of ARCHIVE's labels file with the "
        "model's opinion, and writes each answer and marked event at once.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[LabelOptions],
    )
    add_model_argument(parser)
    parser.add_argument(
        "archive", metavar="ARCHIVE", help="the folder of the recordings and their labels.csv"
    )
    parser.set_defaults(handler=run)


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


def labels_file(args: argparse.Namespace) -> Path:
    """The labels file ``args`` name, checked to exist (one line otherwise)."""
    archive = Path(args.archive).expanduser()
    if not archive.is_dir():
        raise FileNotFoundError(f"ARCHIVE {args.archive} does not exist or is not a folder")
    labels = Path(args.labels).expanduser() if args.labels else archive / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(
            f"no labels file {labels}: list the recordings to label there (columns file, crackle, wheeze, "
            "optional patient; blank cells are labelled on the page), e.g. with respira suggest"
        )
    return labels


def shown_model(model: str) -> str:
    """``model`` as the fit-site command names it: a shipped detector by its name (the default detector
    too, whose folder ``MODEL`` became), anything else as given."""
    from ..pretrained import default_detector_dir

    folder = Path(model).expanduser()
    shipped = default_detector_dir().resolve().parent
    return folder.name if folder.is_dir() and folder.resolve().parent == shipped else model


def server_from_args(args: argparse.Namespace):  # -> respira.app.label_server.LabelServer (imported late)
    """The page's server for ``args``, listening but not yet serving: the address, the labels file (and
    events.csv) checked before the model loads, each refusal one line."""
    from ..app.detectors import open_detector
    from ..app.label_server import LabelServer
    from ..app.labelling import LabelSession
    from ..data.labels_table import LabelsTable
    from ..sites.site_samples import MIN_UNITS

    if not 0 <= args.port < 65536:
        raise ValueError(f"--port must be between 0 (a free one) and 65535, got {args.port}")
    check_address(args.host, args.port)
    labels = labels_file(args)
    LabelsTable.read(labels)
    detector, _ = open_detector(args.model, onnx=args.onnx, device=args.device)
    session = LabelSession(labels, detector, model=shown_model(args.model), minimum_units=MIN_UNITS)
    try:
        return LabelServer(session, args.host, args.port)
    except BaseException:
        session.close()
        raise


def run(args: argparse.Namespace) -> None:
    from ..utils.signals import terminate_as_interrupt

    server = server_from_args(args)
    session = server.session
    progress = session.progress()
    print(
        f"labelling {session.labels_file} ({progress['recordings_done']} of {progress['recordings']} "
        f"recordings answered) on {server.url} (Ctrl+C stops)",
        flush=True,
    )
    with terminate_as_interrupt():
        try:
            server.serve()
        except KeyboardInterrupt:
            print(f"stopped; every answer is in {session.labels_file}", flush=True)
        finally:
            server.close()

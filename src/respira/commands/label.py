"""``respira label [MODEL] ARCHIVE``: a web page to label recordings (:mod:`respira.app.labelling`)."""

from __future__ import annotations

import argparse

from ..app.options import LabelOptions
from ..options import add_model_argument, options_of

EPILOG = """\
The page shows the first unlabelled recording of the labels file (`respira suggest` writes one; of its
batch, the rows with a reason, when it has one): its spectrogram under an audio player and MODEL's
crackle and wheeze probability per window. Keys: C crackle,
W wheeze, B both, N normal, P poor quality, S skip; dragging over the spectrogram marks an event (1 / 2:
crackle / wheeze; Delete removes the last). Each answer is written to the labels file at once, and the
events to events.csv beside it, atomically: stopping loses nothing, and the file's other rows and columns
stay as they were. The page counts every recording of the labels file's folder, says when fit-site's
minimum of patients is reached (a labels file with no patient column counts each recording as its own
patient: fit-site refuses it), and once the batch is answered, the command to run next (suggest's next
batch or the patients named, or fit-site, its output beside the folder). Only this machine's pages at
the printed address may use it (SECURITY.md); `--host` other than a loopback address serves the patients'
recordings to the network, behind a token printed once in the URL.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "label",
        help=line,
        description="Serve a page that shows each unlabelled recording of ARCHIVE's labels file with the "
        "model's opinion, and writes each answer and marked event at once.",
        epilog=EPILOG,
        dataclass_types=[LabelOptions],
    )
    add_model_argument(parser)
    parser.add_argument(
        "archive", metavar="ARCHIVE", help="the folder of the recordings and their labels.csv"
    )


def run(args: argparse.Namespace) -> None:
    from ..app.label_server import label_server
    from ..data.labels_csv import ONE_PATIENT_NOTE
    from ..sites.site_sample import MIN_UNITS
    from ..utils.signals import terminate_as_interrupt

    server = label_server(args.model, args.archive, options_of(args, LabelOptions), minimum_units=MIN_UNITS)
    session = server.session
    progress = session.progress()
    print(
        f"labelling {session.labels_file} ({progress['recordings_done']} of {progress['recordings']} "
        f"recordings answered) on {server.url} (Ctrl+C stops)",
        flush=True,
    )
    if session.unit_name != "patients":
        print(f"note: {ONE_PATIENT_NOTE}; fit-site needs them named", flush=True)
    if server.exposed:
        print(
            f"patients' recordings are served to the network on {args.host}: anyone with the URL's token can "
            f"hear them and change the labels; keep it private ({server.reach})",
            flush=True,
        )
    with terminate_as_interrupt():
        try:
            server.serve()
        except KeyboardInterrupt:
            print(f"stopped; every answer is in {session.labels_file}", flush=True)
        finally:
            server.close()

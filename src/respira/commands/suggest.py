"""``respira suggest [MODEL] --data_dir ARCHIVE --budget N --output labels.csv``: what a site labels next."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from ..options import add_model_argument, options_of
from ..sites.options import SuggestOptions

EPILOG = """\
ARCHIVE is a folder of recordings, optionally with a labels.csv (file, crackle, wheeze; optionally
patient, device, location, quality, reason) whose blank crackle and wheeze cells are not yet labelled
(quality poor: answered, never suggested again). A recording's patient is its patient cell, else the
first group of --patient_pattern on its file name (written into the patient column); with neither, each
recording counts as its own patient, and fit-site refuses the folder. The model runs once over every
recording it has not seen (kept in .respira_suggest/ beside --output, so the next round takes seconds);
suggest orders the unlabelled patients (--unit recording: recordings) by the model's doubt, nearest a
threshold first (BENCHMARKS.md), and writes --output: the --budget units to label next with their
reasons, then the other rows, every recording of ARCHIVE listed. Label them, run suggest again, and run
`respira fit-site --data_dir ARCHIVE` when enough are labelled.

An archive may span several folders (--data_dir A B): the first holds its labels.csv, whose rows may name
the other folders' files (suggest writes them relative to --output); no other folder may hold one. The
label page and fit-site then read the first folder (ARCHIVE = A). A recording, or a patient, in two of
the folders is refused, naming both files.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "suggest",
        help=line,
        description="Run the model once over an archive of a site's recordings and write a labels.csv "
        "listing the patients (or recordings) to label next, in order, each with its reason.",
        epilog=EPILOG,
        dataclass_types=[SuggestOptions],
    )
    add_model_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ..data.labels_csv import ONE_PATIENT_NOTE
    from ..sites.suggest import suggest_labels

    result = suggest_labels(args.model, **asdict(options_of(args, SuggestOptions)))
    if not result.patients_named:
        print(f"note: {ONE_PATIENT_NOTE}; fit-site needs them named", file=sys.stderr)
    print(result.line())
    print(f"  {result.timing_line()}")
    for place, suggestion in enumerate(result.suggestions[:3], start=1):
        print(f"  {place}. {suggestion.unit}: {suggestion.reason}")
    if len(result.suggestions) > 3:
        print(f"  ... and {len(result.suggestions) - 3} more, with their reasons in {result.output}")
    return 0

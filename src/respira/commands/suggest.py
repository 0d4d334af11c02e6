"""``respira suggest [MODEL] --data_dir ARCHIVE --budget N --output labels.csv``: which recordings a site
should label next (:mod:`respira.sites.suggest`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from ..options import add_model_argument, options_of
from ..sites.options import SuggestOptions

EPILOG = """\
ARCHIVE is a folder of recordings (any audio respira reads, found below it), optionally with a
labels.csv (columns file, crackle, wheeze; optionally patient, device, location, quality, reason)
whose crackle and wheeze cells may be blank: not yet labelled (a row whose quality is poor was judged
too poor to label: answered, never suggested again). The model runs once over every recording it
has not seen (its embeddings and probabilities are kept in .respira_suggest/ beside --output, so the
next round takes seconds). suggest then orders the patients (--unit recording: the recordings) not yet
labelled by the model's doubt: first those with a recording whose crackle or wheeze probability lies
nearest its threshold (the strategy benchmarks/suggest.py chose over random, embedding coverage, class
balance and a hybrid; BENCHMARKS.md). It writes --output: the labelled rows as they are, then the
recordings of the --budget units to label next, in order, labels blank, each with the reason it was
chosen, then the archive's other rows. Label them (fill crackle and wheeze), run suggest again for
the next ones, and run `respira fit-site --data_dir ARCHIVE` when enough are labelled: it reads the
labelled rows and says how many were left blank and judged too poor to label. ARCHIVE/labels.csv is
rewritten (atomically) only when it is --output.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "suggest",
        help=line,
        description="Run the model once over an archive of a site's recordings and write a labels.csv "
        "listing the patients (or recordings) to label next, in order, each with its reason.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[SuggestOptions],
    )
    add_model_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..sites.suggest import suggest_labels

    result = suggest_labels(args.model, **asdict(options_of(args, SuggestOptions)))
    print(result.line())
    print(f"  {result.timing_line()}")
    for place, suggestion in enumerate(result.suggestions[:3], start=1):
        print(f"  {place}. {suggestion.unit}: {suggestion.reason}")
    if len(result.suggestions) > 3:
        print(f"  ... and {len(result.suggestions) - 3} more, with their reasons in {result.output}")
    return 0

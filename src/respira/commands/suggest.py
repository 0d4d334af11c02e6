"""``respira suggest [MODEL] --data_dir ARCHIVE --budget N --output labels.csv``: which recordings a site
should label next (:mod:`respira.sites.suggest`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from .options import add_model_argument, embedding_batch_size, option

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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "suggest",
        help="choose which recordings of an archive a site should label next, for fit-site",
        description="Run the model once over an archive of a site's recordings and write a labels.csv "
        "listing the patients (or recordings) to label next, in order, each with its reason.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[SuggestOptions],
    )
    add_model_argument(parser, optional=True)
    parser.set_defaults(handler=run)


@dataclass(kw_only=True)
class SuggestOptions:
    data_dir: str = option(
        "data_dir", "the archive: a folder of recordings, optionally with a labels.csv", required=True
    )
    budget: int = field(metadata={"help": "how many patients (--unit recording: recordings) to suggest"})
    output: str = field(
        metadata={
            "help": "the labels.csv to write (ARCHIVE/labels.csv is rewritten only when named here)",
        }
    )
    unit: str | None = field(
        default=None,
        metadata={
            "choices": ("patient", "recording"),
            "help": "what --budget counts (default: patient when labels.csv has a patient column, else "
            "recording)",
        },
    )
    overwrite: bool = option("overwrite", "replace an existing --output")
    seed: int = field(default=0, metadata={"help": "seed of the random draws (default 0)"})
    batch_size: int | None = embedding_batch_size()
    device: str | None = option("device")
    threads: int | None = option("threads")


def suggest_from_args(args: argparse.Namespace):
    """Run what the parsed options describe (``MODEL`` resolved) and return the
    :class:`~respira.sites.suggest.SuggestResult`."""
    from ..sites.suggest import suggest_labels
    from ..utils.threads import apply_num_threads

    apply_num_threads(requested=args.threads)
    return suggest_labels(
        args.model,
        args.data_dir,
        args.output,
        budget=args.budget,
        unit=args.unit,
        seed=args.seed,
        batch_size=args.batch_size,
        device=args.device,
        overwrite=args.overwrite,
    )


def run(args: argparse.Namespace) -> int:
    result = suggest_from_args(args)
    print(result.line())
    print(f"  {result.timing_line()}")
    for place, suggestion in enumerate(result.suggestions[:3], start=1):
        print(f"  {place}. {suggestion.unit}: {suggestion.reason}")
    if len(result.suggestions) > 3:
        print(f"  ... and {len(result.suggestions) - 3} more, with their reasons in {result.output}")
    return 0

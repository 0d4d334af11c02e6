"""``respira calibrate [MODEL] --data_dir SAMPLE --output_dir OUT``: re-tuned thresholds for a site, an alias
of ``respira fit-site`` with the candidates ``as_is`` and ``thresholds`` (one implementation)."""

from __future__ import annotations

import argparse
import sys

from ..data.corpora import PRIMARY_CORPUS
from ..sites.options import fit_site_options
from .fit_site import fit_from_args, report
from .options import add_model_argument

ALIAS = "respira calibrate is respira fit-site --candidates as_is thresholds"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="re-tune a model's thresholds on a site's labelled recordings (fit-site, thresholds only)",
        description=f"{ALIAS}: per label, the model's thresholds or thresholds re-tuned on the site's "
        "labelled recordings, chosen and judged by nested patient-wise cross-validation; the model is "
        "written only when that beats the model as is and all-normal out of sample. respira fit-site also "
        "fits a site head.",
        dataclass_types=[options := fit_site_options(with_candidates=False, default_dataset=PRIMARY_CORPUS)],
    )
    add_model_argument(parser, optional=True)
    parser.set_defaults(handler=run, options_type=options)


def run(args: argparse.Namespace) -> int:
    from ..sites.fit_site import THRESHOLD_CANDIDATES

    code = report(fit_from_args(args, candidates=THRESHOLD_CANDIDATES))
    print(f"({ALIAS}; see its --help)", file=sys.stderr)
    return code

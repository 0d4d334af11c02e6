"""``respira bench MODEL [MODEL ...] --data NAME=FOLDER ... --output_dir OUT``
(:mod:`respira.encoder_bench`)."""

from __future__ import annotations

import argparse

from ..encoder_bench.options import BenchOptions
from ..options import options_of

EPILOG = """\
MODEL: a respira model folder or shipped detector's name, an encoder family (cnn: its own initialisation),
an original EfficientAT checkpoint (.pt), or any other model folder or Hub id transformers loads. Each is
scored by its frozen linear probe (fit-site's site head on its window embeddings) on every task whose data
--data holds:

  in_domain    ICBHI's cycles: the official 60/40 split when the whole corpus is there, else patient-wise
               folds; ICBHI score, crackle and wheeze AUC per cycle
  unseen_site  the probe fitted on one site, scored per recording on each other site
  site_labels  fit-site's procedure fitted on --sizes of a site's patients, scored on its other patients
  training_patients  (when --tasks names it) unseen_site with the probe fitted on --sizes of the first
               site's patients (--draws seeded draws each) and on all of them: what more patients buy

Every score has a patient-bootstrap 95 % interval, beside the all-normal and class-prior baselines of the
same samples. Embeddings are kept in --cache_dir per (encoder, recording): a second run, or a killed one
run again, embeds only what is missing. OUT holds leaderboard.md, leaderboard.csv, leaderboard.png,
results.csv (every row) and model_index/MODEL.yaml (Hub model-index entries for each model's card).
On every GPU: accelerate launch -m respira bench ... (each process embeds its share; the main one writes).
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "bench",
        help=line,
        description="Score encoders on respiratory sounds under a clinic's protocols: in domain, on an "
        "unseen hospital and with a site's own few labels, with intervals and baselines.",
        epilog=EPILOG,
        dataclass_types=[BenchOptions],
    )
    parser.add_argument("models", metavar="MODEL", nargs="+", help="the models to compare (see below)")


def run(args: argparse.Namespace) -> int:
    from ..encoder_bench.run import run_bench

    options = options_of(args, BenchOptions)
    result = run_bench(args.models, options)
    if result is None:  # not the main process of an accelerate launch: it reports
        return 0
    print(result.table())
    seconds = result.seconds
    print(
        f"{result.audio_seconds:.0f} s of audio; embedding {seconds['embedding']:.1f} s in "
        f"{result.processes} process{'es' if result.processes > 1 else ''} (cycles "
        f"{seconds['cycles']:.1f} s), scoring {seconds['scoring']:.1f} s"
    )
    return 0

"""``respira evaluate MODEL --data_dir D``: score a model, write a report folder
(:mod:`respira.evaluation.evaluate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..evaluation.evaluate import THRESHOLDS_HELP, evaluate_options, evaluate_options_type, score_model
from ..options import AggregationOptions, add_model_argument, options_of

EPILOG = """\
data: --data_dir (a corpus folder, or a respira prepare folder) or --dataset_name (a Hub dataset id or
such a folder); default: the run's own data when MODEL is a run folder. Split options: the run's
(MODEL/respira_run.json), else the official split with a 0.2 validation share and seed 0; checked
before the build. Recordings are resampled and low-passed as the model's training recordings were;
multi-label models decide at the model's thresholds (config.decision_thresholds).

writes to --output_dir (default: ./evaluation_<split>; --record: MODEL/evaluation_<split>, which the
card, respira export and predict's sites line then show; the shipped detector is read-only):
metrics.json (NaN as null; with the all-normal and class-prior baselines), cycle_predictions.csv,
confusion_matrix.png, roc_curves.png, precision_recall_curves.png and (multi-label)
threshold_curves.png.

--dataset kauh: external validation per recording (--window/--hop windows, aggregated by the model's
own rule or --aggregation), with per-label sensitivity, specificity, AUC and ICBHI-style score, overall
and per filter mode, with patient-bootstrap 95% intervals; recording_predictions.csv (default folder
./evaluation_kauh). Recorded in MODEL, export and push put it on the card (External validation).

a folder respira fit-site wrote, scored on its own corpus: one more line compares the score with its
card's claim on the patients it was not fitted on (metrics.json site_claim: "drift" when the 95 %
interval of the difference lies below 0, with the fit-site command that refits it; "agrees" only when it
also excludes a drop larger than the width of the card's interval, else "not shown to differ").

--task events (--dataset icbhi or sprsound): the model's event detection on every recording of --split,
scored against the reference events with sed_eval's event- and segment-based F1 and error rate and
sed_scores_eval's PSDS, per label, with patient-bootstrap intervals and baselines; metrics.json,
events.csv and references.csv (default folder ./events_<dataset>).

progress goes to standard error (a bar on a terminal, else one line per stage; none with
HF_HUB_DISABLE_PROGRESS_BARS=1, HF_DATASETS_DISABLE_PROGRESS_BARS=1 or TQDM_DISABLE=1).
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help=line,
        description="Score a model on a split of the ICBHI dataset built from --data_dir; print the "
        "headline scores and write metrics and plots.",
        epilog=EPILOG,
        dataclass_types=[*evaluate_options(), AggregationOptions],
    )
    add_model_argument(parser)
    parser.add_argument(
        "--thresholds", type=float, nargs=2, metavar=("CRACKLE", "WHEEZE"), help=THRESHOLDS_HELP
    )


def run(args: argparse.Namespace) -> Path:
    return score_model(options_of(args, evaluate_options_type()))

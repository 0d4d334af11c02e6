"""``respira evaluate MODEL --data_dir D`` (or ``--dataset_name D``, ``--dataset kauh``, ``--task events``):
score a model and write a report folder (:func:`respira.scoring.evaluate.score_model`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..options import AggregationOptions
from ..scoring.evaluate import THRESHOLDS_HELP, evaluate_options, evaluate_options_type, score_model
from .options import add_model_argument, options_of

EPILOG = """\
data: --data_dir (a corpus folder, or a folder written by respira prepare) or --dataset_name (a Hub
dataset id or such a folder; --dataset_config_name, --audio_column_name, --label_column_name); default:
the run's own data when MODEL is a run folder. --split all scores every cycle of it in one call.

split options: read from MODEL/respira_run.json when MODEL is a run folder (the splits the run was
trained on); otherwise the official split with a 0.2 validation share and seed 0. --split_strategy,
--validation_size and --seed override them. The split is checked before the build: a folder without
it (e.g. another folder than the run's, without the official split file) is refused at once. A dataset
(--dataset_name) has its own splits.

the recordings are resampled and low-passed as the model's training recordings were (from its
config.json); multi-label models decide at the model's thresholds (config.decision_thresholds, tuned on
validation when the checkpoint was selected), as training's test scoring and respira predict do.

writes to --output_dir (default: ./evaluation_<split> in the current folder: evaluating never changes
what a model folder claims unless asked; --record writes MODEL/evaluation_<split> instead, and the card,
respira export and predict's sites line then show it; respira's shipped detector is read-only to every
command): metrics.json (NaN as null; with the all-normal and class-prior baselines of the split),
cycle_predictions.csv, confusion_matrix.png, and per label (crackle, wheeze) roc_curves.png and
precision_recall_curves.png with the model's operating point, and (multi-label models)
threshold_curves.png: sensitivity, specificity and ICBHI score against each label's threshold.

--dataset kauh (external validation on recordings of another hospital and stethoscope): the model
runs over --window/--hop windows of each KAUH recording; window probabilities are aggregated per
recording (the model's own rule, else --aggregation max, mean, or topk_mean --top_k K) and decided
at the model's own thresholds (config.decision_thresholds, else 0.5). Writes metrics.json
(per-label sensitivity, specificity, AUC and the ICBHI-style score, overall and per filter mode,
with patient-level bootstrap 95% intervals; and which weights it scored), recording_predictions.csv
and the curve plots (per recording) to --output_dir (default: ./evaluation_kauh; --record:
MODEL/evaluation_kauh). Recorded in MODEL, respira export and push put the scores on the model
card (External validation) while they are of the folder's own weights and thresholds, and warn when
they leave them off.

a model respira fit-site wrote (its site_fit.json), scored on recordings of the corpus it was fitted
on: one more line compares their score with what its card claims (the nested cross-validation's), and
metrics.json keeps it as site_claim: "drift" (with the fit-site command that refits it with them) when
the 95 % interval of the difference (new minus claimed, from both patient-bootstrap intervals) lies
below 0, else that it agrees (or lies above); not compared, and why, for another recording
rule (respira.pretrained.site_claim). Only patients it was not fitted on are compared (site_fit.json
lists its own; the line says how many were left out, and none new is not compared).

--task events (--dataset icbhi or sprsound, --data_dir): where, not only whether. Every recording of
--split (ICBHI: test of the split options; SPRSound: test = inter_test and intra_test) goes through the
model's event detection (respira.inference.event_detection: frame posteriors on the encoder's time axis,
events at
the model's thresholds and event settings) and is scored against the corpus's reference events
(SPRSound: the annotated events; ICBHI: the flagged cycles, weak references) with sed_eval's event-based
(onset collar 0.2 s, offset collar max(0.2 s, 20 % of the length)) and segment-based (1 s) F1 and error
rate and sed_scores_eval's PSDS, per label, overall and per official part, with patient-bootstrap
intervals and the no-events and all-positive baselines. Writes metrics.json, events.csv and
references.csv to --output_dir (default: ./events_<dataset>; --record: MODEL/events_<dataset>).

progress goes to standard error: a bar on a terminal, one line per stage otherwise; none when
HF_HUB_DISABLE_PROGRESS_BARS=1, HF_DATASETS_DISABLE_PROGRESS_BARS=1 or TQDM_DISABLE=1.
"""


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help=line,
        description="Score a model on a split of the ICBHI dataset built from --data_dir; print the "
        "headline scores and write metrics and plots.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        dataclass_types=[*evaluate_options(), AggregationOptions],
    )
    add_model_argument(parser)
    parser.add_argument(
        "--thresholds", type=float, nargs=2, metavar=("CRACKLE", "WHEEZE"), help=THRESHOLDS_HELP
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> Path:
    return score_model(options_of(args, evaluate_options_type()))

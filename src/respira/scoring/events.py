"""``respira evaluate MODEL --task events --dataset icbhi|sprsound --data_dir FOLDER``: detection scored.

Each recording of the chosen splits of the corpus's ``recordings`` config is run through the model's event
detection and scored against the corpus's reference events (:mod:`respira.evaluation.event_detection_report`):
sed_eval's event- and segment-based F1 and error rate, sed_scores_eval's PSDS, per label, overall and per
value of the corpus's group column, with patient-bootstrap intervals and the trivial baselines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.corpora import CorpusSpec, corpus_names, get_corpus
from .external import WINDOW_DEFAULTS, chosen_splits, default_output_dir, load_splits

__all__ = ["TASKS", "event_corpora", "run_events"]

TASKS = ("classification", "events")
"""What ``respira evaluate --task`` scores: cycles / recordings (classification), or detected events."""


def event_corpora() -> list[str]:
    """The corpora whose recordings carry event times (their spec's ``reference_events``)."""
    return [name for name in corpus_names() if get_corpus(name).reference_events is not None]


def _check(args: Any, spec: CorpusSpec) -> None:
    if spec.reference_events is None:
        raise ValueError(
            f"--task events needs reference events with onsets and offsets; {spec.label} has none "
            f"(--dataset {' or '.join(event_corpora())})"
        )
    if not args.data_dir or args.dataset_name:
        raise ValueError(
            f"--task events reads a folder of the {spec.label} recordings: pass --data_dir <folder>"
        )
    refused = [
        f"--{name}" for name in (*WINDOW_DEFAULTS, "top_k", "thresholds") if getattr(args, name) is not None
    ]
    if refused:
        raise ValueError(
            f"{', '.join(refused)}: not for --task events, which detects at the model's own thresholds and "
            "event settings (bootstrap: 1000 patient resamples)"
        )


def run_events(args: Any, spec: CorpusSpec) -> Path:
    """Checked first (options, splits, the report folder), then every recording detected and scored;
    returns the report folder written."""
    from ..evaluation.event_detection_report import evaluate_events, event_scores_table
    from ..hub.loading import load_model
    from ..reports.report_folder import check_report_target

    _check(args, spec)
    splits = chosen_splits(spec, args.split)
    output_dir = default_output_dir(args, spec.name, prefix="events")
    check_report_target(output_dir)  # before any work
    model, config = load_model(args.model, device=args.device)
    recordings = load_splits(spec, args, config, "recordings", splits)
    metrics = evaluate_events(
        model,
        recordings,
        reference_events=spec.reference_events_reader(),
        output_dir=output_dir,
        group_by=spec.group_by,
        group_column=spec.group_column,
        seed=args.seed if args.seed is not None else 0,
        batch_size=args.batch_size,
    )
    thresholds = metrics["thresholds"]
    print(
        f"{args.model} detecting events on {spec.label} ({', '.join(splits)}: {metrics['num_recordings']} "
        f"recordings, {metrics['num_patients']} patients); thresholds crackle {thresholds['crackle']:.2f}, "
        f"wheeze {thresholds['wheeze']:.2f}:"
    )
    print(event_scores_table(metrics))
    print(f"wrote {', '.join(metrics['files'])} to {output_dir}")
    return output_dir

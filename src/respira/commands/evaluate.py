"""``respira evaluate MODEL --data_dir D``: score a model on an ICBHI split and write a report folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..utils.tables import format_number, format_table

EPILOG = """\
writes to --output_dir (default: MODEL/evaluation_<split> for a local model folder,
./evaluation_<split> for a Hub id): metrics.json (NaN as null), confusion_matrix.png,
embedding_projection.png and add_properties.json.
"""

TABLE_KEYS: tuple[tuple[str, str], ...] = (
    ("icbhi_score", "ICBHI score"),
    ("specificity", "specificity"),
    ("sensitivity", "sensitivity (strict)"),
    ("binary_icbhi_score", "binary ICBHI score (not official)"),
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
    ("macro_f1", "macro F1"),
    ("patient_icbhi_score", "per-patient ICBHI score"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on an ICBHI split; write metrics and plots",
        description="Score a model on a split of the ICBHI dataset built from --data_dir; print the "
        "headline scores and write metrics and plots.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model folder or Hugging Face Hub id")
    parser.add_argument("--data_dir", required=True, help="folder of an ICBHI download (either release)")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    parser.add_argument(
        "--validation_size",
        type=float,
        help="official split: fraction of train carved into validation (default 0.2, as in training)",
    )
    parser.add_argument("--split_strategy", choices=("official", "patient"), default="official")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation / patient split")
    parser.add_argument("--output_dir", help="report folder (default: MODEL/evaluation_<split>)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs=2,
        metavar=("CRACKLE", "WHEEZE"),
        help="multi-label models: decision thresholds (default: the config's, else 0.5)",
    )
    parser.add_argument("--cache_dir", help="datasets cache folder")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    parser.set_defaults(handler=run)


def default_output_dir(model: str, split: str) -> Path:
    folder = Path(model).expanduser()
    return (folder if folder.is_dir() else Path()) / f"evaluation_{split}"


def results_table(metrics: dict[str, Any]) -> str:
    """A two-column table of the headline scores."""
    rows = [
        (label, format_number(metrics[key], 4, missing="n/a")) for key, label in TABLE_KEYS if key in metrics
    ]
    return format_table(rows, align="<<", indent="  ")


def run(args: argparse.Namespace) -> None:
    from ..data import load_icbhi
    from ..inference import load_model
    from ..reports.evaluation import evaluate_model

    model, config = load_model(args.model, device=args.device)
    options: dict[str, Any] = {"split_strategy": args.split_strategy}
    validation_size = args.validation_size
    if validation_size is None:
        validation_size = 0.2 if args.split_strategy == "official" else 0.0
    dataset = load_icbhi(
        args.data_dir,
        sampling_rate=int(config.sampling_rate),
        validation_size=validation_size,
        seed=args.seed,
        cache_dir=args.cache_dir,
        **options,
    )
    if args.split not in dataset:
        raise ValueError(f"no split {args.split!r} in the dataset; available splits: {', '.join(dataset)}")
    split = dataset[args.split]
    output_dir = Path(args.output_dir) if args.output_dir else default_output_dir(args.model, args.split)
    metrics = evaluate_model(
        model, split, output_dir=output_dir, batch_size=args.batch_size, thresholds=args.thresholds
    )
    print(f"{args.model} on the {args.split} split ({metrics['num_examples']} cycles):")
    print(results_table(metrics))
    if "thresholds" in metrics:
        crackle, wheeze = metrics["thresholds"]
        print(f"  thresholds: crackle {crackle:.2f}, wheeze {wheeze:.2f}")
    files = "metrics.json, confusion_matrix.png, embedding_projection.png, add_properties.json"
    print(f"wrote {files} to {output_dir}")

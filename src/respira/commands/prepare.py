"""``respira prepare``: build the ICBHI dataset from a local folder, print a summary, save or push it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..audio import DEFAULT_SAMPLING_RATE
from ..utils.files import atomic_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("prepare", help="build the ICBHI dataset from a local folder")
    parser.add_argument("--data_dir", required=True, help="folder of an ICBHI download (either release)")
    parser.add_argument("--output_dir", help="also save each split as Parquet here")
    parser.add_argument("--push_to_hub", metavar="REPO", help="push the dataset to this Hub dataset repo")
    parser.add_argument("--config", choices=("cycles", "recordings"), default="cycles")
    parser.add_argument("--sampling_rate", type=int, default=DEFAULT_SAMPLING_RATE)
    parser.add_argument("--validation_size", type=float, default=0.0)
    parser.add_argument("--split_strategy", choices=("official", "patient"))
    parser.add_argument("--lowpass_cutoff", type=float, help="Butterworth low-pass cutoff in Hz")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_proc", type=int)
    parser.add_argument("--cache_dir")
    parser.set_defaults(handler=run)


def save_parquet(dataset, output_dir: Path) -> None:
    """One Parquet file per split, written to a temporary name and renamed (never half-written)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for split, part in dataset.items():
        target = output_dir / f"{split}.parquet"
        with atomic_path(target) as partial:
            part.to_parquet(str(partial))
        print(f"wrote {target} ({len(part)} rows)")


def run(args: argparse.Namespace) -> None:
    from ..data import load_icbhi, summarize

    options = {}
    if args.split_strategy:
        options["split_strategy"] = args.split_strategy
    if args.lowpass_cutoff:
        options["lowpass_cutoff"] = args.lowpass_cutoff
    started = time.perf_counter()
    dataset = load_icbhi(
        args.data_dir,
        config_name=args.config,
        sampling_rate=args.sampling_rate,
        validation_size=args.validation_size,
        seed=args.seed,
        cache_dir=args.cache_dir,
        num_proc=args.num_proc,
        **options,
    )
    print(f"ICBHI '{args.config}' dataset ready in {time.perf_counter() - started:.1f} s")
    print(summarize(dataset) if args.config == "cycles" else dataset)
    if args.output_dir:
        save_parquet(dataset, Path(args.output_dir))
    if args.push_to_hub:
        dataset.push_to_hub(args.push_to_hub)
        print(f"pushed to the Hub as {args.push_to_hub}")

"""``respira demo``: the main job end to end on a synthetic corpus."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the main job end to end on a synthetic corpus")
    parser.add_argument("--output_dir", default="demo_output")
    parser.add_argument("--n_patients", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    from ..data import load_icbhi, make_synthetic_icbhi, summarize

    output_dir = Path(args.output_dir)
    corpus = output_dir / "synthetic_icbhi"
    print(f"[1/2] writing a synthetic ICBHI-format corpus ({args.n_patients} patients) to {corpus}")
    make_synthetic_icbhi(corpus, n_patients=args.n_patients, seed=args.seed, overwrite=True)
    print("[2/2] building the cycle dataset (16 kHz, official split + patient-wise validation)")
    dataset = load_icbhi(corpus, validation_size=0.2, seed=args.seed, cache_dir=output_dir / "cache")
    print(summarize(dataset))

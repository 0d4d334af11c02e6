"""``respira export RUN_DIR OUT_DIR``: a training run → a Hub-ready model folder with its model card."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="write a training run as a Hub-ready model folder (weights, config, model card)"
    )
    parser.add_argument("run_dir", help="folder written by `respira train` (config.json + model.safetensors)")
    parser.add_argument("output_dir", help="folder to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    from ..hub import export_model

    output = export_model(args.run_dir, args.output_dir, overwrite=args.overwrite)
    files = ", ".join(sorted(path.name for path in output.iterdir()))
    print(f"exported {args.run_dir} → {output} ({files})")

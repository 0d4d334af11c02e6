"""The ``respira`` command line: ``demo``, ``prepare`` and ``convert``.

Errors are one clear line on stderr (exit code 2); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import __version__


def _prepare(args: argparse.Namespace) -> None:
    from .data import load_icbhi, summarize

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
    if args.config == "cycles":
        print(summarize(dataset))
    else:
        print(dataset)
    if args.output_dir:
        _save_parquet(dataset, Path(args.output_dir))
    if args.push_to_hub:
        dataset.push_to_hub(args.push_to_hub)
        print(f"pushed to the Hub as {args.push_to_hub}")


def _save_parquet(dataset, output_dir: Path) -> None:
    """One Parquet file per split, written to a temporary name and renamed (never half-written)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for split, part in dataset.items():
        target = output_dir / f"{split}.parquet"
        partial = target.with_suffix(".parquet.partial")
        part.to_parquet(str(partial))
        partial.replace(target)
        print(f"wrote {target} ({len(part)} rows)")


def _demo(args: argparse.Namespace) -> None:
    from .data import load_icbhi, make_synthetic_icbhi, summarize

    output_dir = Path(args.output_dir)
    corpus = output_dir / "synthetic_icbhi"
    print(f"[1/2] writing a synthetic ICBHI-format corpus ({args.n_patients} patients) to {corpus}")
    make_synthetic_icbhi(corpus, n_patients=args.n_patients, seed=args.seed, overwrite=True)
    print("[2/2] building the cycle dataset (16 kHz, official split + patient-wise validation)")
    dataset = load_icbhi(corpus, validation_size=0.2, seed=args.seed, cache_dir=output_dir / "cache")
    print(summarize(dataset))


def _convert(args: argparse.Namespace) -> None:
    if args.family == "beats":
        from .models.beats.convert_beats import convert_beats_checkpoint

        output = convert_beats_checkpoint(args.checkpoint, args.output_dir, overwrite=args.overwrite)
    else:
        from .models.efficientat.convert_efficientat import convert_efficientat_checkpoint

        output = convert_efficientat_checkpoint(
            args.checkpoint, args.output_dir, width=args.width, overwrite=args.overwrite
        )
    print(f"converted {args.checkpoint} → {output} (load it with transformers.AutoModel.from_pretrained)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="respira", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"respira {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    prepare = commands.add_parser("prepare", help="build the ICBHI dataset from a local folder")
    prepare.add_argument("--data_dir", required=True, help="folder of an ICBHI download (either release)")
    prepare.add_argument("--output_dir", help="also save each split as Parquet here")
    prepare.add_argument("--push_to_hub", metavar="REPO", help="push the dataset to this Hub dataset repo")
    prepare.add_argument("--config", choices=("cycles", "recordings"), default="cycles")
    prepare.add_argument("--sampling_rate", type=int, default=16000)
    prepare.add_argument("--validation_size", type=float, default=0.0)
    prepare.add_argument("--split_strategy", choices=("official", "patient"))
    prepare.add_argument("--lowpass_cutoff", type=float, help="Butterworth low-pass cutoff in Hz")
    prepare.add_argument("--seed", type=int, default=0)
    prepare.add_argument("--num_proc", type=int)
    prepare.add_argument("--cache_dir")
    prepare.set_defaults(handler=_prepare)

    convert = commands.add_parser("convert", help="convert an official BEATs or EfficientAT checkpoint")
    convert.add_argument("family", choices=("beats", "efficientat"))
    convert.add_argument("checkpoint", help="the original .pt file (read with torch.load(weights_only=True))")
    convert.add_argument("output_dir", help="folder to write config.json + model.safetensors into")
    convert.add_argument("--width", type=float, default=0.4, help="EfficientAT width multiplier (0.4-1.0)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    convert.set_defaults(handler=_convert)

    demo = commands.add_parser("demo", help="run the main job end to end on a synthetic corpus")
    demo.add_argument("--output_dir", default="demo_output")
    demo.add_argument("--n_patients", type=int, default=12)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=_demo)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 error, 130 interrupted)."""
    warnings.formatwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("once")
            args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"respira {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

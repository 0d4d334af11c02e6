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
    parser.add_argument(
        "--with_code",
        action="store_true",
        default=None,
        help="ship the model's code (auto_map), so transformers loads it with trust_remote_code=True "
        "where respira is not installed (default: when the folder's config declares it, as a shipped "
        "detector's does)",
    )
    parser.add_argument(
        "--onnx",
        action="store_true",
        default=None,
        help="also write model.onnx: waveforms → probabilities, runs with onnxruntime alone "
        "(needs pip install 'respira[onnx]'; default: when the folder already holds one)",
    )
    parser.add_argument(
        "--space",
        action="store_true",
        help="write OUT as a Hugging Face Space instead: the app page running the model's ONNX export "
        "with onnxruntime, no torch or respira (needs pip install 'respira[app,onnx]')",
    )
    parser.add_argument("--model_id", help="with --space: the Hub model repo the Space names (models:)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    from ..hub import export_model

    if args.space:
        from ..app.space import write_space

        if args.with_code or args.onnx:
            raise ValueError(
                "--space writes a Space folder (it always holds model.onnx); drop --with_code/--onnx"
            )
        output = write_space(args.run_dir, args.output_dir, model_id=args.model_id, overwrite=args.overwrite)
        print(f"wrote the Space of {args.run_dir} → {output} (app.py, README.md, requirements.txt, model/)")
        return
    if args.model_id is not None:
        raise ValueError("--model_id applies to --space only")
    output = export_model(
        args.run_dir, args.output_dir, overwrite=args.overwrite, with_code=args.with_code, onnx=args.onnx
    )
    names = sorted(path.name for path in output.iterdir())
    code = [name for name in names if name.endswith(".py")]
    files = ", ".join(
        [name for name in names if name not in code] + ([f"{len(code)} code files"] if code else [])
    )
    print(f"exported {args.run_dir} → {output} ({files})")

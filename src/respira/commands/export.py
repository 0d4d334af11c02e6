"""``respira export RUN_DIR OUT_DIR``: a training run → a Hub-ready model folder with its model card."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..options import RUN_DIR_HELP, SWITCH, flag, onnx_export_option, option, with_code_option
from ..pretrained import DEFAULT_DETECTOR_NAME


@dataclass(kw_only=True)
class ExportOptions:
    overwrite: bool = option("overwrite")
    with_code: bool | None = with_code_option(
        "when the folder's config declares it, as a shipped detector's does"
    )
    onnx: bool | None = onnx_export_option()
    web: bool = flag(
        False,
        "write OUT as a static page that runs the model's ONNX export in the browser "
        "(onnxruntime-web, vendored by `make web-deps`): the recording never leaves the device; "
        "the folder is also a Hugging Face static Space",
        **SWITCH,
    )


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser("export", dataclass_types=[ExportOptions], help=line)
    parser.add_argument(
        "run_dir",
        nargs="?",
        help=f"{RUN_DIR_HELP} (default: respira's shipped detector, {DEFAULT_DETECTOR_NAME}; "
        "one folder given is OUT_DIR)",
    )
    parser.add_argument("output_dir", help="folder to create")


def run(args: argparse.Namespace) -> None:
    from ..hub import export_model
    from ..pretrained.shipped import chosen_model

    if args.run_dir is None:  # the default detector, said on stderr as every command with an optional MODEL
        args.run_dir = chosen_model(None)

    if args.web:
        from ..app.web_page import write_web_page

        if args.with_code or args.onnx:
            raise ValueError(
                "--web writes a static page (it always holds model.onnx); drop --with_code/--onnx"
            )
        output = write_web_page(args.run_dir, args.output_dir, overwrite=args.overwrite)
        print(
            f"wrote the static page of {args.run_dir} → {output} (open {output / 'index.html'} in a browser)"
        )
        return
    output = export_model(
        args.run_dir, args.output_dir, overwrite=args.overwrite, with_code=args.with_code, onnx=args.onnx
    )
    names = sorted(path.name for path in output.iterdir() if not path.name.startswith("."))
    code = [name for name in names if name.endswith(".py")]
    files = ", ".join(
        [name for name in names if name not in code] + ([f"{len(code)} code files"] if code else [])
    )
    print(f"exported {args.run_dir} → {output} ({files})")

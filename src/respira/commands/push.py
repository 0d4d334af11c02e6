"""``respira push RUN_DIR REPO_ID``: export a training run and upload it to a Hugging Face Hub model repo."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..options import RUN_DIR_HELP, SWITCH, flag, onnx_export_option, with_code_option


@dataclass(kw_only=True)
class PushOptions:
    private: bool = flag(False, "create the repository as private", **SWITCH)
    token: str | None = flag(None, "Hub token (default: HF_TOKEN or the saved login)")
    revision: str | None = flag(None, "branch to push to (default: main)")
    with_code: bool | None = with_code_option("true")
    onnx: bool | None = onnx_export_option()
    space: bool = flag(
        False,
        "also push the model's static page (`respira export --web`: runs model.onnx in the "
        "browser, the recording never leaves the device; onnxruntime-web from `make web-deps`) as a "
        "Space repo of the same id (sdk: static)",
        **SWITCH,
    )


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser("push", dataclass_types=[PushOptions], help=line)
    parser.add_argument("run_dir", help=RUN_DIR_HELP)
    parser.add_argument("repo_id", help="model repository, e.g. your-name/respira-ast-icbhi")


def run(args: argparse.Namespace) -> None:
    """Push the model repo, then with ``--space`` its static page as a Space of the same id (written from
    the model repo's export before its upload, so a page that cannot be made stops before any push)."""
    import tempfile
    from functools import partial
    from pathlib import Path

    from ..app.web_page import check_web_page, write_web_page
    from ..hub import push_run
    from ..hub.push import check_push_target, push_space_folder

    check_push_target(args.repo_id, token=args.token)  # before any page, Space or export is written
    if args.space:
        check_web_page(args.run_dir)
    with tempfile.TemporaryDirectory(prefix="respira-push-space-") as tmp:
        page = Path(tmp) / "page"  # written from the push's export: the model is converted once
        url = push_run(
            args.run_dir,
            args.repo_id,
            private=args.private,
            token=args.token,
            revision=args.revision,
            with_code=args.with_code is not False,
            onnx=args.onnx,
            before_upload=partial(write_web_page, output_dir=page, name=args.repo_id) if args.space else None,
        )
        print(f"pushed {args.run_dir} → {url}")
        if args.space:
            space = push_space_folder(page, args.repo_id, private=args.private, token=args.token)
            print(f"pushed the static page as a Space → {space}")

"""``respira convert beats|efficientat``: official checkpoints → folders that ``AutoModel`` loads."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..options import flag, option


@dataclass(kw_only=True)
class ConvertOptions:
    """``respira convert``'s options (``FAMILY CHECKPOINT OUT_DIR`` are positional)."""

    width: float = flag(0.4, "EfficientAT width multiplier (0.4-1.0)")
    overwrite: bool = option("overwrite")


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser("convert", dataclass_types=[ConvertOptions], help=line)
    parser.add_argument("family", choices=("beats", "efficientat"))
    parser.add_argument("checkpoint", help="the original .pt file (read with torch.load(weights_only=True))")
    parser.add_argument("output_dir", help="folder to write config.json + model.safetensors into")


def run(args: argparse.Namespace) -> None:
    if args.family == "beats":
        from ..models.convert_beats import convert_beats_checkpoint

        output = convert_beats_checkpoint(args.checkpoint, args.output_dir, overwrite=args.overwrite)
    else:
        from ..models.convert_efficientat import convert_efficientat_checkpoint

        output = convert_efficientat_checkpoint(
            args.checkpoint, args.output_dir, width=args.width, overwrite=args.overwrite
        )
    print(f"converted {args.checkpoint} → {output} (load it with transformers.AutoModel.from_pretrained)")

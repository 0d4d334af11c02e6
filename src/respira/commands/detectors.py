"""``respira detectors``: the detectors that ship with respira, each usable by its name as MODEL."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    subparsers.add_parser(
        "detectors",
        help=line,
        description="List the detectors installed with respira: name (any command's MODEL, and "
        "respira.Detector.from_pretrained(name)), the corpora its training record says it learnt from, "
        "per label the sites it serves (its recorded scores: a fitted site's label only where its own "
        "gain is shown), and its folder.",
    )


def run(args: argparse.Namespace) -> int:
    from ..pretrained import DEFAULT_DETECTOR_NAME
    from ..pretrained.shipped import describe_detectors
    from ..utils.tables import format_table

    detectors = describe_detectors()
    if not detectors:
        raise FileNotFoundError("no detector is installed with respira: reinstall it, or name a model folder")
    default = {DEFAULT_DETECTOR_NAME: " (default)"}
    rows = [
        (f"{item.name}{default.get(item.name, '')}", item.trained_on, item.serves, item.path)
        for item in detectors
    ]
    print(format_table(rows, header=("name", "trained on", "serves, per label", "folder"), align="<<<<"))
    return 0

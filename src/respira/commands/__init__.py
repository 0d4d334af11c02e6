"""One module per ``respira`` sub-command; each exposes ``register(subparsers)``.

A command module adds its parser with ``set_defaults(handler=run)``, its options a dataclass
(:mod:`respira.options`); ``run(args)`` calls the package function that does the work (the one
:mod:`respira.api` calls too) and raises on failure (the CLI turns exceptions into one-line errors).
"""

from __future__ import annotations

import argparse
import importlib

COMMANDS: tuple[str, ...] = (
    "prepare",
    "train",
    "evaluate",
    "predict",
    "screen",
    "fit_site",
    "suggest",
    "export",
    "push",
    "convert",
    "demo",
    "app",
    "label",
    "detectors",
)


def register_all(subparsers: argparse._SubParsersAction) -> None:
    """Add every command that is available (a command module may be absent while it is being built)."""
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as error:
            if error.name == f"{__name__}.{name}":
                continue
            raise
        module.register(subparsers)

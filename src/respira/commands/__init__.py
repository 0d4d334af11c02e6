"""One module per ``respira`` sub-command: ``register(subparsers, line)`` adds its parser, whose
``handler`` is the module's ``run``, which calls the package function doing the work."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Collection

LINES: dict[str, str] = {
    "prepare": "build the {primary} (or {others}) dataset from a local folder; save or push it with a "
    "dataset card",
    "train": "train from a YAML recipe and/or --field value flags (respira train --help lists them)",
    "evaluate": "score a model on an ICBHI split; write metrics and plots",
    "predict": "predict crackles and wheezes in audio files",
    "screen": "screen an archive: every recording's verdict (and events) into Parquet, resumable, sharded",
    "fit-site": "make a model serve a site: fit it on a few labelled patients, judged out of sample",
    "suggest": "choose which recordings of an archive a site should label next, for fit-site",
    "bench": "compare encoders on respiratory sounds: in domain, an unseen hospital, a site's own labels",
    "export": "write a training run as a Hub-ready model folder (weights, config, model card)",
    "push": "export a training run and upload it to the Hugging Face Hub",
    "convert": "convert an official BEATs or EfficientAT checkpoint",
    "demo": "run the main job end to end on a synthetic corpus",
    "app": "serve a web page that runs a model on recordings in the browser",
    "label": "serve a web page to label a site's recordings (crackles, wheezes, events)",
    "detectors": "list the detectors that ship with respira (each name works as any command's MODEL)",
}
"""Each command's line in ``respira --help``, in its order (prepare's names the registered corpora)."""
COMMANDS: tuple[str, ...] = tuple(name.replace("-", "_") for name in LINES)
"""The commands' modules (``fit_site`` is ``respira fit-site``)."""


def command_lines(corpora: bool = True) -> dict[str, str]:
    """:data:`LINES`; ``corpora``: prepare's names the registered corpora (reading the registry imports
    every corpus's builder, and ``datasets``)."""
    from ..data.corpus_files import PRIMARY_CORPUS
    from ..options import corpus_list

    others = corpus_list(keep=lambda spec: spec.name != PRIMARY_CORPUS) if corpora else "another corpus"
    return {**LINES, "prepare": LINES["prepare"].format(primary=PRIMARY_CORPUS.upper(), others=others)}


def register_all(subparsers: argparse._SubParsersAction, load: Collection[str] | None = None) -> None:
    """Add every command; only those of ``load`` (default: all) get their options."""
    lines = command_lines(corpora=not load or "prepare" in load)  # another command never shows the list
    for module_name in COMMANDS:
        name = module_name.replace("_", "-")
        if load is not None and name not in load:
            subparsers.add_parser(name, help=lines[name])
        else:
            module = importlib.import_module(f".{module_name}", __name__)
            module.register(subparsers, lines[name])
            subparsers.choices[name].set_defaults(handler=module.run)

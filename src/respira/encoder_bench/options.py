"""The options of ``respira bench``: here so that building the parser imports no model or fitting code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..options import embedding_batch_size, option

__all__ = ["DEFAULT_CACHE", "BenchOptions"]

DEFAULT_CACHE = "~/.cache/respira/bench"
"""Where the embeddings are kept per (encoder, recording) unless ``--cache_dir`` says."""


def _option(default: Any, help: str, **more: Any) -> Any:
    return field(default=default, metadata={"help": help, **more})


@dataclass(kw_only=True)
class BenchOptions:
    data: list[str] = field(
        metadata={
            "help": "the labelled folders, each NAME=FOLDER: NAME a corpus (icbhi, kauh, sprsound) reads its "
            "layout, any other name a folder with labels.csv (with a patient column)",
            "metavar": "NAME=FOLDER",
        }
    )
    output_dir: str = option("output_dir", "folder to create for the leaderboard", required=True)
    overwrite: bool = option("overwrite")
    tasks: list[str] | None = field(
        default=None, metadata={"help": "protocols to run (default: every one whose data is present)"}
    )
    cache_dir: str = _option(DEFAULT_CACHE, f"embeddings per (encoder, recording) (default {DEFAULT_CACHE})")
    sizes: list[int] = field(
        default_factory=lambda: [10, 20, 30],
        metadata={"help": "a site's labelled patients the site task fits on (default 10 20 30)"},
    )
    folds: int = _option(5, "patient-wise folds in domain when the official split is not there (default 5)")
    draws: int = _option(3, "seeded draws of each size of the site task (default 3)")
    resamples: int = _option(1000, "patient-bootstrap resamples of every interval (default 1000)")
    seed: int = _option(0, "seed of the folds, draws and bootstrap (default 0)")
    batch_size: int | None = embedding_batch_size()
    device: str | None = option("device")
    threads: int | None = option("threads")

"""The options of ``respira bench``: here so that building the parser imports no model or fitting code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ..options import embedding_batch_size, flag, option

__all__ = ["DEFAULT_CACHE", "BenchOptions"]

DEFAULT_CACHE = "~/.cache/respira/bench"
"""Where the embeddings are kept per (encoder, recording) unless ``--cache_dir`` says."""


@dataclass(kw_only=True)
class BenchOptions:
    data: list[str] = flag(  # noqa: RUF009 (a field, as every flag() is)
        help="the labelled folders, each NAME=FOLDER: NAME a corpus (icbhi, kauh, sprsound) reads its "
        "layout, any other name a folder with labels.csv (with "
        "a patient column); NAME=A,B: one corpus in several folders",
        metavar="NAME=FOLDER",
    )
    output_dir: str = option("output_dir", "folder to create for the leaderboard", required=True)
    overwrite: bool = option("overwrite")
    tasks: list[str] | None = flag(  # noqa: RUF009 (a field, as every flag() is)
        None, "protocols to run (default: every one whose data is present but training_patients)"
    )
    cache_dir: str = flag(DEFAULT_CACHE, f"embeddings per (encoder, recording) (default {DEFAULT_CACHE})")
    sizes: list[int] = field(
        default_factory=lambda: [10, 20, 30],
        metadata={
            "help": "a site's labelled patients site_labels fits on, the source's patients "
            "training_patients fits on (default 10 20 30)"
        },
    )
    folds: int = flag(5, "patient-wise folds in domain when the official split is not there (default 5)")
    draws: int = flag(3, "seeded draws of each size of the site task (default 3)")
    resamples: int = flag(1000, "patient-bootstrap resamples of every interval (default 1000)")
    seed: int = flag(0, "seed of the folds, draws and bootstrap (default 0)")
    suite: str | None = flag(
        None,
        "a task suite file (JSON): its patients per fold and draw, sources and the five options above are "
        "read when it exists, else written there by this run (every run writes its own suite.json)",
        metavar="FILE",
    )
    layer: str = flag(
        "auto",
        "the hidden state the probe reads of an encoder of the Hub (wav2vec 2.0 family, Whisper, AST): a "
        "number (0: the embeddings; -1: the last), mean (every one's equal-weighted sum), or auto: the one "
        "inner patient-wise cross-validation prefers at each fit, reported per column (default auto)",
    )
    layers: ClassVar[int] = 1  # set per model by run_bench: the hidden states side by side in its embeddings
    batch_size: int | None = embedding_batch_size()
    device: str | None = option("device")
    threads: int | None = option("threads")

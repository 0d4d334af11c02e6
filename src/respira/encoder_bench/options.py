"""The options of ``respira bench``: here so that building the parser imports no model or fitting code."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..options import embedding_batch_size, flag, option

__all__ = ["DEFAULT_CACHE", "BenchOptions"]

DEFAULT_CACHE = "~/.cache/respira/bench"
"""Where the embeddings are kept per (encoder, recording) unless ``--cache_dir`` says."""


@dataclass(kw_only=True)
class BenchOptions:
    data: list[str] = flag(  # noqa: RUF009 (a field, as every flag() is)
        help="the labelled folders, each NAME=FOLDER: NAME a corpus (icbhi, kauh, sprsound) reads its "
        "layout (icbhi=A,B: one corpus in several folders), any other name a folder with labels.csv (with "
        "a patient column)",
        metavar="NAME=FOLDER",
    )
    output_dir: str = option("output_dir", "folder to create for the leaderboard", required=True)
    overwrite: bool = option("overwrite")
    tasks: list[str] | None = flag(None, "protocols to run (default: every one whose data is present)")  # noqa: RUF009
    cache_dir: str = flag(DEFAULT_CACHE, f"embeddings per (encoder, recording) (default {DEFAULT_CACHE})")
    sizes: list[int] = field(
        default_factory=lambda: [10, 20, 30],
        metadata={"help": "a site's labelled patients the site task fits on (default 10 20 30)"},
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
    batch_size: int | None = embedding_batch_size()
    device: str | None = option("device")
    threads: int | None = option("threads")

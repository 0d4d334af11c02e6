"""The sweep summary: every trial, best validation score first, as CSV, Markdown and a PNG."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from respira.reports.sweep_summary import SUMMARY_FILES, SweepTrial, summary_rows, write_sweep_summary


def _trials() -> list[SweepTrial]:
    return [
        SweepTrial("trial 0", 0, {"learning_rate": 1e-4, "head": "linear"}, 0.41),
        SweepTrial("trial 1", 1, {"learning_rate": 1e-2, "head": "mlp"}, 0.55),
        SweepTrial("trial 2", 2, {"learning_rate": 3e-3}, None, "interrupted, rerun"),
        SweepTrial("trial 3", 3, {"learning_rate": 1e-3, "head": "mlp"}, math.nan),
        SweepTrial("trial 4", 4, {"learning_rate": 3e-3, "head": "linear"}, 0.47),
    ]


def test_rows_are_best_first_with_unscored_trials_last() -> None:
    rows = summary_rows(_trials())
    assert [row["trial"] for row in rows] == ["trial 1", "trial 4", "trial 0", "trial 2", "trial 3"]
    assert [row["rank"] for row in rows] == [1, 2, 3, 4, 5]
    assert list(rows[0]) == ["rank", "trial", "state", "validation_icbhi_score", "learning_rate", "head"]
    assert rows[3]["head"] is None and rows[3]["state"] == "interrupted, rerun"


def test_the_files_hold_every_trial(tmp_path: Path) -> None:
    paths = write_sweep_summary(_trials(), tmp_path, title="a sweep")
    assert [path.name for path in paths] == list(SUMMARY_FILES)
    with (tmp_path / "sweep_summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["trial"] for row in rows][:3] == ["trial 1", "trial 4", "trial 0"]
    assert float(rows[0]["validation_icbhi_score"]) == 0.55 and float(rows[0]["learning_rate"]) == 1e-2
    markdown = (tmp_path / "sweep_summary.md").read_text().splitlines()
    assert markdown[0] == "# a sweep"
    assert markdown[4].startswith("| 1 | trial 1 | complete | 0.5500 | 0.01")
    assert (tmp_path / "sweep_summary.png").read_bytes()[:4] == b"\x89PNG"
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no partial files left

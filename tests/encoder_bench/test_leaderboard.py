"""The leaderboard's marks (:func:`respira.encoder_bench.leaderboard.marked`) and its Hub entries."""

from __future__ import annotations

import pytest

from respira.encoder_bench.leaderboard import columns, marked, model_index

COLUMN = ("an unseen hospital", "A → B", "icbhi_score")
KEYS = ("icbhi_score", "icbhi_score_low", "icbhi_score_high")


def _row(model: str, entry: str, *scores: float) -> dict:
    common = {"task": "unseen_site", "title": COLUMN[0], "column": COLUMN[1], "dataset": "kauh"}
    return {**common, "model": model, "entry": entry, **dict(zip(KEYS, scores, strict=False))}


def _rows(a: tuple[float, ...], b: tuple[float, ...]) -> list[dict]:
    return [
        _row("a", "probe", *a),
        _row("b", "probe", *b),
        _row("a", "all_normal", 0.5, 0.5, 0.5),
        _row("a", "class_prior", 0.4),
    ]


@pytest.mark.parametrize(
    ("a", "b", "best"),
    [
        ((0.70, 0.62, 0.78), (0.60, 0.55, 0.65), "a"),  # its lower end (62) above the next score (60)
        ((0.70, 0.58, 0.78), (0.60, 0.55, 0.65), None),  # the best, but its interval reaches the next
        ((0.45, 0.40, 0.50), (0.42, 0.38, 0.47), "all_normal"),  # a baseline no encoder beats is marked
        ((0.52, 0.45, 0.60), (0.42, 0.38, 0.47), None),  # above all-normal, not clear of it
    ],
)
def test_the_best_is_marked_only_where_its_interval_clears_the_next(a, b, best) -> None:
    assert marked(_rows(a, b), COLUMN) == best


def test_model_index_carries_the_probe_in_percent() -> None:
    rows = _rows((0.7, 0.6, 0.8), (0.6, 0.5, 0.7))
    assert columns(rows) == [COLUMN]
    (entry,) = model_index(rows, "a")["model-index"]
    (result,) = entry["results"]
    assert result["dataset"] == {"name": "A → B", "type": "kauh", "split": "an unseen hospital"}
    assert result["metrics"][0]["value"] == 70.0

"""studies/transfer_report.py: issue 19's goal check on the transfer study's results."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import _protocols as protocols
import transfer_report as report

DEVICES = ["A", "B"]


def result(scores: dict[tuple[int, int], float], auc: float = 0.6) -> dict:
    runs = [
        {"fold": fold, "seed": seed, "icbhi_score": score, "auc_crackle": auc, "auc_wheeze": auc}
        for (fold, seed), score in scores.items()
    ]
    return protocols.summarise(runs)


def test_devices_are_averaged_over_seeds_and_the_strict_interval_is_over_devices() -> None:
    scores = {(0, 0): 0.50, (0, 1): 0.60, (1, 0): 0.70, (1, 1): 0.80}
    runs = result(scores)["per_fold"]
    assert report.group_means(runs, DEVICES) == {"A": pytest.approx(0.55), "B": pytest.approx(0.75)}
    low, high = report.strict_interval("leave_one_device_out", runs, DEVICES)
    assert low < 0.65 < high  # t over 2 device means (1 degree of freedom): wider than over 4 runs
    loose = result(scores)["icbhi_score_ci95"]
    assert low < loose[0] and high > loose[1]


def test_the_goal_needs_55_both_intervals_above_50_and_no_lower_auc() -> None:
    reference = result({(0, 0): 0.5, (0, 1): 0.5, (1, 0): 0.5, (1, 1): 0.5}, auc=0.6)
    good = result({(0, 0): 0.56, (0, 1): 0.57, (1, 0): 0.56, (1, 1): 0.57}, auc=0.6)
    assert report.meets_goal(good, (0.51, 0.6), reference)
    assert not report.meets_goal(good, (0.49, 0.6), reference)  # the strict interval reaches 50
    assert not report.meets_goal(result({(0, 0): 0.54, (1, 0): 0.545}), (0.51, 0.6), reference)
    lower_auc = result({(0, 0): 0.56, (0, 1): 0.57, (1, 0): 0.56, (1, 1): 0.57}, auc=0.59)
    assert not report.meets_goal(lower_auc, (0.51, 0.6), reference)
    # AUCs are compared on the runs both have: a reference seed the method lacks does not count
    runs = result({(0, 0): 0.5, (0, 1): 0.5, (1, 0): 0.5, (1, 1): 0.5, (0, 2): 0.5}, auc=0.6)["per_fold"]
    runs[-1]["auc_crackle"] = 0.9  # raises the reference's mean AUC above the method's
    assert report.meets_goal(good, (0.51, 0.6), protocols.summarise(runs))
    wide = result({(0, 0): 0.40, (0, 1): 0.70, (1, 0): 0.56, (1, 1): 0.57})
    assert wide["icbhi_score_mean"] >= 0.55 and not report.meets_goal(wide, (0.51, 0.6), reference)

"""``respira evaluate``'s console tables (respira.evaluation.evaluate), from constructed metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from respira.cli import build_parser
from respira.evaluation.evaluate import label_table, split_options


def test_label_table_counts_both_cycles_as_positives_of_each_label() -> None:
    # rows: true class (normal, crackle, wheeze, both); a cycle with both is a crackle and a wheeze positive
    metrics = {
        "num_examples": 20,
        "confusion_matrix": [[6, 1, 0, 0], [2, 3, 0, 0], [1, 0, 2, 0], [0, 1, 0, 4]],
        "auc_crackle": 0.8,
        "average_precision_crackle": 0.7,
        "auc_wheeze": 0.9,
        "average_precision_wheeze": 0.6,
    }
    rows = {line.split()[0]: line.split() for line in label_table(metrics).splitlines()[2:]}
    assert rows["crackle"] == ["crackle", "10", "of", "20", "80.0", "70.0"]  # 5 crackle + 5 both
    assert rows["wheeze"] == ["wheeze", "8", "of", "20", "90.0", "60.0"]  # 3 wheeze + 5 both


def _recording_metrics(targets: np.ndarray, probabilities: np.ndarray, patients: np.ndarray) -> dict:
    from respira.evaluation.external_validation import _group_scores

    settings = {"resamples": 200, "seed": 0, "confidence": 0.95}
    overall = _group_scores(targets, probabilities, patients, (0.5, 0.5), **settings)
    return {"groups": {"overall": overall}, "bootstrap": {"confidence": 0.95}, "below_baseline": []}


def _row(table: str, label: str) -> str:
    return next(line for line in table.splitlines() if f" {label} " in f" {line} ")


def test_a_model_that_never_calls_a_label_is_said_so_not_too_few_samples() -> None:
    """9 crackle recordings of 30, crackle called on none: sensitivity 0.0 [0.0, 0.0] is the model's, on
    9 samples (more than 5: no small sample), and a line says it never called crackle."""
    from respira.evaluation.recording_report import never_called_lines, recording_level_table

    targets = np.array([[1, 0, 0]] * 9 + [[0, 1, 0]] * 6 + [[0, 0, 1]] * 15)
    probabilities = np.full((30, 2), 0.1)
    probabilities[9:15, 1] = 0.9  # wheeze called on its 6
    metrics = _recording_metrics(targets, probabilities, np.arange(30))
    row = _row(recording_level_table(metrics), "crackle")
    assert "0.0 [0.0, 0.0] (interval of zero width: every resample of the 9 gave the same score) " in row
    assert "(called on none)" in row and "too few" not in row
    assert "called on none" not in _row(recording_level_table(metrics), "wheeze")
    assert never_called_lines(metrics) == [
        "the model called crackle on none of the 30 recordings; 9 have crackles: its sensitivity of 0 is "
        "the model's, not a small sample's"
    ]


def test_too_few_samples_only_where_there_are_five_or_fewer() -> None:
    """4 crackle recordings, all missed while crackle is called on a normal one: too few (4 <= 5), and
    the model did call crackle: no never-called line."""
    from respira.evaluation.recording_report import never_called_lines, recording_level_table

    targets = np.array([[1, 0, 0]] * 4 + [[0, 0, 1]] * 26)
    probabilities = np.full((30, 2), 0.1)
    probabilities[4, 0] = 0.9
    metrics = _recording_metrics(targets, probabilities, np.arange(30))
    row = _row(recording_level_table(metrics), "crackle")
    assert "0.0 [0.0, 0.0] (interval of zero width: too few samples to mean anything: 4)" in row
    assert "called on none" not in row and never_called_lines(metrics) == []


def test_a_data_dir_beside_a_dataset_name_is_refused(tmp_path: Path) -> None:
    args = build_parser().parse_args(["evaluate", str(tmp_path), "--data_dir", "a", "--dataset_name", "b"])
    with pytest.raises(ValueError, match=r"^give --data_dir \(a\) or --dataset_name \(b\), not both$"):
        split_options(args, config=None)

"""``respira evaluate``'s console tables (respira.scoring.evaluate), from constructed metrics."""

from __future__ import annotations

from respira.scoring.evaluate import label_table


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

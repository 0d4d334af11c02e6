"""studies/loso_finetune.py's bookkeeping on hand-made runs: saved runs are scored at each threshold rule's
own thresholds, missing seeds are left out, and the pairing of the two methods."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import loso_finetune as study


def _kauh_sets() -> dict:
    # 4 recordings of 4 patients, 2 windows each: crackle, wheeze, both, normal
    flags = np.repeat([[1, 0], [0, 1], [1, 1], [0, 0]], 2, axis=0)
    return {
        "kauh": {
            "flags": flags,
            "patient": np.repeat(["p1", "p2", "p3", "p4"], 2),
            "recording": np.repeat(["r1", "r2", "r3", "r4"], 2),
            "poor": np.zeros(8, dtype=bool),
            "domain": np.full(8, "bell"),
        }
    }


def _save(folder: Path, probabilities: np.ndarray, pooled: tuple, worst: tuple) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        folder,
        **{
            "probs/kauh": probabilities,
            "thresholds_pooled": np.asarray(pooled),
            "thresholds_worst_site": np.asarray(worst),
            "train_seconds": np.asarray(1.0),
        },
    )


def test_saved_runs_are_scored_at_each_rules_thresholds(tmp_path: Path) -> None:
    sets = _kauh_sets()
    right = np.repeat([[0.9, 0.1], [0.1, 0.9], [0.9, 0.9], [0.1, 0.1]], 2, axis=0)
    for method in study.METHODS:
        # the pooled thresholds decide every recording right; the worst-site ones call all normal
        _save(tmp_path / "kauh" / method.name / "seed_0.npz", right, (0.5, 0.5), (0.95, 0.95))
    results = study.report(sets, tmp_path, seeds=[0, 1])  # seed 1 was never run: left out
    kauh = results["kauh"]
    assert set(kauh) == {f"{m.name}:{rule}" for m in study.METHODS for rule in study.RULES}
    assert kauh["finetune:pooled"]["kauh"]["icbhi_score"] == pytest.approx(100.0)
    assert kauh["finetune:worst_site"]["kauh"]["icbhi_score"] == pytest.approx(50.0)
    assert kauh["finetune:pooled"]["kauh"]["per_seed"] == pytest.approx([100.0])
    assert kauh["finetune:pooled"]["kauh"]["units"] == 4  # recordings, by their windows' maximum
    assert "| kauh | kauh (4) | finetune:pooled | 100.0" in study.table(results)


def test_the_pair_is_method_minus_reference_by_seed() -> None:
    def entry(scores: list[float], auc: float) -> dict:
        return {"per_seed": scores, "auc_crackle": auc, "auc_wheeze": auc}

    results = {
        "kauh": {"a": {"kauh": entry([50.0, 40.0], 60.0)}, "b": {"kauh": entry([55.0, 38.0], 64.0)}},
        "icbhi": {"a": {"icbhi": entry([45.0, 45.0], 50.0)}, "b": {"icbhi": entry([47.0, 49.0], 50.0)}},
    }
    row = study.paired(results, "a", "b")
    # deltas +5, -2 (kauh), +2, +4 (icbhi): mean +2.25, 3 of 4 better; crackle AUC +4 and +0: +2.0
    assert "kauh/kauh +1.5" in row and "icbhi/icbhi +3.0" in row
    assert "| +2.25 |" in row and "| 3/4 |" in row and "auc_crackle +2.0" in row
    assert "fewer than two pairs" in study.paired({"kauh": {"a": results["kauh"]["a"]}}, "a", "b")


def test_the_frozen_head_is_paired_seed_by_seed(tmp_path: Path) -> None:
    sets = _kauh_sets()
    right = np.repeat([[0.9, 0.1], [0.1, 0.9], [0.9, 0.9], [0.1, 0.1]], 2, axis=0)
    for seed in (0, 2):  # seed 1 not run yet
        _save(tmp_path / "kauh" / "finetune" / f"seed_{seed}.npz", right, (0.5, 0.5), (0.5, 0.5))
    results = study.report(sets, tmp_path, seeds=[0, 1, 2])
    frozen = {
        "kauh": {
            name: {"kauh": {"per_seed": [40.0, 45.0, 60.0], "auc_crackle": 50.0, "auc_wheeze": 50.0}}
            for name in ("pooled", "worst_site_thresholds")
        }
    }
    merged = study.with_frozen_head(results, frozen)
    assert merged["kauh"]["frozen:pooled"]["kauh"]["per_seed"] == [40.0, 60.0]  # seeds 0 and 2
    row = study.paired(merged, "frozen:pooled", "finetune:pooled")
    assert "kauh/kauh +50.0" in row  # (100 − 40 + 100 − 60) / 2

"""The pieces of studies/leave_one_site_out.py on hand-made unit sets: which units train, how a recording
is weighed and decided, the per-site standardisation, per-row thresholds, and few-shot calibration."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import leave_one_site_out as loso


def _rows(site: str, patients: list[str], recordings: list[str], flags: list[list[int]], x: float) -> dict:
    n = len(patients)
    return {
        "x": np.full((n, 3), x) + np.arange(n)[:, None] * 0.1,
        "logmel": np.zeros((n, 2)),
        "flags": np.asarray(flags, dtype=np.int64),
        "domain": np.full(n, site),
        "patient": np.asarray(patients),
        "recording": np.asarray(recordings),
        "poor": np.zeros(n, dtype=bool),
    }


@pytest.fixture
def sets() -> dict:
    return {
        "icbhi": _rows("icbhi", ["a", "a", "b"], ["r1", "r1", "r2"], [[0, 0], [1, 0], [0, 1]], 0.0),
        # KAUH: recording k1 cut into 3 windows, k2 into 1
        "kauh": _rows("kauh", ["k", "k", "k", "m"], ["k1", "k1", "k1", "k2"], [[1, 0]] * 3 + [[0, 0]], 5.0),
        "sprsound": _rows("sprsound", ["s", "t"], ["e1", "e2"], [[0, 1], [0, 0]], 9.0),
        "sprsound_windows": _rows("sprsound", ["s", "t"], ["e1", "e2"], [[0, 1], [0, 0]], 9.0),
    }


def test_the_pool_leaves_out_the_held_out_site_and_weighs_a_recording_once(sets: dict) -> None:
    pool = loso.pool_of(sets, "icbhi")
    assert set(pool["site"]) == {"kauh", "sprsound"}
    kauh = pool["site"] == "kauh"
    assert pool["weight"][kauh] == pytest.approx([1 / 3] * 3 + [1.0])  # each recording's windows sum to 1
    assert pool["weight"][~kauh] == pytest.approx([1.0, 1.0])  # events count one each
    assert len(set(pool["unit"][kauh])) == 2 and len(set(pool["unit"][~kauh])) == 2
    inside = loso.pool_of(sets, None, frozenset({"a", "k"}))  # in domain: a fold's patients held out
    assert "a" not in inside["patient"] and "k" not in inside["patient"] and "b" in inside["patient"]


def test_a_recording_is_decided_by_its_largest_window(sets: dict) -> None:
    pool = loso.pool_of(sets, "icbhi")
    probabilities = np.array([[0.1, 0.2], [0.7, 0.1], [0.3, 0.9], [0.2, 0.2], [0.5, 0.5], [0.4, 0.4]])
    flags, pooled, _, sites = loso.units(pool, probabilities)
    by_unit = dict(zip(np.unique(pool["unit"]), pooled.tolist(), strict=True))
    assert by_unit["kauh:k1"] == [0.7, 0.9] and by_unit["kauh:k2"] == [0.2, 0.2]
    assert len(flags) == 4 and set(sites) == {"kauh", "sprsound"}


def test_per_site_standardisation_uses_each_sites_own_statistics() -> None:
    norm = loso.standardiser(np.zeros((1, 1)), np.array(["x"]))
    z = np.array([[1.0], [3.0], [10.0], [14.0]])
    scaled = norm(z, np.array(["a", "a", "b", "b"]))
    assert scaled[:, 0] == pytest.approx([-1, 1, -1, 1], abs=1e-4)  # a: mean 2, std 1; b: mean 12, std 2
    pooled = loso.standardiser(z)(z)
    assert pooled[:, 0] == pytest.approx((z[:, 0] - 7) / np.sqrt(27.5), abs=1e-4)


def test_per_row_thresholds_decide_each_unit_at_its_own_folds() -> None:
    rows = {
        "flags": np.array([[1, 0], [0, 0]]),
        "patient": np.array(["p", "q"]),
        "unit": np.array(["0", "1"]),
    }
    probabilities = np.array([[0.4, 0.0], [0.4, 0.0]])
    # unit 0's fold decides crackle at 0.3 (found), unit 1's at 0.5 (normal, right): Se 1, Sp 1
    per_row = np.array([[0.3, 0.5], [0.5, 0.5]])
    result = loso.evaluate_target("t", rows, [(probabilities, per_row)])
    assert result["icbhi_score"] == pytest.approx(100.0)
    one = loso.evaluate_target("t", rows, [(probabilities, (0.5, 0.5))])  # one threshold misses unit 0
    assert one["sensitivity"] == 0.0 and one["specificity"] == 100.0


def test_few_shot_calibration_is_scored_on_the_patients_it_did_not_see() -> None:
    rng = np.random.default_rng(0)
    patients = np.repeat([f"p{i}" for i in range(8)], 10)
    flags = np.column_stack([rng.integers(0, 2, patients.size), np.zeros(patients.size, dtype=np.int64)])
    probs = np.column_stack([0.6 + 0.2 * flags[:, 0] + 0.01 * rng.random(patients.size), np.zeros(80)])
    rows = {"flags": flags, "patient": patients, "unit": np.arange(80).astype(str), "x": probs}
    trained = loso.Trained(
        predict_target=lambda r: r["x"], thresholds=(0.5, 0.5), oof=probs, pool=rows,
        head=lambda x: x,
    )  # fmt: skip
    result = loso.few_shot(rows, [trained], 3)
    # the model's 0.5 calls every unit crackle (Sp 0, Se 1: 50); re-tuned between 0.6 and 0.8 it is perfect
    assert result["reference_score"] == pytest.approx(50.0)
    assert result["icbhi_score"] == pytest.approx(100.0)
    assert result["units"] == 80

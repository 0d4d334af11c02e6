"""respira.evaluation.cycles.evaluate_model and ``respira evaluate``'s table: headlines beside their
trivial baselines, flagged when they do not beat them."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np

from respira.evaluation.cycles import evaluate_model
from respira.evaluation.evaluate import score_table
from respira.hub.loading import load_model
from respira.models.respira.labels import MULTI_LABEL

from ..conftest import RATE, save_tiny_model


def _cycles() -> datasets.Dataset:
    """Six cycles of three patients: patient 1 normal only, 2 crackle only, 3 one of each."""
    rng = np.random.default_rng(0)
    rows = {
        "audio": [{"array": 0.1 * rng.standard_normal(RATE), "sampling_rate": RATE} for _ in range(6)],
        "label": [0, 0, 1, 1, 0, 1],
        "patient_id": [1, 1, 2, 2, 3, 3],
    }
    return datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(sampling_rate=RATE))


def test_a_model_no_better_than_all_normal_is_flagged_in_the_metrics_and_the_table(tmp_path: Path) -> None:
    # thresholds of 1: the model calls every cycle normal, so it ties with the all-normal baseline
    folder = save_tiny_model(tmp_path / "model", problem_type=MULTI_LABEL, decision_thresholds=[1.0, 1.0])
    model, _ = load_model(str(folder))
    metrics = evaluate_model(model, _cycles(), output_dir=tmp_path / "report")
    assert metrics["icbhi_score"] == metrics["baseline_all_normal_icbhi_score"] == 0.5
    stored = json.loads((tmp_path / "report" / "metrics.json").read_text())
    flagged = {entry["key"]: entry for entry in stored["below_baseline"]}
    assert set(flagged) == {"icbhi_score", "patient_icbhi_score"}
    assert (
        flagged["icbhi_score"]["baseline"] == "all-normal" and flagged["icbhi_score"]["baseline_value"] == 0.5
    )
    table = score_table(metrics)
    line = next(row for row in table.splitlines() if row.strip().startswith("per-patient ICBHI score"))
    assert line.endswith(
        f"BELOW BASELINE (all-normal {100 * metrics['baseline_all_normal_patient_icbhi_score']:.1f})"
    )  # in %, the scale of everything a person reads
    assert "BELOW" not in next(row for row in table.splitlines() if "specificity" in row)
    assert "BELOW" not in score_table({**metrics, "below_baseline": []})

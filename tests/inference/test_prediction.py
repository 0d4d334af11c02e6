"""respira.inference.prediction: a recording's verdict from its rows, and the Prediction's tables."""

from __future__ import annotations

import json

import pytest

from respira import RespiraConfig
from respira.inference.prediction import Prediction, PredictionError
from respira.models.respira.labels import MULTI_LABEL

THRESHOLDS = [0.3, 0.7]
ROWS = [
    {"start": 0.0, "end": 4.0, "crackle": 0.10, "wheeze": 0.65, "label": "normal"},
    {"start": 2.0, "end": 6.0, "crackle": 0.40, "wheeze": 0.20, "label": "crackle"},
    {"start": 4.0, "end": 8.0, "crackle": 0.20, "wheeze": 0.60, "label": "normal"},
]


@pytest.fixture(scope="module")
def config() -> RespiraConfig:
    return RespiraConfig(problem_type=MULTI_LABEL, decision_thresholds=THRESHOLDS)


def test_the_verdict_aggregates_each_label_then_decides_at_the_thresholds(config: RespiraConfig) -> None:
    verdict = Prediction.from_rows(ROWS, config, "max", None, "a.wav")
    assert (verdict.crackle, verdict.wheeze, verdict.label) == (0.40, 0.65, "crackle")  # wheeze 0.65 < 0.7
    assert verdict.thresholds == tuple(THRESHOLDS) and verdict.file == "a.wav" and verdict.warning is None
    verdict = Prediction.from_rows(ROWS, config, "topk_mean", 2, None)
    assert (verdict.crackle, verdict.wheeze) == pytest.approx((0.30, 0.625)) and verdict.label == "crackle"
    assert verdict.top_k == 2  # 0.30 reaches 0.3
    assert Prediction.from_rows(ROWS[:1], config, "max", None, None).label == "normal"
    warned = [{**row, "warning": "too short"} for row in ROWS]
    assert Prediction.from_rows(warned, config, "max", None, None).warning == "too short"


def test_a_prediction_becomes_one_summary_row_and_json(config: RespiraConfig) -> None:
    prediction = Prediction.from_rows(ROWS, config, "max", None, "a.wav")
    crackle, wheeze, label, thresholds = (
        prediction.crackle,
        prediction.wheeze,
        prediction.label,
        prediction.thresholds,
    )
    assert prediction.summary() == {
        "file": "a.wav",
        "label": "crackle",
        "crackle": 0.40,
        "wheeze": 0.65,
        "windows": 3,
        "aggregation": "max",
        "top_k": None,
        "warning": None,  # a recording the model can judge (respira.models.respira.audio_decoding)
    }
    cycles = Prediction([{**ROWS[0], "annotated_label": "normal"}], 0.1, 0.65, "normal", "max", thresholds)
    assert cycles.summary()["cycles"] == 1 and "windows" not in cycles.summary()
    data = json.loads(json.dumps(prediction.to_dict()))
    assert data["rows"] == ROWS and data["thresholds"] == THRESHOLDS and data["label"] == "crackle"
    assert list(prediction.to_pandas()["crackle"]) == [row["crackle"] for row in ROWS]
    assert (
        "largest" not in prediction.description
        and "2 largest"
        in Prediction(ROWS, crackle, wheeze, label, "topk_mean", thresholds, top_k=2).description
    )


def test_a_prediction_error_is_a_value_error() -> None:
    assert issubclass(PredictionError, ValueError)

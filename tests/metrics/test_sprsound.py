"""SPRSound challenge scores (SE, SP, AS, HS, Score), label maps and baselines on hand-computed cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from respira.data.sprsound import EVENT_TYPES, RECORD_LABELS
from respira.metrics import UndefinedMetricWarning
from respira.metrics.sprsound import (
    SPRSOUND_TASKS,
    coarsen_labels,
    flags_to_sprsound,
    sprsound_baselines,
    sprsound_scores,
)
from respira.models.respira.labels import classes_to_flags

N, ADV, PQ = "Normal", "Adventitious", "Poor Quality"


def test_labels_are_spelled_as_in_the_annotation_files() -> None:
    assert set(EVENT_TYPES) == {
        "Normal", "Fine Crackle", "Coarse Crackle", "Wheeze", "Rhonchi", "Stridor", "Wheeze+Crackle"
    }  # fmt: skip
    assert set(RECORD_LABELS) == {"Normal", "CAS", "DAS", "CAS & DAS", "Poor Quality"}
    assert SPRSOUND_TASKS["1-1"] == (N, ADV)
    assert SPRSOUND_TASKS["1-2"] == EVENT_TYPES
    # the organisers' index order: Normal first, Poor Quality second on the record tasks
    assert SPRSOUND_TASKS["2-1"] == (N, PQ, ADV)
    assert SPRSOUND_TASKS["2-2"] == (N, PQ, "CAS", "DAS", "CAS & DAS")


def test_task_1_1_by_hand() -> None:
    # 10 events: 6 normal of which 5 predicted Normal -> SP 5/6; 4 adventitious of which 3 found -> SE 3/4
    references = [N] * 6 + [ADV] * 4
    predictions = [N] * 5 + [ADV] + [ADV] * 3 + [N]
    scores = sprsound_scores("1-1", references, predictions)
    assert scores["se"] == pytest.approx(3 / 4)
    assert scores["sp"] == pytest.approx(5 / 6)
    assert scores["as"] == pytest.approx(19 / 24)  # (3/4 + 5/6) / 2 = (18 + 20) / 48
    assert scores["hs"] == pytest.approx(15 / 19)  # 2·(3/4)(5/6) / (19/12) = (5/4)·(12/19)
    assert scores["score"] == pytest.approx(721 / 912)  # (361/456 + 360/456) / 2
    assert (scores["n"], scores["n_normal"], scores["n_adventitious"], scores["n_poor_quality"]) == (
        10,
        6,
        4,
        0,
    )
    # class indices give the same scores
    indices = sprsound_scores("1-1", [0] * 6 + [1] * 4, np.array([0] * 5 + [1] * 4 + [0]))
    assert indices == scores


def test_task_1_2_is_strict_and_its_coarsening_is_binary() -> None:
    references = [N, N, "Wheeze", "Wheeze", "Rhonchi", "Fine Crackle", "Wheeze+Crackle", "Stridor"]
    predictions = [N, N, "Wheeze", "Rhonchi", "Rhonchi", "Coarse Crackle", "Wheeze+Crackle", N]
    scores = sprsound_scores("1-2", references, predictions)
    # SP 2/2; SE: Wheeze, Rhonchi, Wheeze+Crackle right; Wheeze->Rhonchi, Fine->Coarse, Stridor->Normal wrong
    assert scores["sp"] == 1.0
    assert scores["se"] == pytest.approx(3 / 6)
    assert scores["as"] == pytest.approx(3 / 4)
    assert scores["hs"] == pytest.approx(2 / 3)  # 2·(1/2)·1 / (3/2)
    assert scores["score"] == pytest.approx(17 / 24)  # (3/4 + 2/3) / 2
    # on task 1-1 only Stridor->Normal is a miss: SE 5/6
    binary = sprsound_scores("1-1", coarsen_labels("1-1", references), coarsen_labels("1-1", predictions))
    assert binary["se"] == pytest.approx(5 / 6)
    assert binary["sp"] == 1.0


def test_task_2_1_leaves_poor_quality_records_out_of_se_unless_asked() -> None:
    # 4 normal (one predicted Poor Quality), 3 adventitious (one right, one Poor Quality, one Normal), 2 PQ
    references = [N, N, N, N, ADV, ADV, ADV, PQ, PQ]
    predictions = [N, N, N, PQ, ADV, PQ, N, PQ, N]
    official = sprsound_scores("2-1", references, predictions)
    assert official["sp"] == pytest.approx(3 / 4)  # a normal record predicted Poor Quality is a miss
    assert official["se"] == pytest.approx(1 / 3)  # adventitious predicted Poor Quality is a miss
    assert official["hs"] == pytest.approx(6 / 13)  # 2·(1/3)(3/4) / (13/12)
    assert official["score"] == pytest.approx((13 / 24 + 6 / 13) / 2)
    assert (official["n_adventitious"], official["n_poor_quality"]) == (3, 2)


def test_task_2_2_by_hand_with_indices() -> None:
    # 0 Normal, 1 Poor Quality, 2 CAS, 3 DAS, 4 CAS & DAS
    references = [N, N, "CAS", "DAS", "CAS & DAS", "CAS"]
    predictions = [0, 0, 2, 4, 4, 0]  # DAS -> CAS & DAS and CAS -> Normal are misses
    scores = sprsound_scores("2-2", references, predictions)
    assert (scores["se"], scores["sp"]) == (pytest.approx(2 / 4), 1.0)
    assert scores["score"] == pytest.approx(17 / 24)
    assert sprsound_scores("2-2", [1], [PQ], warn=False)["n_poor_quality"] == 1


def test_all_correct_scores_one_and_zero_se_and_sp_score_zero() -> None:
    for task, classes in SPRSOUND_TASKS.items():
        perfect = sprsound_scores(task, list(classes), list(classes))
        assert all(perfect[key] == 1.0 for key in ("se", "sp", "as", "hs", "score")), task
    swapped = sprsound_scores("1-1", [N, ADV], [ADV, N])
    assert (swapped["se"], swapped["sp"], swapped["hs"], swapped["score"]) == (0.0, 0.0, 0.0, 0.0)


def test_undefined_se_or_sp_is_nan_with_a_warning_as_in_icbhi() -> None:
    with pytest.warns(UndefinedMetricWarning, match="sp"):
        no_normal = sprsound_scores("1-2", ["Wheeze", "Rhonchi"], ["Wheeze", N])
    assert math.isnan(no_normal["sp"])
    assert no_normal["se"] == no_normal["as"] == no_normal["hs"] == no_normal["score"] == 0.5
    with pytest.warns(UndefinedMetricWarning, match="se"):
        no_adventitious = sprsound_scores("2-2", [N, N, PQ], [N, "CAS", PQ])
    assert math.isnan(no_adventitious["se"])
    assert no_adventitious["score"] == 0.5  # the defined SP
    with pytest.warns(UndefinedMetricWarning):
        only_poor = sprsound_scores("2-1", [PQ], [PQ])
    assert math.isnan(only_poor["score"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(sprsound_scores("1-1", [ADV], [ADV], warn=False)["sp"])


def test_bad_input_is_one_line_value_error() -> None:
    cases = [
        (("3-1", [N], [N]), "unknown SPRSound task '3-1'"),
        (("1-1", ["Wheeze"], [N]), r"references\[0\] = 'Wheeze' is not a task 1-1 label"),
        (("2-2", [N], ["Wheeze+Crackle"]), r"predictions\[0\] = 'Wheeze\+Crackle' is not a task 2-2"),
        (("1-1", [0, 2], [0, 0]), r"references\[1\] = 2"),
        (("1-2", np.array([0, 7]), [0, 0]), "outside 0..6"),
        (("1-1", [N, N], [N]), "different lengths: 2 != 1"),
        (("1-1", [], []), "empty"),
    ]
    for arguments, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            sprsound_scores(*arguments)
        assert "\n" not in str(error.value)


def test_flags_map_to_task_labels() -> None:
    flags = [[0, 0], [1, 0], [0, 1], [1, 1]]  # neither, crackle, wheeze, both
    assert flags_to_sprsound("1-1", flags) == [N, ADV, ADV, ADV]
    assert flags_to_sprsound("2-1", flags) == [N, ADV, ADV, ADV]
    assert flags_to_sprsound("2-2", flags) == [N, "DAS", "CAS", "CAS & DAS"]
    # respira's four classes go through their flags
    assert flags_to_sprsound("2-2", classes_to_flags([3, 0])) == ["CAS & DAS", N]
    with pytest.raises(ValueError, match="1-2"):
        flags_to_sprsound("1-2", flags)
    with pytest.raises(ValueError, match="0/1"):
        flags_to_sprsound("2-2", [[2, 0]])


def test_coarsening_to_the_binary_and_ternary_tasks() -> None:
    assert coarsen_labels("1-1", list(EVENT_TYPES)) == [N] + [ADV] * 6
    assert coarsen_labels("2-1", list(RECORD_LABELS)) == [N, PQ, ADV, ADV, ADV]
    assert coarsen_labels("2-1", [ADV, PQ]) == [ADV, PQ]  # already coarse
    with pytest.raises(ValueError, match=r"labels\[1\] = 'CAS' cannot be coarsened to task 1-1"):
        coarsen_labels("1-1", [N, "CAS"])
    with pytest.raises(ValueError, match="only coarsen to task 1-1 or 2-1"):
        coarsen_labels("2-2", [N])


def test_all_normal_and_class_prior_baselines_by_hand() -> None:
    # 2-2: Normal ×2, CAS, DAS, CAS & DAS, Poor Quality -> prior (2, 1, 1, 1, 1) / 6
    references = [N, N, "CAS", "DAS", "CAS & DAS", PQ]
    baselines = sprsound_baselines("2-2", references)
    # all-normal: SE 0, SP 1, AS 1/2, HS 0, Score (1/2 + 0) / 2 = 1/4
    assert [baselines[f"baseline_all_normal_{k}"] for k in ("se", "sp", "as", "hs", "score")] == [
        0.0, 1.0, 0.5, 0.0, 0.25
    ]  # fmt: skip
    assert baselines["baseline_class_prior_sp"] == pytest.approx(2 / 6)
    assert baselines["baseline_class_prior_se"] == pytest.approx(1 / 6)  # (1/6 + 1/6 + 1/6) / 3
    assert baselines["baseline_class_prior_as"] == pytest.approx(1 / 4)
    # 1-1, prior (1/4, 3/4) from [N, ADV, ADV, ADV]: SP ~ Bernoulli(1/4) on one sample, SE ~ Binomial(3,
    # 3/4) / 3; HS = 2·SE·SP / (SE + SP) is 0 unless SP = 1: E[HS] = 1/4 · Σ P(k) · 2(k/3) / (k/3 + 1)
    tiny = sprsound_baselines("1-1", [N, ADV, ADV, ADV])
    pmf = [1 / 64, 9 / 64, 27 / 64, 27 / 64]  # Binomial(3, 3/4) at k = 0..3
    hs = sum(p * 2 * (k / 3) / (k / 3 + 1) for k, p in enumerate(pmf)) / 4
    assert tiny["baseline_class_prior_hs"] == pytest.approx(hs)
    assert tiny["baseline_class_prior_score"] == pytest.approx(((3 / 4 + 1 / 4) / 2 + hs) / 2)
    assert sprsound_baselines("1-1", [N, N])["baseline_all_normal_score"] == 1.0  # SE undefined
    with pytest.raises(ValueError, match="unknown SPRSound task"):
        sprsound_baselines("2-3", [N])


def test_class_prior_is_the_expected_score_of_random_draws() -> None:
    references = [N] * 6 + [ADV] * 4 + [PQ] * 2  # task 2-1; prior (1/2, 1/6, 1/3) in (N, PQ, Adv) order
    expected = sprsound_baselines("2-1", references)
    prior = np.array([6, 2, 4]) / 12
    rng = np.random.default_rng(0)
    draws = [
        sprsound_scores("2-1", references, rng.choice(3, size=12, p=prior), warn=False) for _ in range(4000)
    ]
    for key in ("se", "sp", "hs", "score"):
        mean = np.nanmean([draw[key] for draw in draws])
        assert expected[f"baseline_class_prior_{key}"] == pytest.approx(mean, abs=0.01), key
    # HS is not linear: its expectation is well below HS(E[SE], E[SP]) = 2·(1/3)(1/2) / (5/6) = 0.4
    assert expected["baseline_class_prior_hs"] < 0.4 - 0.05

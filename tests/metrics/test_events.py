"""Event-detection scores through sed_eval and sed_scores_eval, each checked against hand arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from respira.metrics.events import event_based_scores, segment_based_scores, threshold_independent_scores
from respira.models.respira.decision import Event

approx = pytest.approx


def test_event_based_scores_match_a_hand_count():
    # crackle 1.0-2.0 is found by 1.1-2.1 (onset 0.1 <= 0.2 collar; offset 0.1 <= max(0.2, 0.2 x 1 s));
    # wheeze 3.0-4.0 is missed (D = 1) and 6.0-7.0 is inserted (I = 1); N = 2, S = 0
    # overall: P = 1/2, R = 1/2, F = 0.5, ER = (S + D + I) / N = (0 + 1 + 1) / 2 = 1.0
    # crackle: P = R = F = 1, ER = 0; wheeze: P = R = F = 0, ER = (D + I) / N = (1 + 1) / 1 = 2
    references = {"a": [Event(1.0, 2.0, "crackle"), Event(3.0, 4.0, "wheeze")]}
    estimates = {"a": [Event(1.1, 2.1, "crackle", 0.9), Event(6.0, 7.0, "wheeze", 0.8)]}
    scores = event_based_scores(references, estimates)
    overall = scores["overall"]
    assert overall["precision"] == approx(0.5) and overall["recall"] == approx(0.5)
    assert overall["f_measure"] == approx(0.5) and overall["error_rate"] == approx(1.0)
    assert (overall["substitution_rate"], overall["deletion_rate"], overall["insertion_rate"]) == approx(
        (0, 0.5, 0.5)
    )
    counts = ("reference", "estimated", "true_positives", "substitutions", "deletions", "insertions")
    assert [overall[key] for key in counts] == [2, 2, 1, 0, 1, 1]
    assert scores["crackle"]["f_measure"] == approx(1.0) and scores["crackle"]["error_rate"] == approx(0.0)
    assert scores["wheeze"]["f_measure"] == 0.0 and scores["wheeze"]["error_rate"] == approx(2.0)
    # class average = mean of the two labels: F (1 + 0) / 2, ER (0 + 2) / 2
    assert scores["class_average"]["f_measure"] == approx(0.5) and scores["class_average"][
        "error_rate"
    ] == approx(1.0)
    assert all(type(value) is float for level in scores.values() for value in level.values())


def test_a_right_time_with_the_wrong_label_is_a_substitution():
    # crackle 1-2 annotated, wheeze 1-2 detected: S = 1, D = I = 0 overall, ER = 1 / 1; no true positive.
    # Per label there is no substitution: crackle D = 1 (ER 1), wheeze I = 1 with no wheeze reference
    # (ER undefined: nan, not sed_eval's 1 / eps)
    scores = event_based_scores({"a": [(1.0, 2.0, "crackle")]}, {"a": [(1.0, 2.0, "wheeze")]})
    overall = scores["overall"]
    assert [overall[k] for k in ("substitutions", "deletions", "insertions", "true_positives")] == [
        1,
        0,
        0,
        0,
    ]
    assert overall["error_rate"] == approx(1.0) and overall["f_measure"] == 0.0
    assert scores["crackle"]["error_rate"] == approx(1.0) and scores["crackle"]["deletions"] == 1
    assert math.isnan(scores["wheeze"]["error_rate"]) and math.isnan(scores["wheeze"]["recall"])
    assert scores["wheeze"]["insertions"] == 1 and scores["wheeze"]["precision"] == 0.0
    assert scores["class_average"]["error_rate"] == approx(1.0)  # the defined one only


def test_the_collars_reach_sed_eval():
    reference = [Event(0.0, 4.0, "wheeze")]
    late_onset = [Event(0.25, 4.0, "wheeze")]  # 0.25 s late: outside a 0.2 s collar, inside 0.3 s
    assert event_based_scores(reference, late_onset)["overall"]["true_positives"] == 0
    assert event_based_scores(reference, late_onset, t_collar=0.3)["overall"]["true_positives"] == 1
    # offset 0.7 s late: within max(0.2, 0.2 x 4 s = 0.8) but not max(0.2, 0.1 x 4 s = 0.4)
    late_offset = [Event(0.0, 4.7, "wheeze")]
    assert event_based_scores(reference, late_offset)["overall"]["true_positives"] == 1
    by_length = event_based_scores(reference, late_offset, percentage_of_length=0.1)
    assert by_length["overall"]["true_positives"] == 0


def test_files_are_scored_together_and_a_file_without_estimates_has_none():
    # file a: crackle found; file b: crackle missed (no estimates given) → N = 2, TP = 1, D = 1
    references = {"a": [Event(1.0, 2.0, "crackle")], "b": [Event(0.5, 0.7, "crackle")]}
    scores = event_based_scores(references, {"a": [Event(1.0, 2.0, "crackle")]})
    assert scores["crackle"]["recall"] == approx(0.5) and scores["crackle"]["precision"] == approx(1.0)
    assert scores["overall"]["deletions"] == 1
    # the same events in one file with times that never meet other files' would score the same,
    # but b's crackle matched against a's estimate would not: files are kept apart
    crossed = event_based_scores(references, {"b": [Event(1.0, 2.0, "crackle")]})
    assert crossed["overall"]["true_positives"] == 0


def test_segment_based_scores_match_a_hand_count():
    # 1 s segments: ref crackle 0-2 (segments 0, 1), wheeze 2-3 (2), crackle 5-6 (5);
    # est crackle 0.5-1.5 (0, 1), wheeze 4.2-4.8 (4), wheeze 5-6 (5)
    # segment 0, 1: hit; 2: wheeze deleted; 4: wheeze inserted; 5: crackle → wheeze, a substitution
    # overall N = 4, TP = 2 → P = R = F = 0.5; S = 1, D = 1, I = 1 → ER = 3 / 4
    # crackle: N 3, sys 2, TP 2 → P 1, R 2/3, F 0.8, ER (D 1 + I 0) / 3
    # wheeze: N 1, sys 2, TP 0 → F 0, ER (D 1 + I 2) / 1 = 3
    references = {"a": [Event(0.0, 2.0, "crackle"), Event(2.0, 3.0, "wheeze"), Event(5.0, 6.0, "crackle")]}
    estimates = {"a": [Event(0.5, 1.5, "crackle"), Event(4.2, 4.8, "wheeze"), Event(5.0, 6.0, "wheeze")]}
    scores = segment_based_scores(references, estimates, time_resolution=1.0)
    overall = scores["overall"]
    assert (overall["precision"], overall["recall"], overall["f_measure"]) == approx((0.5, 0.5, 0.5))
    assert [overall[k] for k in ("substitutions", "deletions", "insertions")] == [1, 1, 1]
    assert overall["error_rate"] == approx(0.75)
    assert (scores["crackle"]["recall"], scores["crackle"]["f_measure"]) == approx((2 / 3, 0.8))
    assert scores["crackle"]["error_rate"] == approx(1 / 3)
    assert scores["wheeze"]["f_measure"] == 0.0 and scores["wheeze"]["error_rate"] == approx(3.0)
    # 2 s segments [0, 2), [2, 4), [4, 6): hit; wheeze deleted; crackle vs wheeze substituted
    # N = 3, sys = 2, TP = 1 → P 1/2, R 1/3, F 0.4; S 1, D 1, I 0 → ER 2/3
    coarse = segment_based_scores(references, estimates, time_resolution=2.0)["overall"]
    assert (coarse["precision"], coarse["recall"], coarse["f_measure"]) == approx((0.5, 1 / 3, 0.4))
    assert coarse["error_rate"] == approx(2 / 3)
    # a 4 s recording: segments 4 and 5 are past its end → N 3, TP 2, D 1, no insertion or substitution
    cut = segment_based_scores(references, estimates, durations={"a": 4.0})["overall"]
    assert [cut[k] for k in ("reference", "true_positives", "substitutions", "deletions", "insertions")] == [
        3,
        2,
        0,
        1,
        0,
    ]


@pytest.mark.parametrize(
    ("references", "estimates", "message"),
    [
        ({"a": [(1.0, 2.0, "rhonchus")]}, {}, "has label 'rhonchus'"),
        ({"a": [(2.0, 2.0, "crackle")]}, {}, "0 <= onset < offset"),
        ({"a": [(3.0, 2.0, "crackle")]}, {}, "0 <= onset < offset"),
        ({"a": [(-1.0, 2.0, "crackle")]}, {}, "0 <= onset < offset"),
        ({"a": [(float("nan"), 2.0, "crackle")]}, {}, "0 <= onset < offset"),
        ({"a": [(1.0, "late", "crackle")]}, {}, r"must be \(onset, offset, label\)"),
        ({"a": [1.0]}, {}, r"must be \(onset, offset, label\)"),
        ({}, {}, "no reference files"),
        ({"a": []}, {"b": [(1.0, 2.0, "crackle")]}, r"files without references: \['b'\]"),
        ({"a": []}, {"a": [(1.0, 2.0, "wheez")]}, "estimated event of 'a' has label 'wheez'"),
        ({"a": []}, "crackle", "must be {file: events}"),
    ],
)
def test_bad_events_raise_one_line(references, estimates, message):
    for score in (event_based_scores, segment_based_scores):
        with pytest.raises(ValueError, match=message) as error:
            score(references, estimates)
        assert "\n" not in str(error.value)


def scored_recording(seconds=72.0):
    """0.1 s frames of one recording: a true crackle 1.0-1.5 s scored 0.6, a false one 30.0-30.5 s
    scored 0.9, a true wheeze 5.0-6.0 s scored 0.8, zeros elsewhere."""
    posteriors = np.zeros((round(seconds / 0.1), 2))
    posteriors[10:15, 0] = 0.6
    posteriors[300:305, 0] = 0.9
    posteriors[50:60, 1] = 0.8
    references = {"a": [Event(1.0, 1.5, "crackle"), Event(5.0, 6.0, "wheeze")]}
    return {"a": posteriors}, references


def test_threshold_independent_scores_match_a_hand_count():
    # intersection-based, DTC = GTC = 0.5. Crackle: above 0.6 only the false 0.9 detection (F 0); from
    # 0.6 down both: TP 1, FP 1 → P 1/2, R 1, best F1 2/3 (threshold midway between 0.6 and 0: 0.3);
    # at 0 the whole recording is one detection, failing the DTC. Wheeze: F1 1 from 0.8 down.
    # macro best F1 (2/3 + 1) / 2 = 5/6; micro at those thresholds TP 2, FP 1, N 2 → F1 0.8.
    # PSDS (eFPR per hour, max 100): 72 s = 0.02 h, so the one false crackle is 50 / h. Crackle's
    # ROC is TPR 0 below eFPR 50 and 1 from it: area 50 / 100 = 0.5; wheeze's is 1 everywhere: 1.
    # Their mean ROC is 0.5 below 50 and 1 above: PSDS = (0.5 x 50 + 1 x 50) / 100 = 0.75.
    scores, references = scored_recording()
    result = threshold_independent_scores(scores, references, frame_hop_seconds=0.1)
    assert result["psds"] == approx(0.75)
    crackle, wheeze = result["crackle"], result["wheeze"]
    assert (crackle["best_f1"], crackle["best_precision"], crackle["best_recall"]) == approx(
        (2 / 3, 0.5, 1.0)
    )
    assert crackle["best_threshold"] == approx(0.3) and crackle["psds"] == approx(0.5)
    assert (wheeze["best_f1"], wheeze["psds"]) == approx((1.0, 1.0))
    assert result["macro"]["best_f1"] == approx(5 / 6) and result["micro"]["best_f1"] == approx(0.8)
    assert "f1" not in crackle  # no thresholds, no F1 at them
    # at the model's thresholds (crackle 0.7, wheeze 0.5): crackle has only the false 0.9 → F1 0
    at = threshold_independent_scores(scores, references, frame_hop_seconds=0.1, thresholds=(0.7, 0.5))
    assert (at["crackle"]["f1"], at["crackle"]["precision"], at["crackle"]["recall"]) == (0.0, 0.0, 0.0)
    assert at["wheeze"]["f1"] == approx(1.0) and at["macro"]["f1"] == approx(0.5)
    at_half = threshold_independent_scores(scores, references, frame_hop_seconds=0.1, thresholds=(0.5, 0.5))
    assert at_half["crackle"]["f1"] == approx(2 / 3) and at_half["micro"]["f1"] == approx(0.8)
    # a score equal to its threshold is a detection, as in respira.models.respira.decision:
    # crackle 0.6, wheeze 0.8
    at_scores = threshold_independent_scores(scores, references, frame_hop_seconds=0.1, thresholds=(0.6, 0.8))
    assert at_scores["crackle"]["f1"] == approx(2 / 3) and at_scores["wheeze"]["f1"] == approx(1.0)


def test_threshold_independent_durations_and_labels_reach_sed_scores_eval():
    scores, references = scored_recording()
    # told the recording lasts 144 s (0.04 h): the false crackle is 25 / h → crackle PSDS (100 - 25) / 100
    longer = threshold_independent_scores(scores, references, frame_hop_seconds=0.1, durations={"a": 144.0})
    assert longer["crackle"]["psds"] == approx(0.75)
    # crackle alone: no wheeze column, PSDS is crackle's; wheeze references are ignored
    only = threshold_independent_scores(scores, references, frame_hop_seconds=0.1, labels=["crackle"])
    assert set(only) == {"psds", "crackle", "macro", "micro"} and only["psds"] == approx(0.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"references": {"b": []}}, "cover different files"),
        ({"references": {"a": [Event(1.0, 1.5, "crackle")]}}, "at least one reference wheeze event"),
        (
            {
                "references": {
                    "a": [Event(1.0, 1.5, "crackle"), Event(1.5, 2.0, "crackle"), Event(5, 6, "wheeze")]
                }
            },
            "crackle events of 'a' overlap or touch",
        ),
        (
            {"scores_per_file": {"a": np.zeros((10, 3))}},
            r"scores of 'a': posteriors must have shape \[frames, 2\]",
        ),
        ({"scores_per_file": {"a": np.zeros((0, 2))}}, "scores of 'a' have no frames"),
        ({"scores_per_file": {"a": np.full((10, 2), 2.0)}}, r"scores of 'a': .*probabilities in \[0, 1\]"),
        ({"scores_per_file": {}}, "non-empty"),
        ({"labels": ["rhonchus"]}, "labels must be some of"),
        ({"labels": []}, "labels must be some of"),
        ({"thresholds": (0.5,)}, "decision thresholds"),
    ],
)
def test_bad_threshold_independent_input_raises_one_line(change, message):
    scores, references = scored_recording(seconds=10.0)
    arguments = {"scores_per_file": scores, "references": references, "frame_hop_seconds": 0.1, **change}
    with pytest.raises(ValueError, match=message) as error:
        threshold_independent_scores(**arguments)
    assert "\n" not in str(error.value)

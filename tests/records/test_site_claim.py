"""``respira.records.site_claim``: a fitted folder's claim against newly labelled patients (outside only
where the difference's interval, MOVER from both intervals, lies wholly on one side of 0; the shipped site
detectors' claims read back from their records: issue 60, item 4)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from respira.pretrained.shipped import shipped_detectors
from respira.records.site_claim import SiteClaim, claim_line, difference_interval
from respira.records.site_fit import site_fit_verdict
from respira.records.sites import site_claim
from respira.utils.tables import format_score

CLAIM = SiteClaim(
    dataset="kauh", name="kauh", score=0.656, interval=(0.605, 0.714), units=56, units_are_patients=True,
    recordings=168, base_model="icbhi-crackle-wheeze", aggregation=("mean", None),
)  # fmt: skip


def icbhi(score: float, low: float, high: float, normal: int = 20, abnormal: int = 30) -> dict[str, Any]:
    """An evaluation's ``groups.overall.icbhi`` as evaluate_recordings writes it."""
    return {
        "icbhi_score": score, "ci": {"icbhi_score": [low, high]},
        "normal_recordings": normal, "abnormal_recordings": abnormal,
    }  # fmt: skip


def test_the_difference_interval_adds_the_two_sides_that_face_each_other() -> None:
    """MOVER: the upper end adds the new score's upper half and the claim's lower half, in quadrature."""
    low, high = difference_interval(0.5, (0.4, 0.55), 0.6, (0.58, 0.7))
    assert high == pytest.approx(-0.1 + math.hypot(0.05, 0.02))
    assert low == pytest.approx(-0.1 - math.hypot(0.1, 0.1))


@pytest.mark.parametrize(
    ("new", "verdict"),
    [
        # the new interval reaches into the claim's (62.7 > 60.5): overlapping intervals, yet the
        # difference's interval lies below 0: the KAUH case, drift
        ((0.548, 0.468, 0.627), "below"),
        ((0.40, 0.33, 0.47), "below"),
        # reaches 0 and a drop of -12.5, beyond the claim's width (10.9): not shown to differ, no agreement
        ((0.63, 0.55, 0.70), "not_shown"),
        ((0.656, 0.605, 0.714), "agrees"),
        ((0.62, 0.60, 0.64), "agrees"),  # its lower end -9.7 stays above -10.9
        ((0.80, 0.75, 0.85), "above"),
    ],
)
def test_outside_only_where_the_difference_interval_lies_on_one_side(
    new: tuple[float, float, float], verdict: str
) -> None:
    check = CLAIM.check(icbhi(*new))
    low, high = check["difference_ci"]
    assert check["verdict"] == verdict
    assert (high < 0) == (verdict == "below") and (low > 0) == (verdict == "above")
    assert check["margin"] == pytest.approx(0.714 - 0.605)
    assert (verdict == "agrees") == (high >= 0 and low <= 0 and low > -check["margin"])
    assert check["difference"] == pytest.approx(new[0] - CLAIM.score)
    assert check["claimed"]["icbhi_score"] == CLAIM.score and check["claimed"]["units"] == 56


def test_the_lines_say_drift_and_the_refit_or_that_it_agrees() -> None:
    drift = claim_line(CLAIM.check(icbhi(0.548, 0.468, 0.627)), CLAIM)
    claimed = format_score(CLAIM.score, CLAIM.interval)
    assert drift.startswith(
        "drift: these patients score 54.8 [46.8, 62.7], below what its card claims on kauh"
    )
    assert f"({claimed})" in drift and "these patients differ from those it was fitted on" in drift
    assert "refit with them: respira fit-site icbhi-crackle-wheeze --dataset kauh --data_dir" in drift
    assert "assuming none of them was among the 56 patients it was fitted on" in drift
    agrees = claim_line(CLAIM.check(icbhi(0.656, 0.605, 0.714)), CLAIM)
    assert agrees.startswith("these patients score 65.6 [60.5, 71.4], which agrees with what its card claims")
    assert "its interval reaches 0 and no drop larger than the card's own margin (10.9)" in agrees
    assert "drift" not in agrees and "refit" not in agrees
    unknown = claim_line(CLAIM.check(icbhi(0.63, 0.55, 0.70)), CLAIM)
    assert unknown.startswith(
        "these patients score 63.0 [55.0, 70.0], not shown to differ (-12.5 to +6.1) from what its card "
        "claims on kauh"
    )
    assert "a drop larger than the card's own margin (10.9); too few new patients to tell" in unknown
    assert "agrees" not in unknown and "drift" not in unknown
    above = claim_line(CLAIM.check(icbhi(0.80, 0.75, 0.85)), CLAIM)
    assert ", above what its card claims" in above and "refit" not in above


@pytest.mark.parametrize(
    ("scores", "blocker", "reason"),
    [
        (icbhi(0.5, 0.5, 0.5, normal=12, abnormal=0), "", "12 normal and 0 abnormal recordings"),
        ({**icbhi(0.6, 0.5, 0.7), "ci": {}}, "", "interval is missing"),
        (icbhi(0.4, 0.3, 0.5), "another recording rule", "another recording rule"),
    ],
)
def test_what_cannot_be_compared_is_not_and_says_why(scores: dict, blocker: str, reason: str) -> None:
    check = CLAIM.check(scores, blocker=blocker)
    assert check["verdict"] == "not_compared" and reason in check["reason"]
    assert claim_line(check, CLAIM).startswith("not compared with what its card claims on kauh")


@pytest.mark.parametrize("name", ["sprsound-crackle-wheeze"])
def test_a_shipped_site_detector_claims_its_nested_cross_validation(name: str) -> None:
    """The claim is the record's chosen row, its units and recording rule, read from site_fit.json."""
    folder = shipped_detectors()[name]
    record = json.loads((folder / "site_fit.json").read_text())
    claim = site_claim(folder)
    verdict = site_fit_verdict(record["nested_cv"], record["dataset"])
    assert claim is not None and (claim.score, claim.interval) == (verdict.score, verdict.interval)
    assert (claim.dataset, claim.units, claim.recordings) == (
        record["dataset"], record["units"], record["recordings"]
    )  # fmt: skip
    assert claim.aggregation == (record["recording_aggregation"], record["recording_top_k"])
    assert claim.base_model == "icbhi-crackle-wheeze"


def test_a_model_without_a_site_fit_claims_nothing(tmp_path) -> None:
    assert site_claim(tmp_path) is None and site_claim(None) is None


class Columns(dict):
    """An evaluation dataset's columns, as :meth:`SiteClaim.unit_keys` reads them."""

    @property
    def column_names(self) -> list[str]:
        return list(self)


def test_the_units_are_named_as_the_fit_named_them() -> None:
    """A corpus's patient ids, a labels.csv's patient cells (not its row numbers), or the recordings' paths
    where each recording was its own unit; none to tell where the record lists none or the recordings
    name no patient."""
    listed = replace(CLAIM, fitted_units=frozenset({"11", "12"}))
    assert CLAIM.unit_keys(Columns(patient_id=[11, 13])) is None  # an older record: nothing to tell
    assert listed.unit_keys(Columns(patient_id=[11, 13], recording=["a", "b"])) == ["11", "13"]
    labelled = Columns(patient_id=[1, 2], patient=["ward-7", "12"], recording=["a.wav", "b.wav"])
    assert listed.unit_keys(labelled) == ["ward-7", "12"]
    assert listed.unit_keys(Columns(patient_id=[1, 2], patient=[None, None], recording=["a", "b"])) is None
    recordings = replace(listed, units_are_patients=False, fitted_units=frozenset({"deep/a.wav"}))
    assert recordings.unit_keys(Columns(patient_id=[1], patient=[None], recording=["./deep/a.wav"])) == [
        "deep/a.wav"
    ]


def test_the_check_says_how_many_fitted_units_it_left_out_and_compares_none_when_none_is_new() -> None:
    listed = replace(CLAIM, fitted_units=frozenset(map(str, range(56))))
    check = listed.check(icbhi(0.656, 0.605, 0.714), left_out={"units": 3, "recordings": 9, "new_units": 12})
    assert check["verdict"] == "agrees" and check["left_out_fitted"]["units"] == 3
    line = claim_line(check, listed)
    assert line.endswith(
        "(scored on the 12 new patients: the 3 patients (9 recordings) it was fitted on left out)"
    )
    none_new = listed.check({}, left_out={"units": 4, "recordings": 12, "new_units": 0})
    assert none_new["verdict"] == "not_compared" and none_new["reason"] == (
        "all 4 patients (12 recordings) are among the 56 patients it was fitted on: none is new to it"
    )
    assert claim_line(none_new, listed) == (
        "not compared with what its card claims on kauh (65.6 [60.5, 71.4]): all 4 patients (12 recordings) "
        "are among the 56 patients it was fitted on: none is new to it"
    )

"""``respira.records.site_fit``, the fitted site folder's record: what ``respira detectors`` says it learnt
from; the one rule for a fitted site (served only where the chosen procedure's interval clears all-normal
and its paired gain over the model as is holds, named as the fit named the site)."""

from __future__ import annotations

from typing import Any

import pytest

from respira.records.site_fit import (
    fit_verdict,
    fitted_on,
    site_fit_verdict,
)
from respira.records.site_verdict import SITE_FIT_PROTOCOL

RECORD = {
    "base_model": "icbhi-crackle-wheeze",
    "dataset": "labelled",
    "units": 20,
    "units_are_patients": True,
}


def test_a_fit_is_named_by_the_site_it_was_made_on_not_by_the_layout() -> None:
    """A labelled folder is a layout: the line names the site fit-site recorded (issue 58, item 3)."""
    assert (
        fitted_on(RECORD | {"site_name": "ward-b"}) == "icbhi-crackle-wheeze, fitted to ward-b (20 patients)"
    )


def test_a_record_from_before_site_names_falls_back_to_its_corpus() -> None:
    assert fitted_on(RECORD | {"units_are_patients": False}) == (
        "icbhi-crackle-wheeze, fitted to labelled (20 recordings)"
    )
    assert fitted_on({"dataset": "kauh"}) is None and fitted_on([]) is None


def rows(
    low: float, gain_low: float | None, *, chosen: float = 0.6, as_is: float = 0.55
) -> list[dict[str, Any]]:
    """Nested-CV rows as fit-site writes them: the chosen procedure 60.0 [low, 75.0], the model as is,
    all-normal 50.0, and (unless ``gain_low`` is ``None``: an older fit) the paired gain's interval."""
    chosen_row: dict[str, Any] = {
        "candidate": "chosen", "icbhi_score": chosen, "icbhi_score_low": low, "icbhi_score_high": 0.75,
        "scored_recordings": 40,
    }  # fmt: skip
    if gain_low is not None:
        chosen_row |= {
            "gain_over_as_is": chosen - as_is, "gain_over_as_is_low": gain_low, "gain_over_as_is_high": 0.2
        }  # fmt: skip
    return [
        {"candidate": "as_is", "icbhi_score": as_is, "icbhi_score_low": 0.45, "icbhi_score_high": 0.65},
        chosen_row,
        {"candidate": "all_normal", "icbhi_score": 0.5, "icbhi_score_low": 0.5, "icbhi_score_high": 0.5},
    ]


@pytest.mark.parametrize(
    ("low", "gain_low", "serves", "not_shown"),
    [
        (0.52, 0.01, True, []),
        # the case: the point beats both, the interval does not clear all-normal
        (0.419, 0.01, False, ["that it beats all-normal (60.0 [41.9, 75.0] reaches 50.0)"]),
        (
            0.52, -0.03, False,
            ["that it beats the model as is (model as is 55.0, gain +5.0 [-3.0, +20.0]: its interval"],
        ),
        (0.45, -0.03, False, ["that it beats all-normal", "that it beats the model as is"]),
    ],
)  # fmt: skip
def test_a_fitted_site_is_served_only_when_both_parts_are_shown(
    low: float, gain_low: float, serves: bool, not_shown: list[str]
) -> None:
    verdict = site_fit_verdict(rows(low, gain_low), "labelled", name="my_clinic")
    assert verdict is not None and verdict.protocol == SITE_FIT_PROTOCOL
    assert verdict.serves is serves
    said = verdict.not_shown()
    assert len(said) == len(not_shown) and all(
        said_part.startswith(part) for said_part, part in zip(said, not_shown, strict=True)
    )


def test_an_older_fit_without_a_gain_interval_is_judged_by_its_scores() -> None:
    assert site_fit_verdict(rows(0.52, None), "kauh").serves
    assert not site_fit_verdict(rows(0.52, None, chosen=0.6, as_is=0.6), "kauh").serves


def test_the_site_is_named_as_the_fit_named_it_and_an_older_record_by_its_corpus() -> None:
    record = {"dataset": "labelled", "site_name": "steth_b", "nested_cv": rows(0.52, 0.01), "recordings": 40}
    verdict = fit_verdict(record)
    assert verdict is not None and verdict.described().startswith("steth_b recordings (fitted here")
    assert "labelled" not in verdict.described()
    del record["site_name"]  # written before fit-site named sites
    assert fit_verdict({**record, "dataset": "kauh"}).described().startswith("kauh recordings (fitted here")


def labelled_record(crackle: dict[str, Any], wheeze: dict[str, Any]) -> dict[str, Any]:
    """A fit-site record with its per-label verdicts (``labels``), the chosen procedure serving."""
    from respira.records.site_fit import labels_json
    from respira.records.site_verdict import LabelServe

    labels = [LabelServe(name, **entry) for name, entry in (("crackle", crackle), ("wheeze", wheeze))]
    record = {"dataset": "labelled", "site_name": "ward", "nested_cv": rows(0.52, 0.01), "recordings": 40}
    return record | {"labels": labels_json(labels), "chosen": [label.candidate for label in labels]}


SHOWN = {"gain": 0.1, "gain_interval": (0.03, 0.18), "auc": 0.8, "auc_interval": (0.7, 0.9)}


@pytest.mark.parametrize(
    ("crackle", "served", "said"),
    [
        ({"candidate": "site_head", **SHOWN}, True, "crackle fitted (site head: its own gain +10.0 [+3.0,"),
        # issue 82's crackle: fitted on a cross-validated AUC of 37.7 [0, 75.4]
        (
            {"candidate": "as_is", **SHOWN, "auc": 0.377, "auc_interval": (0.0, 0.754)}, False,
            "crackle left as the base model has it (its head and threshold): no gain of its own shown "
            "(its own gain +10.0 [+3.0, +18.0] over the model as is, AUC 37.7 [0.0, 75.4]: its AUC "
            "interval reaches 50)",
        ),
        (
            {"candidate": "as_is", **SHOWN, "gain_interval": (-0.02, 0.18)}, False,
            "no gain of its own shown (its own gain +10.0 [-2.0, +18.0] over the model as is, AUC 80.0 "
            "[70.0, 90.0]: its gain interval reaches 0)",
        ),
    ],
)  # fmt: skip
def test_a_fitted_sites_label_is_served_only_where_its_own_gain_and_auc_are_shown(
    crackle: dict[str, Any], served: bool, said: str
) -> None:
    """Issue 82: each label of a fitted site is read back from its record: served where its own paired
    gain's interval lies above 0 and its AUC interval above 50, else the base model's, and said so."""
    wheeze = {
        "candidate": "as_is",
        "gain": 0.0,
        "gain_interval": (0.0, 0.0),
        "auc": 0.9,
        "auc_interval": (0.8, 1.0),
    }
    verdict = fit_verdict(labelled_record(crackle, wheeze))
    assert verdict is not None and verdict.serves is served
    assert verdict.serves_label("crackle") is served and not verdict.serves_label("wheeze")
    assert said in verdict.labels_words()
    assert "wheeze left as the base model has it (its head and threshold): no gain of its own shown" in (
        verdict.labels_words()
    )
    if not served:  # no label gains: the site is not served, and the reason names the labels
        assert verdict.not_shown()[-1].startswith("that any label gains on its own (crackle left as")


def test_an_older_record_is_read_per_label_by_the_whole_models_gain_and_says_so() -> None:
    """A site_fit.json from before the per-label rule has no ``labels``: each label it changed is read as
    served where the whole model's gain holds and the label's AUC interval clears 50, and said so."""
    old = {
        "dataset": "kauh",
        "nested_cv": rows(0.52, 0.01),
        "recordings": 40,
        "chosen": ["site_head", "as_is"],
    }
    old["nested_cv"][1] |= {"crackle_auc": 0.8, "crackle_auc_low": 0.7, "crackle_auc_high": 0.9}
    verdict = fit_verdict(old)
    assert verdict is not None and verdict.serves
    assert verdict.serves_label("crackle") and not verdict.serves_label("wheeze")
    assert verdict.labels_words().startswith(
        "crackle fitted (site head: judged by the whole model's gain: its site_fit.json predates the "
        "per-label rule)"
    )
    old["nested_cv"][1]["crackle_auc_low"] = 0.45  # its AUC interval reaches 50: no label served
    assert not fit_verdict(old).serves

"""The one rule for a fitted site (respira.pretrained.sites.site_fit_verdict): served only where the chosen
procedure's interval clears all-normal and its paired gain over the model as is holds, named as the fit
named the site."""

from __future__ import annotations

from typing import Any

import pytest

from respira.pretrained.sites import SITE_FIT_PROTOCOL, _site_fit, site_fit_verdict


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
    verdict = _site_fit(record)
    assert verdict is not None and verdict.described().startswith("steth_b recordings (fitted here")
    assert "labelled" not in verdict.described()
    del record["site_name"]  # written before fit-site named sites
    assert _site_fit({**record, "dataset": "kauh"}).described().startswith("kauh recordings (fitted here")

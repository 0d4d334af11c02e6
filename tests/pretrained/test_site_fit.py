"""``respira.pretrained.site_fit``: what ``respira detectors`` says a fitted folder learnt from."""

from __future__ import annotations

from respira.pretrained.site_fit import fitted_on

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

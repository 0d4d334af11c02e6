"""``respira.records.site_fit``, the fitted site folder's record (``site_fit.json``, typed once: written as
it always was, read back from older records, a malformed one refused in one line naming the file): what
``respira detectors`` says it learnt from; the one rule for a fitted site (served only where the chosen
procedure's interval clears all-normal and its paired gain over the model as is holds, named as the fit
named the site)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from respira.pretrained.shipped import shipped_detectors
from respira.records.site_fit import (
    SITE_FIT_FILE,
    LabelRecord,
    SiteFitRecord,
    SiteFitRecordError,
    site_fit_verdict,
)
from respira.records.site_verdict import SITE_FIT_PROTOCOL, LabelServe
from respira.records.sites import why_not_claimed
from respira.utils.files import write_json_atomic


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


def fit_record(**fields: Any) -> dict[str, Any]:
    """A ``site_fit.json`` as fit-site first wrote it (before site names, the recording rule, the label
    mix, the fitted units and the per-label verdicts), with ``fields`` set."""
    return {
        "procedure": "fit-site", "base_model": "icbhi-crackle-wheeze", "dataset": "labelled",
        "data_dir": "clinic", "units": 20, "units_are_patients": True, "recordings": 40, "left_out": 0,
        "windows": 200, "audio_seconds": 600.0, "candidates": ["as_is", "thresholds"], "outer_folds": 5,
        "seed": 0, "chosen": ["thresholds", "as_is"], "thresholds": [0.4, 0.6], "base_thresholds": [0.5, 0.5],
        "applies": True, "applied_anyway": False, "nested_cv": rows(0.52, 0.01),
        "seconds": {"embedding": 1.5, "fitting": 2.0}, "fit": {"applies": True},
    } | fields  # fmt: skip


def read(data: dict[str, Any]) -> SiteFitRecord:
    return SiteFitRecord.from_json(data)


def test_a_fit_is_named_by_the_site_it_was_made_on_not_by_the_layout() -> None:
    """A labelled folder is a layout: the line names the site fit-site recorded (issue 58, item 3)."""
    named = read(fit_record(site_name="ward-b"))
    assert named.fitted_on() == "icbhi-crackle-wheeze, fitted to ward-b (20 patients)"


def test_a_record_from_before_site_names_falls_back_to_its_corpus() -> None:
    assert read(fit_record(units_are_patients=False)).fitted_on() == (
        "icbhi-crackle-wheeze, fitted to labelled (20 recordings)"
    )


@pytest.mark.parametrize("folder", [f for f in shipped_detectors().values() if (f / SITE_FIT_FILE).is_file()])
def test_every_committed_site_fit_json_is_written_back_byte_for_byte(folder: Path, tmp_path: Path) -> None:
    """The typed record reads every shipped ``site_fit.json`` and writes it back as the same bytes."""
    record = SiteFitRecord.load(folder)
    assert record.labels is not None and record.fitted_units and record.recording_top_k is None
    record.save(tmp_path)
    assert (tmp_path / SITE_FIT_FILE).read_bytes() == (folder / SITE_FIT_FILE).read_bytes()


def test_the_shipped_site_fits_are_found() -> None:
    assert any((folder / SITE_FIT_FILE).is_file() for folder in shipped_detectors().values())


def test_an_old_record_is_read_with_the_fields_it_predates_as_none_and_written_back_as_it_was(
    tmp_path: Path,
) -> None:
    """A record written before the later fields reads back (each ``None``: the site is its corpus, the
    labels judged by the whole model) and is written back byte for byte, without them."""
    write_json_atomic(tmp_path / SITE_FIT_FILE, fit_record())
    old = SiteFitRecord.load(tmp_path)
    assert (old.site_name, old.labels, old.fitted_units, old.label_mix, old.recording_aggregation) == (
        (None,) * 5
    )
    assert old.site == "labelled" and old.chosen == ["thresholds", "as_is"]
    verdict = old.verdict()
    assert verdict is not None and all(label.whole for label in verdict.labels)
    old.save(tmp_path / "again")
    assert (tmp_path / "again" / SITE_FIT_FILE).read_bytes() == (tmp_path / SITE_FIT_FILE).read_bytes()
    assert SiteFitRecord.load(tmp_path / "again") == old
    assert "site_name" in dataclasses.replace(old, absent=()).to_json()  # a new record writes every field


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            json.dumps(fit_record(units="twenty")),
            "not a valid respira fit-site record (units should be int, ",
        ),
        (json.dumps({k: v for k, v in fit_record().items() if k != "nested_cv"}), "missing key 'nested_cv'"),
        (json.dumps(fit_record(extra=1)), "unknown key 'extra'"),
        (
            json.dumps(fit_record(chosen=["as_is"])),
            "chosen should hold one value per label (crackle, wheeze)",
        ),
        (json.dumps(fit_record(procedure="calibrate")), "procedure should be 'fit-site', got 'calibrate'"),
        (
            json.dumps(fit_record(labels={"crackle": {"candidate": "as_is"}})),
            "missing key 'labels.crackle.served'",
        ),
        (json.dumps([1]), "(expected a JSON object, got an array)"),
        ('{"units": ', "not valid JSON (Expecting value at line 1)"),
    ],
)
def test_a_malformed_record_is_refused_in_one_line_naming_the_file(
    text: str, said: str, tmp_path: Path
) -> None:
    path = tmp_path / SITE_FIT_FILE
    path.write_text(text)
    with pytest.raises(SiteFitRecordError) as error:
        SiteFitRecord.load(tmp_path)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and said in message and "\n" not in message
    assert SiteFitRecord.load_if_present(tmp_path / "elsewhere") is None
    assert why_not_claimed(tmp_path, path) == "it is not respira fit-site's record"


def test_a_fitted_folders_config_records_the_fit_it_was_written_with() -> None:
    """``calibration`` (what the model's config holds of its fit) is the record's, key by key."""
    record = read(fit_record(site_name="ward"))
    calibration = record.calibration()
    assert calibration["site_name"] == "ward" and calibration["chosen"] == ["thresholds", "as_is"]
    assert calibration == {key: record.to_json()[key] for key in calibration}


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
    verdict = read(fit_record(site_name="steth_b")).verdict()
    assert verdict is not None and verdict.described().startswith("steth_b recordings (fitted here")
    assert "labelled" not in verdict.described()
    older = read(fit_record(dataset="kauh")).verdict()  # written before fit-site named sites
    assert older is not None and older.described().startswith("kauh recordings (fitted here")


def labelled_record(crackle: dict[str, Any], wheeze: dict[str, Any]) -> SiteFitRecord:
    """A fit-site record with its per-label verdicts (``labels``), the chosen procedure serving, read back
    from its JSON."""
    labels = [LabelServe(name, **entry) for name, entry in (("crackle", crackle), ("wheeze", wheeze))]
    written = {label.label: dataclasses.asdict(LabelRecord.of(label)) for label in labels}
    return read(fit_record(site_name="ward", labels=written, chosen=[label.candidate for label in labels]))


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
    verdict = labelled_record(crackle, wheeze).verdict()
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
    old = fit_record(dataset="kauh", chosen=["site_head", "as_is"])
    old["nested_cv"][1] |= {"crackle_auc": 0.8, "crackle_auc_low": 0.7, "crackle_auc_high": 0.9}
    verdict = read(old).verdict()
    assert verdict is not None and verdict.serves
    assert verdict.serves_label("crackle") and not verdict.serves_label("wheeze")
    assert verdict.labels_words().startswith(
        "crackle fitted (site head: judged by the whole model's gain: its site_fit.json predates the "
        "per-label rule)"
    )
    old["nested_cv"][1]["crackle_auc_low"] = 0.45  # its AUC interval reaches 50: no label served
    assert not read(old).verdict().serves

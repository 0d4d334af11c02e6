"""A fitted folder's evidence and card travel with it (:mod:`respira.hub.card_results`): a copy, an export
and a push of a folder ``respira fit-site`` wrote keep ``site_fit.json``, ``nested_cv.csv``, the learning
curve and the card's "Fitted to a site" section and threshold wording; a shipped detector's name is a
MODEL to export and push, as to every other command (issue 58, item 2)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from respira.hub import export_model
from respira.hub.card_render import render_folder_card
from respira.hub.push import push_run
from respira.pretrained import default_detector_dir
from respira.pretrained.shipped import shipped_detectors
from respira.records.site_fit import FIT_EVIDENCE, NESTED_CV_FILE
from respira.records.sites import site_verdicts
from respira.utils.tables import format_percent

from .card_fixtures import site_card_section
from .hub_server import HubServer

NAME = "sprsound-crackle-wheeze"
SECTION = "## Fitted to a site (`respira fit-site`)"
FIT_WORDING = "These thresholds were chosen by `respira fit-site` on"
VALIDATION_WORDING = "These thresholds were tuned on the validation split"


def _section(card: str) -> str:
    return card[card.index(SECTION) :]


@pytest.fixture(scope="module")
def folder() -> Path:
    return shipped_detectors()[NAME]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``respira export sprsound-crackle-wheeze OUT``: the shipped site detector by its name."""
    return export_model(NAME, tmp_path_factory.mktemp("export") / "out", onnx=False)


def test_export_by_a_shipped_name_carries_the_fit_evidence(folder: Path, exported: Path) -> None:
    """The export dropped ``nested_cv.csv`` and the learning curve (and ``respira export NAME`` said
    "model folder not found"): every file of the fit's evidence is there, unchanged."""
    for name in FIT_EVIDENCE:
        assert (exported / name).read_bytes() == (folder / name).read_bytes(), name


def test_the_export_card_tells_the_fit_as_the_shipped_card_does(folder: Path, exported: Path) -> None:
    """The export's card said its thresholds were tuned on a validation split and lost the "Fitted to a
    site" section that lines above it pointed to: it keeps both, and the section is the shipped card's."""
    card, shipped = (exported / "README.md").read_text(), (folder / "README.md").read_text()
    assert FIT_WORDING in card and VALIDATION_WORDING not in card
    assert _section(card) == _section(shipped)
    assert list(exported.glob("*.py")), "the export writes the code the card says to export for"
    assert "does not hold its files" not in card and "does not hold its files" in shipped


def test_a_copy_renders_the_same_card_without_naming_its_base(folder: Path, tmp_path: Path) -> None:
    """A copy's card, rendered from the copy's files alone (its base found by the name its fit records),
    is the shipped card."""
    copy = Path(shutil.copytree(folder, tmp_path / NAME))
    (copy / "README.md").unlink()
    render_folder_card(copy)
    assert (copy / "README.md").read_text() == (folder / "README.md").read_text()


def test_the_fitted_sample_has_one_interval_in_the_card(folder: Path) -> None:
    """The card gave the base model on the fitted sample twice, 45.6–58.2 from the nested cross-validation's
    `as is` row and 45.9–58.2 from the base's held-out evaluation of the same recordings (two bootstraps):
    the sample's base-model row is the `as is` row alone."""
    card = (folder / "README.md").read_text()
    with (folder / NESTED_CV_FILE).open() as handle:
        as_is = next(row for row in csv.DictReader(handle) if row["candidate"] == "as_is")
    interval = f"({format_percent(float(as_is['icbhi_score_low']))}–"
    assert f"| as is | {format_percent(float(as_is['icbhi_score']))} {interval}" in card
    same = [
        v for v in site_verdicts(default_detector_dir()) if v.site == "sprsound" and v.unit == "recordings"
    ]
    assert same, "the base model records its held-out SPRSound evaluation"
    for verdict in same:
        assert f"| {verdict.site} | {verdict.protocol} | {verdict.count} {verdict.unit} |" not in card
    assert "whose `as is` row is the base model on these" in site_card_section(folder)


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_push_by_a_shipped_name_uploads_the_fit_and_its_card(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        push_run(NAME, "user/sprsound", token="test-token", onnx=False)
        repo = hub.state.repos["user/sprsound"]
        files = repo.commits[repo.branches["main"]].files
        assert set(FIT_EVIDENCE) <= set(files)
        card = hub.state.blob_path(files["README.md"].sha256).read_text(encoding="utf-8")
    assert FIT_WORDING in card and VALIDATION_WORDING not in card
    assert _section(card) == _section((folder / "README.md").read_text())
    assert "respira predict user/sprsound " in card


@pytest.mark.parametrize("name", [NAME])
def test_the_card_says_what_its_estimate_assumes_and_how_to_check_it(name: str) -> None:
    """Issue 60, item 4: the card claimed 65.6 [60.5–71.4] and "serves" without saying for whom; it says
    the estimate holds for patients like the fitted ones (their number and recordings, from site_fit.json)
    and that respira evaluate on newly labelled patients checks it against the chosen row's score."""
    import json

    from respira.records.site_fit import site_fit_verdict
    from respira.utils.tables import format_score

    folder = shipped_detectors()[name]
    record = json.loads((folder / "site_fit.json").read_text())
    verdict = site_fit_verdict(record["nested_cv"], record["dataset"])
    card = (folder / "README.md").read_text()
    assumes = card[card.index("**What this estimate assumes.**") :].split("\n\n")[0]
    assert f"the {record['units']} patients of `{record['site_name']}` it was fitted on" in assumes
    mix = record["label_mix"]  # written by fit-site since issue 60; the shipped records carry it
    words = (
        f"{mix['normal']} normal, {mix['crackle']} crackle only, {mix['wheeze']} wheeze only, "
        f"{mix['both']} with both"
    )
    assert sum(mix.values()) == record["recordings"]
    assert f"({record['recordings']} recordings: {words})" in assumes
    assert f"`respira evaluate MODEL --dataset {record['dataset']} --data_dir NEW_PATIENTS`" in assumes
    assert f"score with this one ({format_score(verdict.score, verdict.interval)})" in assumes
    assert f"`respira fit-site icbhi-crackle-wheeze --dataset {record['dataset']} --data_dir" in assumes

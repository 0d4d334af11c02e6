"""The shipped site detectors (``scripts/build_site_detectors.py``, ``make site-detectors``): the ICBHI
detector fitted by ``respira fit-site`` to SPRSound (KAUH's fit did not show a gain over the model as is
under the per-label rule: not shipped), each a model name of every command, its
card and its sites line said only by its own files, fitted from today's ICBHI detector,
and deciding alike through the Detector and onnxruntime on real recordings of its site."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import respira
from respira.pretrained import DEFAULT_DETECTOR_NAME, default_detector_dir
from respira.pretrained.shipped import describe_detectors, shipped_detectors
from respira.records.site_fit import SITE_FIT_FILE
from respira.records.site_verdict import SITE_FIT_PROTOCOL
from respira.records.sites import evaluation_digests, recorded_evaluations, site_verdicts, sites_line

from .conftest import SHARED_DIR

ROOT = Path(__file__).resolve().parents[1]
SITES = {"sprsound-crackle-wheeze": "sprsound"}
"""The site detectors ``make site-detectors`` ships (those whose fit-site rule applied), by name."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(params=sorted(SITES))
def shipped(request: pytest.FixtureRequest) -> tuple[str, Path]:
    name = request.param
    return name, shipped_detectors()[name]


def test_each_site_detector_is_listed_and_loads_by_name(shipped: tuple[str, Path]) -> None:
    name, folder = shipped
    record = json.loads((folder / SITE_FIT_FILE).read_text())
    listed = {detector.name: detector.trained_on for detector in describe_detectors()}
    assert listed[name] == f"{DEFAULT_DETECTOR_NAME}, fitted to {SITES[name]} ({record['units']} patients)"
    detector = respira.Detector.from_pretrained(name, device="cpu")
    assert detector.name == name
    assert list(detector.config.decision_thresholds) == pytest.approx(record["thresholds"])
    assert detector.config.calibration["dataset"] == SITES[name] == record["dataset"]
    assert record["applies"] and not record["applied_anyway"]  # shipped only where the rule applied
    assert respira.Detector.from_pretrained().name == DEFAULT_DETECTOR_NAME  # the default stays


def test_respira_detectors_lists_the_site_detectors(capsys: pytest.CaptureFixture[str]) -> None:
    from respira.cli import main

    assert main(["detectors"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:] if line.strip()]
    assert set(names) == {*SITES, DEFAULT_DETECTOR_NAME}  # no other site detector ships


def test_the_checksums_hold(shipped: tuple[str, Path]) -> None:
    _, folder = shipped
    for line in (folder / "checksums.sha256").read_text().splitlines():
        digest, file = line.split(maxsplit=1)
        assert _sha256(folder / file) == digest, file


def test_the_build_record_names_todays_base_and_the_evaluation_it_claims(shipped: tuple[str, Path]) -> None:
    """Fitted from today's ICBHI detector (else ``make site-detectors``); what it outputs is checked by
    ``tests/test_shipped_outputs.py``."""
    name, folder = shipped
    record = json.loads((folder / "build_record.json").read_text())
    assert record["base_weights_sha256"] == _sha256(default_detector_dir() / "model.safetensors")
    assert record["dataset"] == SITES[name]
    assert (
        record["evaluations"]
        == evaluation_digests(folder)
        == {SITE_FIT_FILE: _sha256(folder / SITE_FIT_FILE)}
    )


def test_the_card_is_what_the_folders_files_render(shipped: tuple[str, Path], tmp_path: Path) -> None:
    from respira.hub.card_render import render_folder_card

    name, folder = shipped
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    (copy / "README.md").unlink()
    render_folder_card(copy, base_folder=default_detector_dir())
    card = (copy / "README.md").read_text()
    assert card == (folder / "README.md").read_text()
    record = json.loads((folder / SITE_FIT_FILE).read_text())
    assert f"{record['recordings']} recordings of {record['units']} patients" in card
    assert "the base model's rows, before this site fit" in card
    assert "make site-detectors" in card


def test_the_card_says_the_fit_the_rule_and_scores_in_percent(shipped: tuple[str, Path]) -> None:
    """The site card said "Unknown split" under Training data (a fit-site folder has no training run),
    the pipeline's "maximum over the windows" whatever rule the fit chose, and AUCs as fractions beside
    scores in %: it says the base model and the fit, the config's rule, and every score in %."""
    from respira.models.respira.decision import aggregation_of
    from respira.models.respira.windows import describe_aggregation

    _, folder = shipped
    card = (folder / "README.md").read_text()
    training = card[card.index("## Training data") : card.index("## Training procedure")]
    assert "Unknown split" not in training and "fitted to one site by `respira fit-site`" in training
    assert "No test results were recorded" not in card and "nested cross-validation on the site" in card
    rule = describe_aggregation(*aggregation_of(json.loads((folder / "config.json").read_text())))
    assert f"reads the recording from them by the rule its config names, {rule}" in card
    table = card[card.index("| procedure |") :].split("\n\n")[0].splitlines()[2:]
    aucs = [float(cell) for row in table for cell in row.strip("| ").split(" | ")[-2:] if cell != "–"]
    assert aucs and all(1.0 < auc <= 100.0 for auc in aucs), aucs


def test_the_card_names_the_fitted_site_its_base_and_how_to_get_the_code(shipped: tuple[str, Path]) -> None:
    """The site cards were titled "respira EfficientAT on ICBHI 2017", said "no external validation was
    performed", that the encoder was initialised from the base's training path and that the folder holds
    the model's code, which it does not (issue 58, item 4): each says its own fit."""
    name, folder = shipped
    card = (folder / "README.md").read_text()
    record = json.loads((folder / SITE_FIT_FILE).read_text())
    title = card.split("\n# ", 1)[1].split("\n", 1)[0]
    assert title.endswith(f"fitted to the site {record['dataset']}")
    assert "no external\n  validation was performed" not in card
    assert f"({record['dataset']}: {record['recordings']} recordings of {record['units']} patients)" in card
    details = card[card.index("## Model details") : card.index("## How to use")]
    assert f"the base model's (`{record['base_model'].split(' (')[0]}`)" in details
    assert "initialised from" not in details and "ships in this repository" not in details
    assert not list(folder.glob("*.py"))
    assert f"respira export {name} path/to/exported_model" in card
    assert "The repository also holds the model's code" not in card


def test_the_sites_line_holds_the_site_fits_own_result_by_the_serve_rule(shipped: tuple[str, Path]) -> None:
    """The folder's own site is fit-site's nested cross-validation of the chosen procedure (its
    ``site_fit.json``), and the line says it serves there only when the interval's lower end lies above
    all-normal."""
    name, folder = shipped
    (verdict,) = site_verdicts(folder)
    rows = {row["candidate"]: row for row in json.loads((folder / SITE_FIT_FILE).read_text())["nested_cv"]}
    assert (verdict.site, verdict.protocol) == (SITES[name], SITE_FIT_PROTOCOL)
    assert verdict.score == rows["chosen"]["icbhi_score"]
    assert verdict.interval == (rows["chosen"]["icbhi_score_low"], rows["chosen"]["icbhi_score_high"])
    assert verdict.all_normal == rows["all_normal"]["icbhi_score"]
    line = sites_line(folder)
    shown = verdict.described()
    if verdict.interval[0] > verdict.all_normal:
        assert line.startswith(f"serves {shown}")
    else:
        assert line.startswith("serves no site") and shown in line


def test_a_copy_whose_config_left_the_fit_claims_no_site(shipped: tuple[str, Path], tmp_path: Path) -> None:
    """Without the build record, ``site_fit.json`` is claimed only while the config records that fit."""
    _, folder = shipped
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "build_record.json").unlink()
    assert recorded_evaluations(copy) == [copy / SITE_FIT_FILE]
    config = json.loads((copy / "config.json").read_text())
    config["decision_thresholds"] = [0.5, 0.5]
    (copy / "config.json").write_text(json.dumps(config))
    assert recorded_evaluations(copy) == [] and site_verdicts(copy) == []


def test_a_site_fit_whose_interval_clears_all_normal_serves_its_site(tmp_path: Path) -> None:
    """The serve rule on the fitted site's own row: served once the interval's lower end is above
    all-normal, and only then (a copy without the build record, its nested CV edited)."""
    copy = tmp_path / "copy"
    shutil.copytree(shipped_detectors()["sprsound-crackle-wheeze"], copy)
    (copy / "build_record.json").unlink()
    record = json.loads((copy / SITE_FIT_FILE).read_text())
    chosen = next(row for row in record["nested_cv"] if row["candidate"] == "chosen")
    normal = next(row for row in record["nested_cv"] if row["candidate"] == "all_normal")
    for low, serves in ((normal["icbhi_score"] + 0.01, True), (normal["icbhi_score"], False)):
        chosen["icbhi_score_low"] = low
        (copy / SITE_FIT_FILE).write_text(json.dumps(record))
        line = sites_line(copy)
        assert (
            line.startswith("serves sprsound recordings (fitted here, nested cross-validation") is serves
        ), line


def test_no_command_writes_into_a_site_detector(shipped: tuple[str, Path]) -> None:
    from respira.pretrained import check_not_shipped

    _, folder = shipped
    with pytest.raises(ValueError, match="which no command changes"):
        check_not_shipped(folder / "evaluation_kauh", "write the evaluation")
    check_not_shipped(folder.parent.parent / "evaluation_kauh", "write the evaluation")  # outside: fine


# ------------------------------------------------------------------------------- on real recordings of a site
def _site_recordings(site: str) -> list[Path]:
    folder = SHARED_DIR / site
    if not folder.is_dir():
        pytest.skip(f"real {site} data not found at {folder} (../shared is only present on project machines)")
    return sorted(folder.rglob("*.wav"))[:2]


@pytest.mark.real_data
def test_predict_by_name_prints_the_sites_line_and_decides_as_onnx(
    shipped: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from respira.cli import main

    name, folder = shipped
    recordings = _site_recordings(SITES[name])
    code = main(["predict", name, str(recordings[0]), "--per_recording"])
    done = capsys.readouterr()
    assert code == 0, done.err[-3000:]
    assert sites_line(folder) in done.err and recordings[0].name in done.out
    torch_detector = respira.Detector.from_pretrained(name, device="cpu")
    onnx_detector = respira.Detector.from_pretrained(name, onnx=True)
    for recording in recordings:
        by_torch, by_onnx = torch_detector.predict_file(recording), onnx_detector.predict_file(recording)
        assert by_torch.label == by_onnx.label
        np.testing.assert_allclose(
            [by_torch.crackle, by_torch.wheeze], [by_onnx.crackle, by_onnx.wheeze], atol=1e-4, rtol=0
        )

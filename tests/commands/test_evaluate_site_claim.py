"""``respira evaluate`` of a folder ``respira fit-site`` wrote, on newly labelled patients: the score against
what its card claims, in metrics.json and one printed line (issue 60, item 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from respira.cli import main
from respira.pretrained.site_claim import SiteClaim, claim_line

from ..data.test_labelled import write_labelled
from ..sites.test_fit_site import SITE
from ..sites.test_site_folder import tiny_site_model

WINDOWS = ("--window", "1", "--hop", "1")  # the tiny model's 1-s inputs, as fit-site cut them


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labelled(tmp_path_factory.mktemp("site") / "clinic", SITE)


@pytest.fixture(scope="module")
def fitted(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder fit-site wrote (``--apply_anyway``: the tiny model on noise shows nothing)."""
    model, output = tmp_path_factory.mktemp("model"), tmp_path_factory.mktemp("fitted") / "out"
    tiny_site_model(model)
    options = ["--data_dir", str(site), "--output_dir", str(output), "--outer_folds", "3", "--apply_anyway"]
    assert main(["fit-site", str(model), *options]) == 0
    return output


def _claiming(fitted: Path, folder: Path, score: float, low: float, high: float) -> Path:
    """A copy of ``fitted`` whose record's chosen row claims ``score [low, high]``."""
    copy = Path(shutil.copytree(fitted, folder))
    record = json.loads((copy / "site_fit.json").read_text())
    chosen = next(row for row in record["nested_cv"] if row["candidate"] == "chosen")
    chosen |= {"icbhi_score": score, "icbhi_score_low": low, "icbhi_score_high": high}
    (copy / "site_fit.json").write_text(json.dumps(record))
    return copy


def _evaluate(model: Path, site: Path, output: Path, capsys: pytest.CaptureFixture) -> tuple[dict, str]:
    options = ["--dataset", "labelled", "--data_dir", str(site), "--bootstrap", "50", *WINDOWS]
    assert main(["evaluate", str(model), *options, "--output_dir", str(output)]) == 0
    return json.loads((output / "metrics.json").read_text()), capsys.readouterr().out


def test_a_score_far_below_the_claim_says_drift_and_one_like_it_agrees(
    fitted: Path, site: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The same recordings scored against a claim far above their interval (drift, refit) and against a
    claim equal to their own score (agrees); each verdict is the printed line's and metrics.json's."""
    metrics, _ = _evaluate(fitted, site, tmp_path / "first", capsys)
    icbhi = metrics["groups"]["overall"]["icbhi"]
    score, (low, high) = icbhi["icbhi_score"], icbhi["ci"]["icbhi_score"]
    assert high < 0.95, "the tiny model scores noise below a claim of 97.0 [95.0, 99.0]"
    cases = {"below": (0.97, 0.95, 0.99), "agrees": (score, low, high)}
    for verdict, claimed in cases.items():
        model = _claiming(fitted, tmp_path / f"model_{verdict}", *claimed)
        metrics, printed = _evaluate(model, site, tmp_path / verdict, capsys)
        check = metrics["site_claim"]
        assert check["verdict"] == verdict
        assert check["claimed"]["icbhi_score"] == pytest.approx(claimed[0])
        assert check["icbhi_score"] == pytest.approx(score)  # the same recordings, the same bootstrap
        line = claim_line(check, SiteClaim.of_folder(model))
        assert line in printed.splitlines()
        if verdict == "below":
            assert line.startswith("drift: ") and "--dataset labelled --data_dir" in line
            assert f"--site_name {site.name}" in line and "refit with them: respira fit-site " in line
        else:
            assert "which agrees with what its card claims" in line and "drift" not in line


def test_another_recording_rule_is_not_compared(
    fitted: Path, site: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--aggregation other than the fit's rule: the scores measure another thing, said in one line."""
    options = ["--dataset", "labelled", "--data_dir", str(site), "--bootstrap", "20", *WINDOWS]
    output = tmp_path / "other_rule"
    rule = SiteClaim.of_folder(fitted).aggregation[0]
    other = "max" if rule != "max" else "mean"
    code = main(["evaluate", str(fitted), *options, "--aggregation", other, "--output_dir", str(output)])
    assert code == 0
    check = json.loads((output / "metrics.json").read_text())["site_claim"]
    assert check["verdict"] == "not_compared" and "is not the fit's recording rule" in check["reason"]
    assert "not compared with what its card claims" in capsys.readouterr().out


def test_a_model_fit_site_did_not_write_has_no_claim(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model = tmp_path / "model"
    tiny_site_model(model)
    metrics, printed = _evaluate(model, site, tmp_path / "out", capsys)
    assert "site_claim" not in metrics and "card claims" not in printed


@pytest.mark.slow
def test_the_shipped_kauh_detector_is_not_below_its_claim_on_patients_it_was_fitted_on(
    shared_kauh: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Real data: ``kauh-crackle-wheeze`` on 8 KAUH patients of the sample it was fitted on (4 with normal
    sounds, 4 without): compared with the claim its site_fit.json holds, never "drift", and the line
    says the check assumes new patients (the record does not list the fitted ones)."""
    from respira.pretrained.shipped import shipped_detectors

    by_patient: dict[str, list[Path]] = {}
    for wav in sorted(shared_kauh.glob("*.wav")):
        by_patient.setdefault(wav.name.split("_")[0][2:], []).append(wav)
    normal = [p for p, files in by_patient.items() if files[0].name.split(",")[1].strip() == "N"]
    chosen = normal[:4] + [p for p in by_patient if p not in normal][:4]
    data = tmp_path / "kauh"
    data.mkdir()
    for patient in chosen:
        for wav in by_patient[patient]:
            (data / wav.name).symlink_to(wav.resolve())
    output = tmp_path / "report"
    options = [
        "--dataset",
        "kauh",
        "--data_dir",
        str(data),
        "--bootstrap",
        "200",
        "--output_dir",
        str(output),
    ]
    assert main(["evaluate", "kauh-crackle-wheeze", *options]) == 0
    check = json.loads((output / "metrics.json").read_text())["site_claim"]
    claim = SiteClaim.of_folder(shipped_detectors()["kauh-crackle-wheeze"])
    assert check["claimed"]["icbhi_score"] == claim.score and check["verdict"] in ("agrees", "above")
    line = claim_line(check, claim)
    assert line in capsys.readouterr().out.splitlines() and "assuming none of them was among" in line


def test_the_card_gives_the_label_mix_the_fit_recorded(fitted: Path, site: Path) -> None:
    """A fit records how many of its recordings were normal, crackle, wheeze and both (the labels.csv's
    rows), and its card says it among what the estimate assumes."""
    import csv

    record = json.loads((fitted / "site_fit.json").read_text())
    with (site / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    flags = [(row["crackle"] == "1", row["wheeze"] == "1") for row in rows]
    expected = {
        "normal": flags.count((False, False)), "crackle": flags.count((True, False)),
        "wheeze": flags.count((False, True)), "both": flags.count((True, True)),
    }  # fmt: skip
    assert record["label_mix"] == expected
    mix = (
        f"{expected['normal']} normal, {expected['crackle']} crackle only, {expected['wheeze']} wheeze only, "
        f"{expected['both']} with both"
    )
    card = (fitted / "README.md").read_text()
    assumes = card[card.index("**What this estimate assumes.**") :].split("\n\n")[0]
    assert f"({len(rows)} recordings: {mix})" in assumes, assumes

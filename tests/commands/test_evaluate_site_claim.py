"""``respira evaluate`` of a folder ``respira fit-site`` wrote, on newly labelled patients: the score of the
patients it was not fitted on against what its card claims, in metrics.json and one printed line (issue
60, item 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from respira.cli import main
from respira.records.site_claim import claim_line
from respira.records.sites import site_claim

from ..data.test_labelled import write_labelled
from ..sites.test_fit_site import SITE, stub_graph
from ..sites.test_site_folder import tiny_site_model

WINDOWS = ("--window", "1", "--hop", "1")  # the tiny model's 1-s inputs, as fit-site cut them
ARRIVED = tuple((f"new_{row[0]}", *row[1:3], f"q{row[3][1:]}", *row[4:]) for row in SITE)
"""Six patients the fit never saw (q0...q5), labelled as SITE's six (p0...p5)."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labelled(tmp_path_factory.mktemp("site") / "clinic", SITE)


@pytest.fixture(scope="module")
def arrived(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labelled(tmp_path_factory.mktemp("arrived") / "clinic", ARRIVED)


@pytest.fixture(scope="module")
def overlapping(site: Path, arrived: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three fitted patients (p0, p1, p2: six recordings) and the six new ones, the same files."""
    folder = tmp_path_factory.mktemp("overlapping") / "clinic"
    folder.mkdir()
    rows = [*SITE[:6], *ARRIVED]
    for file, *_ in rows:
        (folder / file).symlink_to((arrived if file.startswith("new_") else site) / file)
    write_labels = "file,crackle,wheeze,patient\n" + "".join(f"{r[0]},{r[1]},{r[2]},{r[3]}\n" for r in rows)
    (folder / "labels.csv").write_text(write_labels)
    return folder


@pytest.fixture(scope="module")
def fitted(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder fit-site wrote (``--apply_anyway``: the tiny model on noise shows nothing), its ONNX graph a
    placeholder (evaluate runs the torch model)."""
    import respira.hub.export

    model, output = tmp_path_factory.mktemp("model"), tmp_path_factory.mktemp("fitted") / "out"
    tiny_site_model(model)
    options = ["--data_dir", str(site), "--output_dir", str(output), "--outer_folds", "3", "--apply_anyway"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(respira.hub.export, "export_onnx", stub_graph)
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


@pytest.fixture(scope="module")
def arrived_metrics(fitted: Path, arrived: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``respira evaluate`` of the fitted folder on the six new patients: its metrics.json (two tests read
    it)."""
    return _metrics(fitted, arrived, tmp_path_factory.mktemp("arrived_report") / "report")


def _metrics(model: Path, site: Path, output: Path) -> dict:
    """``respira evaluate`` of ``model`` on the labelled folder ``site``: its metrics.json."""
    options = ["--dataset", "labelled", "--data_dir", str(site), "--bootstrap", "50", *WINDOWS]
    assert main(["evaluate", str(model), *options, "--output_dir", str(output)]) == 0
    return json.loads((output / "metrics.json").read_text())


def _evaluate(model: Path, site: Path, output: Path, capsys: pytest.CaptureFixture) -> tuple[dict, str]:
    return _metrics(model, site, output), capsys.readouterr().out


def test_a_score_far_below_the_claim_says_drift_and_one_like_it_agrees(
    fitted: Path,
    site: Path,
    arrived: Path,
    arrived_metrics: dict,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """New patients' recordings scored against a claim far above their interval (drift, refit) and against
    a claim equal to their own score (agrees); each verdict is the printed line's and metrics.json's."""
    icbhi = arrived_metrics["groups"]["overall"]["icbhi"]
    score, (low, high) = icbhi["icbhi_score"], icbhi["ci"]["icbhi_score"]
    assert high < 0.95, "the tiny model scores noise below a claim of 97.0 [95.0, 99.0]"
    # a claim of their own score, its margin twice their interval's width (at least 10 points): the
    # difference's interval then reaches 0 and stays above minus that margin whatever their interval's
    # shape (the folder is the base model, as fit-site writes it where no label gains on its own: it
    # scores these noise recordings alike in every resample, an interval of zero width)
    width = max(high - low, 0.05)
    cases = {"below": (0.97, 0.95, 0.99), "agrees": (score, score - width, score + width)}
    for verdict, claimed in cases.items():
        model = _claiming(fitted, tmp_path / f"model_{verdict}", *claimed)
        metrics, printed = _evaluate(model, arrived, tmp_path / verdict, capsys)
        check = metrics["site_claim"]
        assert check["verdict"] == verdict
        assert check["left_out_fitted"] == {"units": 0, "recordings": 0, "new_units": 6}
        assert check["claimed"]["icbhi_score"] == pytest.approx(claimed[0])
        assert check["icbhi_score"] == pytest.approx(score)  # the same recordings, the same bootstrap
        line = claim_line(check, site_claim(model))
        assert line in printed.splitlines()
        assert line.endswith(" (none of them among the 6 patients it was fitted on)")
        if verdict == "below":
            assert line.startswith("drift: ") and "--dataset labelled --data_dir" in line
            assert f"--site_name {site.name}" in line and "refit with them: respira fit-site " in line
        else:
            assert "which agrees with what its card claims" in line and "drift" not in line


def test_the_patients_it_was_fitted_on_are_left_out_of_the_comparison(
    fitted: Path,
    arrived_metrics: dict,
    overlapping: Path,
    site: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    """fit-site lists the patients it was fitted on; evaluated on three of them and six new ones, the claim
    is compared with the six new ones' score alone (the score of a sample of those six), and the line says
    how many were left out; on its fitted patients alone it is not compared. A record without the list
    (an older fit) scores them all and says it assumes they are new."""
    record = json.loads((fitted / "site_fit.json").read_text())
    assert record["fitted_units"] == [f"p{n}" for n in range(6)]
    new = arrived_metrics
    metrics, printed = _evaluate(fitted, overlapping, tmp_path / "overlapping", capsys)
    check, claim = metrics["site_claim"], site_claim(fitted)
    assert check["left_out_fitted"] == {"units": 3, "recordings": 6, "new_units": 6}
    assert check["icbhi_score"] == new["groups"]["overall"]["icbhi"]["icbhi_score"]
    assert check["icbhi_score"] != metrics["groups"]["overall"]["icbhi"]["icbhi_score"]
    line = claim_line(check, claim)
    assert line in printed.splitlines()
    assert "scored on the 6 new patients: the 3 patients (6 recordings) it was fitted on left out" in line

    metrics, printed = _evaluate(fitted, site, tmp_path / "fitted", capsys)
    check = metrics["site_claim"]
    assert check["verdict"] == "not_compared" and check["icbhi_score"] is None
    assert check["reason"] == (
        "all 6 patients (12 recordings) are among the 6 patients it was fitted on: none is new to it"
    )
    assert claim_line(check, claim) in printed.splitlines()

    old = Path(shutil.copytree(fitted, tmp_path / "old"))
    del record["fitted_units"]
    (old / "site_fit.json").write_text(json.dumps(record))
    metrics, printed = _evaluate(old, overlapping, tmp_path / "old_record", capsys)
    check = metrics["site_claim"]
    assert check["left_out_fitted"] is None
    assert check["icbhi_score"] == metrics["groups"]["overall"]["icbhi"]["icbhi_score"]
    line = claim_line(check, site_claim(old))
    assert "(assuming none of them was among the 6 patients it was fitted on: site_fit.json does not" in line


def test_another_recording_rule_is_not_compared(
    fitted: Path, site: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--aggregation other than the fit's rule: the scores measure another thing, said in one line."""
    options = ["--dataset", "labelled", "--data_dir", str(site), "--bootstrap", "20", *WINDOWS]
    output = tmp_path / "other_rule"
    rule = site_claim(fitted).aggregation[0]
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
def test_the_shipped_site_detector_is_not_compared_on_patients_it_was_fitted_on(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Real data: ``sprsound-crackle-wheeze`` on 2 patients of SPRSound's inter_test part, of the sample it
    was fitted on (the one with normal sounds only and the one with some that have the fewest recordings,
    none with a Poor Quality recording): its site_fit.json lists them (patient ids as the SPRSound reader
    names them), so none is new and the claim is not compared, said in one line."""
    from respira.pretrained.shipped import shipped_detectors

    from ..conftest import SHARED_DIR

    shared = SHARED_DIR / "sprsound"
    if not shared.is_dir():
        pytest.skip(
            f"real SPRSound data not found at {shared} (../shared is only present on project machines)"
        )
    by_patient: dict[str, list[tuple[Path, str]]] = {}
    for notes in sorted((shared / "test_json" / "inter_test_json").glob("*.json")):
        label = json.loads(notes.read_text())["record_annotation"]
        by_patient.setdefault(notes.name.split("_")[0], []).append((notes, label))
    usable = {p: rows for p, rows in by_patient.items() if all(label != "Poor Quality" for _, label in rows)}
    normal = [p for p, rows in usable.items() if all(label == "Normal" for _, label in rows)]
    fewest = sorted(usable, key=lambda patient: len(usable[patient]))
    chosen = [p for p in fewest if p in normal][:1] + [p for p in fewest if p not in normal][:1]
    data = tmp_path / "sprsound"
    (data / "test_json" / "inter_test_json").mkdir(parents=True)
    (data / "test_wav").mkdir()
    for patient in chosen:
        for notes, _ in usable[patient]:
            (data / "test_json" / "inter_test_json" / notes.name).symlink_to(notes.resolve())
            wav = shared / "test_wav" / f"{notes.stem}.wav"
            (data / "test_wav" / wav.name).symlink_to(wav.resolve())
    output = tmp_path / "report"
    options = [
        "--dataset",
        "sprsound",
        "--data_dir",
        str(data),
        "--split",
        "inter_test",
        "--bootstrap",
        "200",
    ]
    assert main(["evaluate", "sprsound-crackle-wheeze", *options, "--output_dir", str(output)]) == 0
    check = json.loads((output / "metrics.json").read_text())["site_claim"]
    claim = site_claim(shipped_detectors()["sprsound-crackle-wheeze"])
    recordings = sum(len(usable[patient]) for patient in chosen)
    assert check["verdict"] == "not_compared" and check["left_out_fitted"] == {
        "units": 2, "recordings": recordings, "new_units": 0
    }  # fmt: skip
    assert check["reason"].startswith(
        f"all 2 patients ({recordings} recordings) are among the {claim.units} patients"
    )
    assert claim_line(check, claim) in capsys.readouterr().out.splitlines()


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

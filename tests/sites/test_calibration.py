"""Few-shot calibration (respira.sites.calibration and ``respira calibrate``): thresholds re-tuned on a
labelled sample, patient-bootstrap intervals, a held-out learning curve, a calibrated model folder."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from respira import RespiraConfig, RespiraForAudioClassification
from respira.cli import main
from respira.hub.loading import load_model
from respira.labels import MULTI_LABEL, SINGLE_LABEL
from respira.metrics.recording_level import patient_bootstrap
from respira.metrics.thresholds import choose_thresholds
from respira.sites.calibration import (
    LabelledSample,
    calibrate,
    calibration_card_section,
    cross_validated,
    largest_scored_point,
    learning_curve,
    sample_score,
    write_report,
)


def shifted_sample(patients: int = 5) -> LabelledSample:
    """Every patient has 2 normal and 2 crackle cycles; the model's crackle posteriors are 0.4 on crackles
    and 0.1 elsewhere, so at 0.5 it calls everything normal (score 0.5) and any threshold in (0.1, 0.4]
    is perfect (score 1)."""
    targets = np.tile([[0, 0], [0, 0], [1, 0], [1, 0]], (patients, 1))
    probabilities = np.where(targets == 1, 0.4, 0.1).astype(float)
    return LabelledSample(probabilities, targets, np.repeat(np.arange(patients), 4), "cycle")


def test_the_score_is_the_icbhi_score_of_the_decided_classes():
    targets = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    probabilities = np.array([[0.2, 0.2], [0.9, 0.1], [0.9, 0.9], [0.9, 0.9]])
    # normal right (Sp 1); crackle right, wheeze called both (a miss), both right: Se 2/3
    assert sample_score(targets, probabilities, [0.5, 0.5]) == pytest.approx((1 + 2 / 3) / 2)
    assert np.isnan(sample_score(targets[:1], probabilities[:1], [0.5, 0.5]))  # no abnormal cycle


def test_the_learning_curve_scores_held_out_patients_with_thresholds_tuned_on_the_others():
    sample = shifted_sample()
    curve = learning_curve(sample, [0.5, 0.5], repeats=3)
    assert [row["patients"] for row in curve] == [1, 2, 3, 4]
    for row in curve:
        assert row["calibrated_mean"] == pytest.approx(1.0)
        assert row["model_mean"] == pytest.approx(0.5)
        assert row["calibrated_subsets"] == 3


def test_calibrate_tunes_reports_bootstrap_intervals_and_refuses_one_patient():
    sample = shifted_sample()
    report = calibrate(sample, [0.5, 0.5], resamples=50, repeats=2, seed=1)
    crackle = report["thresholds"][0]
    assert 0.1 < crackle <= 0.4 and report["tuned"][0]
    assert report["icbhi_score"]["model"]["value"] == pytest.approx(0.5)
    assert report["icbhi_score"]["calibrated"]["value"] == pytest.approx(1.0)
    expected = patient_bootstrap(
        lambda i: {"model": sample_score(sample.targets[i], sample.probabilities[i], [0.5, 0.5])},
        sample.patients,
        resamples=50,
        seed=1,
    )
    assert report["icbhi_score"]["model"]["ci"] == pytest.approx(expected["model"])
    assert report["patients"] == 5 and report["examples"] == 20
    with pytest.raises(ValueError, match=r"at least 2 patients .* this sample has 1"):
        calibrate(shifted_sample(1), [0.5, 0.5])
    sample = shifted_sample()
    for keep, counts in (
        (sample.targets[:, 0] == 1, "0 normal and 10 abnormal"),
        (sample.targets[:, 0] == 0, "10 normal and 0 abnormal"),
    ):
        one_sided = LabelledSample(
            sample.probabilities[keep], sample.targets[keep], sample.patients[keep], "cycle"
        )
        with pytest.raises(
            ValueError, match=f"^calibration needs both normal and abnormal .* cycles: .* {counts}$"
        ):
            calibrate(one_sided, [0.5, 0.5])  # no threshold is tuned: the "calibrated" model was the model


@pytest.mark.real_data
def test_calibrate_refuses_a_sample_without_normal_recordings_before_scoring_it(
    shared_kauh: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    from respira.data import read_kauh_index

    index = read_kauh_index(shared_kauh)
    sample = tmp_path / "crackles"  # a site's crackle recordings only: 3 patients
    sample.mkdir()
    crackles = index[(index["crackle"] == 1) & (index["wheeze"] == 0)].drop_duplicates("patient_id")
    for path in crackles["path"][:3]:
        (sample / Path(path).name).symlink_to(path)
    model = tmp_path / "model"
    tiny_model().save_pretrained(model)
    monkeypatch.setattr("respira.inference.predict_windows", lambda *a, **k: pytest.fail("scored"))
    capsys.readouterr()
    output = tmp_path / "out"
    args = [
        "calibrate",
        str(model),
        "--data_dir",
        str(sample),
        "--dataset",
        "kauh",
        "--output_dir",
        str(output),
    ]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "respira calibrate: error: calibration needs both normal and abnormal (crackle or wheeze) "
        "recordings: the ICBHI score weighs specificity on the first and sensitivity on the second; this "
        "sample has 0 normal and 3 abnormal"
    )
    assert not output.exists()


def test_the_report_files(tmp_path: Path):
    report = calibrate(shifted_sample(), [0.5, 0.5], resamples=20, repeats=2)
    written = write_report(report, tmp_path)
    assert [p.name for p in written] == ["calibration.json", "learning_curve.csv", "learning_curve.png"]
    rows = list(csv.DictReader((tmp_path / "learning_curve.csv").open()))
    assert [int(r["patients"]) for r in rows] == [1, 2, 3, 4]
    assert json.loads((tmp_path / "calibration.json").read_text())["thresholds"] == report["thresholds"]
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def tiny_model(problem_type: str = MULTI_LABEL) -> RespiraForAudioClassification:
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config={"model_type": "respira_cnn", "channels": [4, 8, 8, 16]},
        target_seconds=1.0,
        problem_type=problem_type,
    )
    return RespiraForAudioClassification(config).eval()


def test_calibrate_refuses_in_one_line_before_any_work(synthetic_corpus: Path, tmp_path: Path, capsys):
    single = tmp_path / "single"
    tiny_model(SINGLE_LABEL).save_pretrained(single)
    capsys.readouterr()
    output = tmp_path / "out"
    assert (
        main(["calibrate", str(single), "--data_dir", str(synthetic_corpus), "--output_dir", str(output)])
        == 2
    )
    error = capsys.readouterr().err.strip()
    assert "single-label model" in error and len(error.splitlines()) == 1 and not output.exists()
    output.mkdir()
    (output / "keep.txt").write_text("earlier result")
    assert (
        main(["calibrate", str(single), "--data_dir", str(synthetic_corpus), "--output_dir", str(output)])
        == 2
    )
    assert "pass --overwrite" in capsys.readouterr().err
    assert (output / "keep.txt").read_text() == "earlier result"


@pytest.mark.real_data
def test_calibrate_end_to_end_on_the_real_icbhi_sample(
    shared_icbhi: Path, tmp_path: Path, capsys, progress_bars_on: None
):
    from respira.data import read_icbhi_index

    source = tmp_path / "model"
    tiny_model().save_pretrained(source)
    capsys.readouterr()
    output = tmp_path / "calibrated"
    code = main(  # a random model does not beat all-normal out of sample: written only as asked
        ["calibrate", str(source), "--data_dir", str(shared_icbhi), "--output_dir", str(output),
         "--bootstrap", "100", "--repeats", "2", "--apply_anyway"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = read_icbhi_index(shared_icbhi)
    report = json.loads((output / "calibration.json").read_text())
    assert report["examples"] == len(index) and report["patients"] == index["patient_id"].nunique()
    assert len(report["learning_curve"]) == report["patients"] - 1
    _, config = load_model(output, device="cpu")
    assert config.decision_thresholds == pytest.approx(report["thresholds"])
    assert config.calibration["examples"] == len(index)
    assert "## Few-shot calibration to a new site" in (output / "README.md").read_text()
    captured = capsys.readouterr()
    assert f"on {len(index)} cycles of {report['patients']} patients" in captured.out
    recordings = len(set(index["recording"]))
    assert (
        f"scoring the annotated cycles of recordings ({recordings} recordings)" in captured.err.splitlines()
    )


def overfitting_sample() -> LabelledSample:
    """3 patients, each with one normal and one crackle cycle, whose crackle posteriors sit at another level
    in each patient: on the whole sample a crackle threshold of 0.35 scores 0.67 (Se 2/3, Sp 2/3), but a
    threshold tuned on two patients decides the third wrong, while the model's 0.5 calls every cycle
    normal (score 0.5)."""
    targets = np.tile([[0, 0], [1, 0]], (3, 1))
    crackle = np.array([0.1, 0.35, 0.3, 0.45, 0.4, 0.2])
    probabilities = np.column_stack([crackle, np.zeros(6)])
    return LabelledSample(probabilities, targets, np.repeat(np.arange(3), 2), "cycle")


def test_cross_validation_decides_each_patient_at_thresholds_tuned_on_the_others():
    held_out = cross_validated(shifted_sample(), [0.5, 0.5])
    assert held_out == pytest.approx({"calibrated": 1.0, "model": 0.5})  # every patient alike: perfect
    sample = overfitting_sample()
    manual = []
    for patient in range(3):
        own = sample.patients == patient
        tuned = choose_thresholds(sample.targets[~own], sample.probabilities[~own], fallback=[0.5, 0.5])
        manual.append((sample.probabilities[own, 0] >= tuned.thresholds[0]).astype(int))
    predicted = np.concatenate(manual)  # crackle flags; wheeze never
    specificity = np.mean(predicted[sample.targets[:, 0] == 0] == 0)
    sensitivity = np.mean(predicted[sample.targets[:, 0] == 1] == 1)
    assert cross_validated(sample, [0.5, 0.5])["calibrated"] == pytest.approx((specificity + sensitivity) / 2)
    assert cross_validated(sample, [0.5, 0.5])["calibrated"] < 0.5


def test_thresholds_that_lose_out_of_sample_are_not_applied_unless_asked():
    sample = overfitting_sample()
    kept = calibrate(sample, [0.5, 0.5], resamples=20, repeats=2)
    assert not kept["applied"] and kept["thresholds"] == [0.5, 0.5]
    assert kept["tuned_thresholds"] != [0.5, 0.5]  # in sample, re-tuning looked perfect
    assert kept["icbhi_score"]["calibrated"]["value"] == kept["icbhi_score"]["model"]["value"]
    assert "kept the previous thresholds" in calibration_card_section(kept, "site_b")
    forced = calibrate(sample, [0.5, 0.5], resamples=20, repeats=2, apply_anyway=True)
    assert forced["applied"] and forced["applied_anyway"]
    assert forced["thresholds"] == forced["tuned_thresholds"] == kept["tuned_thresholds"]
    assert "applied although" in calibration_card_section(forced, "site_b")
    applied = calibrate(shifted_sample(), [0.5, 0.5], resamples=20, repeats=2)
    assert applied["applied"] and not applied["applied_anyway"]


def test_the_reported_held_out_point_is_the_largest_with_a_defined_score():
    nan = float("nan")
    curve = [
        {"patients": 1, "calibrated_mean": 0.6, "model_mean": 0.5},
        {"patients": 2, "calibrated_mean": 0.7, "model_mean": 0.5},
        {"patients": 3, "calibrated_mean": nan, "model_mean": nan},  # the one patient left: one class only
    ]
    assert largest_scored_point(curve)["patients"] == 2
    assert largest_scored_point(curve[2:]) is None and largest_scored_point([]) is None


def test_a_model_that_does_not_beat_all_normal_out_of_sample_is_flagged():
    # overfitting_sample: the model's 0.5 calls every cycle normal (0.5, a tie with all-normal) and the
    # re-tuned thresholds score below 0.5 with each patient left out: whichever is written is flagged
    kept = calibrate(overfitting_sample(), [0.5, 0.5], resamples=20, repeats=2)
    assert kept["baseline_all_normal_icbhi_score"] == 0.5
    (entry,) = kept["below_baseline"]
    assert (
        entry["key"] == "cross_validated.model"
        and entry["value"] == 0.5
        and entry["baseline"] == "all-normal"
    )
    forced = calibrate(overfitting_sample(), [0.5, 0.5], resamples=20, repeats=2, apply_anyway=True)
    assert forced["below_baseline"][0]["key"] == "cross_validated.calibrated"
    assert forced["below_baseline"][0]["value"] == forced["cross_validated"]["calibrated"] < 0.5
    assert "below the trivial baseline" in calibration_card_section(forced, "site_b")
    assert calibrate(shifted_sample(), [0.5, 0.5], resamples=20, repeats=2)["below_baseline"] == []


@pytest.mark.parametrize("apply_anyway", [False, True])
def test_the_command_keeps_thresholds_that_lose_out_of_sample_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, apply_anyway: bool
):
    model = tmp_path / "model"
    tiny_model().save_pretrained(model)
    sample = overfitting_sample()
    monkeypatch.setattr("respira.sites.calibration.labelled_sample", lambda *args, **kwargs: sample)
    (tmp_path / "site_b").mkdir()
    output = tmp_path / "out"
    args = ["calibrate", str(model), "--data_dir", str(tmp_path / "site_b"), "--output_dir", str(output)]
    capsys.readouterr()
    code = main([*args, "--bootstrap", "20", "--repeats", "2", *(["--apply_anyway"] if apply_anyway else [])])
    captured = capsys.readouterr()
    if not apply_anyway:  # the model's thresholds are kept, and they only tie with all-normal: refused
        assert code == 2 and not output.exists() and captured.out == ""
        (line,) = captured.err.strip().splitlines()
        assert "nothing written" in line and "does not beat the all-normal baseline's 0.500" in line
        assert "--apply_anyway" in line
        return
    assert code == 0
    report = json.loads((output / "calibration.json").read_text())
    _, config = load_model(output, device="cpu")
    assert config.decision_thresholds == pytest.approx(report["tuned_thresholds"])
    assert captured.out.startswith("calibrated ")
    assert "BELOW BASELINE (all-normal 0.500)" in captured.out
    assert config.calibration["applied"]
    assert "below the trivial baseline" in (output / "README.md").read_text()

"""``respira evaluate MODEL --dataset kauh``: recording-level external validation, end to end on a few real
KAUH recordings with a tiny random CNN (the scores mean nothing; the plumbing is what is checked)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from respira.cli import main
from respira.hub.loading import load_model
from respira.inference.windowing import predict_windows
from respira.metrics.recording_level import (
    flatten_scores,
    patient_bootstrap,
    recording_level_scores,
    recording_strata,
)
from respira.models.respira.audio_decoding import read_audio

from ..conftest import save_tiny_model

PATIENTS = ("10", "22", "30")  # short recordings: wheeze, crackle, normal

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def kauh_subset(shared_kauh: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three patients of ../shared/kauh in all three filter modes (links to the real files)."""
    folder = tmp_path_factory.mktemp("kauh_subset")
    for path in sorted(shared_kauh.glob("*.wav")):
        if path.name.split("_")[0][2:] in PATIENTS:
            (folder / path.name).symlink_to(path)
    assert len(list(folder.iterdir())) == 3 * len(PATIENTS)
    return folder


def _evaluate(model_dir: Path, data_dir: Path, output: Path, *extra: str) -> dict:
    cache = output.parent / "cache"
    arguments = ["evaluate", str(model_dir), "--dataset", "kauh", "--data_dir", str(data_dir)]
    arguments += ["--cache_dir", str(cache), "--output_dir", str(output), "--bootstrap", "40", *extra]
    assert main(arguments) == 0
    return json.loads((output / "metrics.json").read_text())


def test_single_label_model_per_recording(kauh_subset: Path, tmp_path: Path, capsys) -> None:
    model_dir = save_tiny_model(tmp_path / "model")
    metrics = _evaluate(model_dir, kauh_subset, tmp_path / "report")
    out = capsys.readouterr().out
    assert "ICBHI-style" in out and "diaphragm" in out and "wrote metrics.json" in out

    assert metrics["num_recordings"] == 9 and metrics["num_patients"] == 3
    assert metrics["aggregation"]["rule"] == "max" and "maximum" in metrics["aggregation"]["description"]
    assert metrics["thresholds"] == {"crackle": 0.5, "wheeze": 0.5, "source": "default"}
    assert metrics["bootstrap"]["unit"] == "patient" and metrics["bootstrap"]["resamples"] == 40
    assert set(metrics["groups"]) == {"overall", "bell", "diaphragm", "extended"}
    for name, group in metrics["groups"].items():
        assert group["num_recordings"] == (9 if name == "overall" else 3)
        assert group["num_patients"] == 3
        assert group["crackle"]["positives"] == (3 if name == "overall" else 1)
        assert group["normal"]["positives"] == (3 if name == "overall" else 1)
        for label in ("crackle", "wheeze", "normal", "icbhi"):
            for low, high in group[label]["ci"].values():
                assert (low is None) == (high is None)
                assert low is None or 0.0 <= low <= high <= 1.0

    # The CSV holds each recording's probabilities: recompute them independently (predict + max)
    model, _ = load_model(model_dir, device="cpu")
    with (tmp_path / "report" / "recording_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 9
    for row in rows:
        waveform = read_audio(kauh_subset / f"{row['recording']}.wav", 16000)
        windows = predict_windows(model, waveform, window=4.0, hop=2.0)
        assert int(row["windows"]) == len(windows)
        assert float(row["p_crackle"]) == pytest.approx(max(w["crackle"] for w in windows), abs=2e-6)
        assert float(row["p_wheeze"]) == pytest.approx(max(w["wheeze"] for w in windows), abs=2e-6)
        assert int(row["predicted_crackle"]) == int(float(row["p_crackle"]) >= 0.5)
    # ... and the overall scores from the CSV
    crackle = np.array([int(r["crackle"]) for r in rows])
    predicted = np.array([int(r["predicted_crackle"]) for r in rows])
    overall = metrics["groups"]["overall"]["crackle"]
    assert overall["sensitivity"] == pytest.approx(predicted[crackle == 1].mean())
    assert overall["specificity"] == pytest.approx(1 - predicted[crackle == 0].mean())
    # ... and its intervals: patients resampled with all their recordings (three per patient here)
    targets = np.array([[int(r[flag]) for flag in ("crackle", "wheeze", "normal")] for r in rows])
    probabilities = np.array([[float(r["p_crackle"]), float(r["p_wheeze"])] for r in rows])

    def statistic(indices: np.ndarray) -> dict[str, float]:
        return flatten_scores(recording_level_scores(targets[indices], probabilities[indices], (0.5, 0.5)))

    patients = [int(r["patient_id"]) for r in rows]
    strata = recording_strata(targets)  # every resample keeps each class signature's patients
    intervals = patient_bootstrap(statistic, patients, resamples=40, seed=0, strata=strata)
    for group, key in (("crackle", "sensitivity"), ("normal", "specificity"), ("icbhi", "icbhi_score")):
        reported = [np.nan if v is None else v for v in metrics["groups"]["overall"][group]["ci"][key]]
        assert reported == pytest.approx(intervals[f"{group}.{key}"], nan_ok=True)


@pytest.mark.figures
def test_multi_label_model_thresholds_come_from_its_config(
    kauh_subset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], progress_bars_on: None
) -> None:
    model_dir = save_tiny_model(
        tmp_path / "multi", problem_type="multi_label_classification", decision_thresholds=[0.3, 0.7]
    )
    output = tmp_path / "report"
    metrics = _evaluate(model_dir, kauh_subset, output, "--aggregation", "topk_mean", "--top_k", "2")
    captured = capsys.readouterr()
    assert "scoring recordings (9 recordings)" in captured.err.splitlines()
    curves = ("roc_curves.png", "precision_recall_curves.png", "threshold_curves.png")
    assert f"wrote metrics.json, recording_predictions.csv, {', '.join(curves)} to {output}" in captured.out
    for name in curves:
        assert (output / name).stat().st_size > 10_000
    assert metrics["thresholds"] == {"crackle": 0.3, "wheeze": 0.7, "source": "config.decision_thresholds"}
    assert metrics["aggregation"]["rule"] == "topk_mean" and metrics["aggregation"]["top_k"] == 2
    with (output / "recording_predictions.csv").open() as handle:
        for row in csv.DictReader(handle):
            assert int(row["predicted_wheeze"]) == int(float(row["p_wheeze"]) >= 0.7)
            neither = row["predicted_crackle"] == row["predicted_wheeze"] == "0"
            assert int(row["predicted_normal"]) == int(neither)


def test_thresholds_and_splits_are_refused(kauh_subset: Path, tmp_path: Path, capsys) -> None:
    model_dir = save_tiny_model(tmp_path / "model")
    base = ["evaluate", str(model_dir), "--dataset", "kauh", "--data_dir", str(kauh_subset)]
    assert main([*base, "--thresholds", "0.2", "0.2"]) != 0
    assert "never at values chosen on the validation corpus" in capsys.readouterr().err
    assert main([*base, "--split", "train"]) != 0
    assert "--split 'train': KAUH's splits are 'test', 'all'" in capsys.readouterr().err
    assert main([*base, "--top_k", "2"]) != 0
    assert "topk_mean only" in capsys.readouterr().err
    assert main([*base, "--aggregation", "topk_mean", "--top_k", "0"]) != 0  # was read as the default 3
    assert "--top_k must be a whole number >= 1, got 0" in capsys.readouterr().err
    assert main([*base, "--validation_size", "0.1"]) != 0
    assert "make ICBHI splits; KAUH is scored on its own splits" in capsys.readouterr().err


def test_window_options_are_refused_for_a_corpus_scored_per_cycle(tmp_path: Path, capsys) -> None:
    model_dir = save_tiny_model(tmp_path / "model")
    given = ["--window", "2", "--aggregation", "topk_mean", "--top_k", "2", "--bootstrap", "10"]
    capsys.readouterr()
    assert main(["evaluate", str(model_dir), "--data_dir", str(tmp_path / "icbhi"), *given]) == 2
    assert capsys.readouterr().err.strip() == (
        "respira evaluate: error: --window, --aggregation, --bootstrap, --top_k: only for corpora scored "
        "over windows (--dataset kauh, sprsound or labelled); ICBHI is scored per annotated cycle"
    )


def test_the_icbhi_style_interval_never_holds_a_resample_scored_as_specificity_alone() -> None:
    # needs no real data: the recording-level scores of hand-made probabilities. 18 patients with two normal
    # recordings (one called crackle), 2 with crackle recordings that are missed: sensitivity 0, so the
    # ICBHI-style score is specificity / 2. About 12 % of plain patient resamples hold neither abnormal
    # patient; scored there as specificity alone (1.0), they topped the interval near 1
    from respira.evaluation.external_validation import _group_scores

    targets = np.array([[0, 0, 1]] * 36 + [[1, 0, 0]] * 4)
    probabilities = np.full((40, 2), 0.1)
    probabilities[0, 0] = 0.9
    patients = np.repeat(np.arange(20), 2)
    settings = {"resamples": 400, "seed": 0, "confidence": 0.95}
    scores = _group_scores(targets, probabilities, patients, (0.5, 0.5), **settings)
    icbhi = scores["icbhi"]
    assert icbhi["sensitivity"] == 0.0 and icbhi["icbhi_score"] == pytest.approx(icbhi["specificity"] / 2)
    high = icbhi["ci"]["icbhi_score"][1]
    assert high <= (1 + icbhi["ci"]["sensitivity"][1]) / 2 and high <= 0.5
    assert scores["crackle"]["ci"]["sensitivity"] == [0.0, 0.0]
    # ... and that score (specificity / 2) is below calling every recording normal: flagged
    from respira.evaluation.external_validation import _below_baselines
    from respira.evaluation.recording_report import recording_level_table

    assert icbhi["baseline_all_normal_icbhi_score"] == 0.5
    (entry,) = _below_baselines({"overall": scores})
    assert (entry["key"], entry["baseline"]) == ("groups.overall.icbhi.icbhi_score", "all-normal")
    table = recording_level_table(
        {"groups": {"overall": scores}, "bootstrap": {"confidence": 0.95}, "below_baseline": [entry]}
    )
    row = next(line for line in table.splitlines() if "ICBHI-style" in line)
    assert row.endswith("BELOW BASELINE (all-normal 50.0)")
    # issue 49: the all-normal figure beside the ICBHI-style score (evaluate --dataset labelled / kauh),
    # in % as everywhere, and an interval of zero width on 4 abnormal recordings (a tiny sample) said to
    # mean nothing
    assert "all-normal %" in table.splitlines()[0]
    assert row.split()[-5] == "50.0"  # the all-normal column, before the flag's four words
    assert "0.0 [0.0, 0.0] (interval of zero width: too few samples to mean anything: 4)" in row

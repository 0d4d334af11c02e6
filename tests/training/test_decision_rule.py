"""One decision rule and one input preprocessing, from selection to every consumer of the saved model.

* the trainer tunes multi-label thresholds at every validation evaluation, selects checkpoints at their
  tuned scores, keeps the selected checkpoint's thresholds and scores the test split at them;
* a run trained on low-passed recordings carries the filter in its config and feature extractor, so
  ``respira evaluate`` on the bare model reproduces the training-time test metrics exactly, and the
  evaluation report and ``respira predict`` decide the same class for every cycle.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from respira.cli import build_parser, main
from respira.data import load_icbhi
from respira.data.run_splits import load_splits
from respira.evaluation.cycles import evaluate_model
from respira.evaluation.evaluate import split_options
from respira.hub.loading import load_model
from respira.metrics import multilabel_scores, sigmoid
from respira.models.respira.audio_decoding import decode_audio
from respira.models.respira.labels import MULTI_LABEL, classes_to_flags
from respira.training import RespiraTrainer

from .conftest import TINY_RECIPE, tiny_model, training_args

pytestmark = pytest.mark.filterwarnings("ignore::respira.metrics.UndefinedMetricWarning")


def _logged_thresholds(entry: dict) -> list[float]:
    return [entry["eval_threshold_crackle"], entry["eval_threshold_wheeze"]]


def test_checkpoints_are_selected_and_kept_at_their_tuned_thresholds(icbhi_splits, tmp_path: Path) -> None:
    args = training_args(
        tmp_path,
        max_steps=6,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=2,
        load_best_model_at_end=True,
    )
    model = tiny_model(problem_type=MULTI_LABEL)
    validation, test = icbhi_splits["validation"], icbhi_splits["test"]
    trainer = RespiraTrainer(model, args, icbhi_splits["train"], eval_dataset=validation)
    trainer.train()

    evaluations = [entry for entry in trainer.state.log_history if "eval_icbhi_score" in entry]
    assert [entry["step"] for entry in evaluations] == [2, 4, 6]
    for entry in evaluations:  # each checkpoint was scored at thresholds tuned at its own evaluation
        assert entry["eval_thresholds_tuned"] == 2.0
        saved = json.loads((tmp_path / "run" / f"checkpoint-{entry['step']}" / "config.json").read_text())
        assert saved["decision_thresholds"] == _logged_thresholds(entry)
    best = next(entry for entry in evaluations if entry["step"] == trainer.state.best_global_step)
    assert (
        trainer.state.best_metric
        == best["eval_icbhi_score"]
        == max(e["eval_icbhi_score"] for e in evaluations)
    )
    assert model.config.decision_thresholds == _logged_thresholds(best)  # restored with the best weights

    # re-scoring the selected model on validation gives its selection score, at the same thresholds
    again = trainer.evaluate()
    assert again["eval_icbhi_score"] == best["eval_icbhi_score"]
    assert _logged_thresholds(again) == _logged_thresholds(best)
    logits = trainer.predict(validation).predictions
    flags = classes_to_flags(np.asarray(validation["label"]))
    at_half = multilabel_scores(flags, sigmoid(logits), (0.5, 0.5), warn=False)["icbhi_score"]
    assert best["eval_icbhi_score"] >= at_half  # 0.5 is one of the candidates

    # the test split is decided at the kept thresholds, never tuned on
    scored = trainer.evaluate_test(test).metrics
    assert [
        scored["test_threshold_crackle"],
        scored["test_threshold_wheeze"],
    ] == model.config.decision_thresholds
    assert "test_thresholds_tuned" not in scored
    test_logits = trainer.predict(test).predictions
    expected = multilabel_scores(
        classes_to_flags(np.asarray(test["label"])), sigmoid(test_logits), model.config.decision_thresholds
    )
    assert scored["test_icbhi_score"] == pytest.approx(expected["icbhi_score"], abs=1e-12)
    assert scored["test_baseline_all_normal_icbhi_score"] == 0.5
    assert "test_patient_icbhi_score" in scored and "test_baseline_all_normal_patient_icbhi_score" in scored
    with pytest.raises(ValueError, match="never tuned on the test split"):
        trainer.evaluate(test)


def test_fixed_objective_decides_at_one_half(icbhi_splits, tmp_path: Path) -> None:
    args = training_args(
        tmp_path, max_steps=2, eval_strategy="steps", eval_steps=2, threshold_objective="fixed"
    )
    model = tiny_model(problem_type=MULTI_LABEL)
    trainer = RespiraTrainer(model, args, icbhi_splits["train"], eval_dataset=icbhi_splits["validation"])
    trainer.train()
    metrics = trainer.evaluate()
    assert (metrics["eval_threshold_crackle"], metrics["eval_threshold_wheeze"]) == (0.5, 0.5)
    assert model.config.decision_thresholds is None
    with pytest.raises(ValueError, match="threshold_objective"):
        training_args(tmp_path, threshold_objective="accuracy")


def _test_recordings(cycles: list[dict]) -> dict[str, list[dict]]:
    by_recording: dict[str, list[dict]] = {}
    for row in cycles:
        by_recording.setdefault(row["recording"], []).append(row)
    return by_recording


def test_evaluate_report_and_predict_agree_with_training_on_a_low_passed_model(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    recipe = tmp_path / "recipe.yaml"
    options = {**TINY_RECIPE, "problem_type": MULTI_LABEL, "lowpass_cutoff": 1000.0}
    options["lowpass_order"] = 6  # not the default 4: the order must travel with the model too
    options["threshold_objective"] = "f1"  # thresholds inside the (narrow) band: varied decisions
    recipe.write_text(yaml.safe_dump({**options, "max_steps": 4, "learning_rate": 3e-3}))
    run, cache = tmp_path / "run", dataset_cache
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(run),
         "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["lowpass_cutoff"] == 1000.0 and config["lowpass_order"] == 6
    extractor = json.loads((run / "preprocessor_config.json").read_text())
    assert (extractor["lowpass_cutoff"], extractor["lowpass_order"]) == (1000.0, 6)
    card = (run / "README.md").read_text()
    assert "| input low-pass (zero-phase Butterworth, whole recordings) | 1000 Hz, order 6 |" in card
    thresholds = config["decision_thresholds"]
    assert thresholds is not None
    trained = json.loads((run / "metrics.json").read_text())

    # only what travels with the model: no run record, so nothing but config.json says "low-pass"
    bare = tmp_path / "bare_model"
    bare.mkdir()
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        shutil.copy(run / name, bare / name)
    capsys.readouterr()
    code = main(
        ["evaluate", str(bare), "--data_dir", str(synthetic_corpus), "--split", "test",
         "--cache_dir", str(cache), "--output_dir", str(tmp_path / "report")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "report" / "metrics.json").read_text())
    for key in ("icbhi_score", "specificity", "sensitivity", "binary_sensitivity", "patient_icbhi_score"):
        assert report[key] == pytest.approx(trained[f"test_{key}"], abs=1e-12), key
    for key in ("all_normal_icbhi_score", "class_prior_icbhi_score", "all_normal_patient_icbhi_score"):
        assert report[f"baseline_{key}"] == pytest.approx(trained[f"test_baseline_{key}"], abs=1e-12), key
    assert report["thresholds"] == thresholds
    training_report = json.loads((run / "evaluation_test" / "metrics.json").read_text())
    assert report["confusion_matrix"] == training_report["confusion_matrix"]

    # respira predict, cycle by cycle, on the raw recordings and their annotation files
    with (tmp_path / "report" / "cycle_predictions.csv").open() as handle:
        cycles = list(csv.DictReader(handle))
    assert len(cycles) == report["num_examples"]
    assert len({row["predicted"] for row in cycles}) > 1  # the agreement below is not all "normal"
    folder = synthetic_corpus / "ICBHI_final_database"
    for recording, rows in _test_recordings(cycles).items():
        output = tmp_path / f"{recording}.json"
        code = main(
            ["predict", str(bare), str(folder / f"{recording}.wav"), "--annotations",
             str(folder / f"{recording}.txt"), "--output", str(output)]
        )  # fmt: skip
        assert code == 0, capsys.readouterr().err
        predicted = json.loads(output.read_text())
        ordered = sorted(rows, key=lambda row: int(row["cycle_index"]))
        assert [row["label"] for row in predicted] == [row["predicted"] for row in ordered], recording
        assert [row["crackle"] for row in predicted] == pytest.approx(
            [float(row["crackle"]) for row in ordered], abs=1e-5
        )

    # evaluate fed the model the training cycles: the split it builds for the bare model holds the
    # very samples of the training run's test split, and they differ from unfiltered cycles
    model, loaded_config = load_model(bare, device="cpu")
    flags = build_parser().parse_args(["evaluate", str(bare), "--data_dir", str(synthetic_corpus)])
    evaluated = load_splits(split_options(flags, loaded_config), cache_dir=cache)["test"]
    training = load_icbhi(
        synthetic_corpus, validation_size=0.25, lowpass_cutoff=1000.0, lowpass_order=6, cache_dir=cache
    )["test"]
    unfiltered = load_icbhi(synthetic_corpus, validation_size=0.25, cache_dir=cache)["test"]
    for index in (0, len(training) // 2, len(training) - 1):
        samples = _samples(evaluated[index])
        np.testing.assert_array_equal(samples, _samples(training[index]))
        assert np.abs(samples - _samples(unfiltered[index])).max() > 0.01 * np.abs(samples).max()
    # ... and unfiltered cycles give the model other outputs
    evaluate_model(model, unfiltered, output_dir=tmp_path / "unfiltered")
    with (tmp_path / "unfiltered" / "cycle_predictions.csv").open() as handle:
        raw = [float(row["crackle"]) for row in csv.DictReader(handle)]
    assert np.abs(np.array(raw) - np.array([float(row["crackle"]) for row in cycles])).max() > 1e-5


def _samples(example: dict) -> np.ndarray:
    return decode_audio(example["audio"], 16000)

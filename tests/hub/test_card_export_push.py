"""Model cards, export and push of respira models (the Hub round trip runs against a local fake Hub)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForAudioClassification, pipeline

import respira
from respira import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification
from respira.cli import main
from respira.hub import (
    EXPORTED_FILES,
    HubConnectionError,
    ModelLoadError,
    card_data_from_run_dir,
    export_model,
    push_run,
    render_model_card,
)
from respira.hub.export import RECORDS
from respira.hub.remote_code import remote_code_files
from respira.models.respira.labels import MULTI_LABEL, SINGLE_LABEL
from respira.records.run import (
    DataRecord,
    MetricsRecord,
    ModelRecord,
    RunRecord,
    SeedResult,
    SplitSize,
    TrainingRecord,
)
from respira.utils.files import WRITTEN_FILE

from ..training.conftest import TINY_RECIPE
from .hub_server import HubServer, free_port, pushing_to

REPO_ID = "user/respira-test"
SUBPROCESS_TIMEOUT = 150
TINY_ENCODER = {"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}

METRICS_3_SEEDS = {
    "seeds": [0, 1, 2],
    "test_icbhi_score_mean": 0.6123,
    "test_icbhi_score_std": 0.0089,
    "test_specificity_mean": 0.8012,
    "test_specificity_std": 0.0213,
    "test_sensitivity_mean": 0.4234,
    "test_sensitivity_std": 0.0151,
    "test_binary_sensitivity_mean": 0.5120,
    "test_binary_sensitivity_std": 0.0200,
    "test_patient_icbhi_score_mean": 0.5801,
    "test_patient_icbhi_score_std": 0.0120,
    "test_f1_crackle_mean": 0.4410,
    "test_f1_crackle_std": 0.0100,
    "test_recall_both_mean": None,
    "test_recall_both_std": None,
    "test_runtime_mean": 1.23,
    "per_seed": [
        {"seed": 0, "test_icbhi_score": 0.6201, "test_specificity": 0.82, "test_sensitivity": 0.4202},
        {"seed": 1, "test_icbhi_score": 0.6090, "test_specificity": 0.79, "test_sensitivity": 0.4280},
        {"seed": 2, "test_icbhi_score": 0.6078, "test_specificity": 0.7936, "test_sensitivity": 0.4220},
    ],
}
RUN_RECORD = RunRecord(
    recipe="cnn_add",
    model=ModelRecord(encoder="cnn"),
    data=DataRecord(
        data_dir="/home/someone/data/ICBHI",
        sampling_rate=16000,
        split_strategy="official",
        validation_size=0.2,
        split_seed=0,
        split_sizes={
            "train": SplitSize(cycles=3310, patients=63),
            "validation": SplitSize(cycles=832, patients=16),
            "test": SplitSize(cycles=2756, patients=49),
        },
    ),
    training=TrainingRecord(
        hyperparameters={
            "learning_rate": 0.001,
            "num_train_epochs": 50,
            "per_device_train_batch_size": 64,
            "aux_loss": "add",
            "aux_loss_weight": 0.5,
            "aux_loss_options": '{"soft": false}',
            "batch_sampler": "group_by_metadata",
            "augmentation": '{"white_noise": {"snr_db": [20, 40], "probability": 0.5}, "time_shift": null}',
            "seed": 0,
        }
    ),
    seeds=[0, 1, 2],
    selected_seed=0,
    metrics=MetricsRecord(
        test={
            name.removeprefix("test_").removesuffix("_mean"): value
            for name, value in METRICS_3_SEEDS.items()
            if name.endswith("_mean")
        },
        test_std={
            name.removeprefix("test_").removesuffix("_std"): value
            for name, value in METRICS_3_SEEDS.items()
            if name.endswith("_std")
        },
        per_seed=[
            SeedResult(entry["seed"], {k.removeprefix("test_"): v for k, v in entry.items() if k != "seed"})
            for entry in METRICS_3_SEEDS["per_seed"]
        ],
    ),
)
TRAINER_STATE = {
    "global_step": 1300,
    "epoch": 50.0,
    "best_metric": 0.5902,
    "best_global_step": 900,
    "train_batch_size": 64,
    "log_history": [
        {"loss": 1.2, "step": 100},
        {"eval_icbhi_score": 0.55, "eval_specificity": 0.7, "eval_sensitivity": 0.4, "step": 500},
        {"eval_icbhi_score": 0.5902, "eval_specificity": 0.75, "eval_sensitivity": 0.4304, "step": 900},
    ],
}


def tiny_model(problem_type: str = SINGLE_LABEL, seed: int = 0) -> RespiraForAudioClassification:
    torch.manual_seed(seed)
    config = RespiraConfig(encoder_config=dict(TINY_ENCODER), target_seconds=1.0, problem_type=problem_type)
    return RespiraForAudioClassification(config).eval()


def write_run_dir(
    folder: Path,
    model: RespiraForAudioClassification,
    *,
    metrics: dict | None = METRICS_3_SEEDS,
    record: RunRecord | None = RUN_RECORD,
    state: dict | None = TRAINER_STATE,
    preprocessor: bool = True,
) -> Path:
    folder.mkdir(parents=True)
    model.save_pretrained(folder)
    if preprocessor:
        RespiraFeatureExtractor().save_pretrained(folder)
    if record is not None:
        record.save(folder)
    for name, content in (("metrics.json", metrics), ("trainer_state.json", state)):
        if content is not None:
            (folder / name).write_text(json.dumps(content, indent=2))
    return folder


@pytest.fixture(scope="module")
def model() -> RespiraForAudioClassification:
    return tiny_model()


@pytest.fixture(scope="module")
def run_dir(model: RespiraForAudioClassification, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_run_dir(tmp_path_factory.mktemp("runs") / "cnn_add", model)
    # never loaded nor exported: not a valid pickle, so unpickling it would fail loudly
    (folder / "training_args.bin").write_bytes(b"not a pickle")
    (folder / "checkpoint-900").mkdir()
    (folder / "checkpoint-900" / "optimizer.pt").write_bytes(b"not a pickle either")
    return folder


@pytest.fixture(scope="module")
def waveform() -> np.ndarray:
    return (np.random.default_rng(7).standard_normal(24_000) * 0.1).astype(np.float32)


def local_logits(model: RespiraForAudioClassification, waveform: np.ndarray) -> np.ndarray:
    inputs = RespiraFeatureExtractor()(waveform, sampling_rate=16_000, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits[0].numpy()


def pipeline_logits(classifier, waveform: np.ndarray, labels: list[str]) -> np.ndarray:
    """The pipeline's logits of ``waveform`` (at most the models' 1 s fixed length: longer is windowed)."""
    outputs = classifier({"raw": waveform, "sampling_rate": 16_000}, top_k=None, function_to_apply="none")
    scores = {item["label"]: item["score"] for item in outputs}
    return np.array([scores[label] for label in labels])


# ------------------------------------------------------------------------------------------- model card
def test_card_from_run_dir_states_split_metrics_results_and_limits(run_dir: Path) -> None:
    card = render_model_card(card_data_from_run_dir(run_dir, model_id=REPO_ID))
    text = str(card)

    # split, validation, seeds and sizes
    assert "**official ICBHI 2017 train/test split**" in text
    assert "20% of the training cycles" in text
    assert "**Training seeds:** 0, 1, 2" in text
    assert "weights in this repository are those of seed 0" in text
    assert "| validation | 832 | 16 |" in text
    assert "/home/someone" not in text  # local paths stay private
    # metric definitions: strict vs binary sensitivity, per-patient variants
    assert "**Sensitivity** (Se, strict)" in text
    assert "**Binary sensitivity**" in text
    assert "never to be compared with published ICBHI scores" in text
    assert "Per-patient variants" in text
    # results: mean ± std over seeds (in %), per seed, undefined values, validation
    assert "mean ± standard deviation over 3 seeds" in text
    assert "| ICBHI score | 61.2 ± 0.9 |" in text  # % with one decimal, as everything a person reads
    assert "| Sensitivity (strict, official) | 42.3 ± 1.5 |" in text
    assert "| Per-patient ICBHI score | 58.0 ± 1.2 |" in text
    assert "| 1 | 60.9 | 79.0 | 42.8 |" in text
    assert "| `recall_both` | undefined |" in text
    assert "runtime" not in text
    assert "best validation score used for model selection was 59.02 (step 900)" in text
    # hyper-parameters
    assert "| learning rate | `0.001` |" in text
    assert "| auxiliary loss | `add` |" in text
    assert "| auxiliary loss weight λ | `0.5` |" in text
    assert '| auxiliary loss options | `{"soft": false}` |' in text
    assert "| batch sampler | `group_by_metadata` |" in text
    assert '`{"white_noise": {"snr_db": [20, 40], "probability": 0.5}, "time_shift": null}`' in text
    # limitations, usage and citations
    assert "not a medical device" in text.lower()
    assert "must not be used to diagnose" in text
    assert "Littmann 3200" in text
    assert "Crackles and wheezes lie in about 0.1–2 kHz: a recording sampled below 4 kHz" in text
    assert "(`SampleRateWarning`)" in text  # the class respira warns with, by its real name
    assert f"respira predict {REPO_ID} " in text
    assert f'"audio-classification", model="{REPO_ID}", pipeline_class=RespiraAudioClassification' in text
    assert "import respira" in text
    for key in ("rocha2019open", "almudevar2024add", "song2021contrastive"):
        assert f"{{{key}," in text
    assert "synthetic" not in text.lower()


def test_card_metadata_parses_with_model_index(run_dir: Path) -> None:
    text = str(render_model_card(card_data_from_run_dir(run_dir, model_id=REPO_ID)))
    data = ModelCard(text).data.to_dict()
    assert data["pipeline_tag"] == "audio-classification"
    assert data["license"] == "apache-2.0"
    assert "language" not in data
    for tag in ("audio-classification", "respiratory-sound", "icbhi", "respira", "cnn"):
        assert tag in data["tags"]
    (entry,) = data["model-index"]
    (result,) = entry["results"]
    assert result["task"]["type"] == "audio-classification"
    assert result["dataset"]["split"] == "test"
    assert result["dataset"]["config"] == "official"
    values = {metric["name"].split(" (")[0]: metric["value"] for metric in result["metrics"]}
    assert values == {"Test ICBHI score": 61.2, "Test Specificity": 80.1, "Test Sensitivity": 42.3}
    # Hub metric ids (https://hf.co/metrics): each ICBHI metric is a recall, its args say which
    assert data["metrics"] == ["recall"] and {m["type"] for m in result["metrics"]} == {"recall"}
    args = {metric["name"].split(" (")[0]: metric["args"] for metric in result["metrics"]}
    assert args["Test Specificity"] == {"labels": ["normal"], "average": "micro"}
    assert args["Test Sensitivity"] == {"labels": ["crackle", "wheeze", "both"], "average": "micro"}
    assert args["Test ICBHI score"]["mean_of"] == ["specificity", "sensitivity"]
    assert "datasets" not in data  # trained on a local folder: no Hub dataset to name


def test_single_seed_multilabel_card_with_thresholds(tmp_path: Path) -> None:
    record = RunRecord(
        model=ModelRecord(
            encoder="ast",
            checkpoint="MIT/ast-finetuned-audioset-10-10-0.4593",
            problem_type=MULTI_LABEL,
        ),
        data=DataRecord(data_dir=None, sampling_rate=16000, split_strategy="patient"),
        training=TrainingRecord(
            hyperparameters={"learning_rate": 3e-5, "aux_loss": "supcon", "aux_loss_weight": 0.1}
        ),
        seeds=[5],
        selected_seed=5,
        thresholds=[0.4, 0.3],
        thresholds_tuned=True,
        metrics=MetricsRecord(test={"icbhi_score": 0.5, "specificity": 0.75, "sensitivity": 0.25}),
    )
    folder = write_run_dir(tmp_path / "run", tiny_model(MULTI_LABEL), metrics=None, record=record, state=None)
    card_data = card_data_from_run_dir(folder)
    text = str(render_model_card(card_data))
    assert "**patient-wise train/validation/test split**" in text
    assert "**not the official split**" in text
    assert "| ICBHI score | 50.0 |" in text
    assert "±" not in text.split("## Evaluation results")[1].split("### Metric definitions", maxsplit=1)[0]
    assert "### Decision thresholds" in text
    assert "| crackle | 0.4 |" in text and "| wheeze | 0.3 |" in text
    assert "tuned on the validation split" in text
    assert "apply these thresholds yourself" not in text  # the pipeline decides at them
    assert (
        '`pipeline("audio-classification")` (with\nrespira\'s `pipeline_class`, or `trust_remote_code=True`)'
        in text
    )
    assert (
        "the class the model decides\nfirst (the crackle and wheeze flags decided at the thresholds above"
        in text
    )
    assert "multi-label audio classification" in text
    assert "khosla2020supcon" in text
    assert "path/to/exported_model" in text  # no model id yet
    data = ModelCard(text).data.to_dict()
    assert data["base_model"] == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert data["model-index"][0]["results"][0]["dataset"]["config"] == "patient"


def test_a_test_score_below_its_trivial_baseline_is_said_on_the_card(tmp_path: Path) -> None:
    test = {  # issue 43: a per-patient score of 0.474 beside an all-normal 0.714
        "icbhi_score": 0.55,
        "patient_icbhi_score": 0.474,
        "baseline_all_normal_icbhi_score": 0.5,
        "baseline_class_prior_icbhi_score": 0.41,
        "baseline_all_normal_patient_icbhi_score": 0.714,
    }
    record = RunRecord(
        model=ModelRecord(encoder="ast", checkpoint="MIT/ast-finetuned-audioset-10-10-0.4593"),
        data=DataRecord(data_dir=None, sampling_rate=16000),
        metrics=MetricsRecord(test=test),
    )
    folder = write_run_dir(tmp_path / "run", tiny_model(), metrics=None, record=record, state=None)
    text = " ".join(str(render_model_card(card_data_from_run_dir(folder))).split())
    results = text.split("## Evaluation results")[1]
    assert (
        "**Below the trivial baseline.** These scores do not beat a classifier that ignores the audio"
        in results
    )
    assert (
        "- per-patient ICBHI score (test split) 47.4 does not beat the all-normal baseline's 71.4" in results
    )
    assert results.count("does not beat the") == 1  # the ICBHI score 0.55 beats both of its baselines
    record.metrics.test["patient_icbhi_score"] = 0.8
    folder = write_run_dir(tmp_path / "run2", tiny_model(), metrics=None, record=record, state=None)
    assert "Below the trivial baseline" not in str(render_model_card(card_data_from_run_dir(folder)))


def test_card_of_a_multi_seed_patient_split_record(tmp_path: Path) -> None:
    """Everything a card states about data, seeds and results comes from the run record's typed fields."""
    record = RunRecord(
        model=ModelRecord(encoder="cnn"),
        data=DataRecord(
            data_dir="demo_output/corpus",
            sampling_rate=16000,
            synthetic=True,
            split_strategy="patient",
            split_seed=3,
            patient_split_fractions=(0.7, 0.1, 0.2),
            stratify_by="chest_location",
            train_fraction=0.5,
            split_sizes={"train": SplitSize(120), "validation": SplitSize(30), "test": SplitSize(50)},
        ),
        training=TrainingRecord(
            hyperparameters={"learning_rate": 0.001, "max_steps": -1, "aux_loss": None, "seed": 0}
        ),
        seeds=[0, 1],
        selected_seed=1,
        metrics=MetricsRecord(
            test={"icbhi_score": 0.72},
            test_std={"icbhi_score": 0.0283},
            per_seed=[
                SeedResult(0, {"icbhi_score": 0.70, "specificity": 0.80, "sensitivity": 0.60}),
                SeedResult(1, {"icbhi_score": 0.74, "specificity": 0.84, "sensitivity": 0.64}),
            ],
        ),
    )
    state = {"log_history": [{"eval_icbhi_score": 0.7, "epoch": 1.0, "step": 10}, {"loss": 0.3, "step": 20}]}
    folder = write_run_dir(tmp_path / "run", tiny_model(), metrics=None, record=record, state=state)
    card_data = card_data_from_run_dir(folder)
    assert card_data.synthetic_data and card_data.model_seed == 1 and card_data.encoder_source is None
    text = str(render_model_card(card_data))
    assert "**patient-wise train/validation/test split** (70/10/20 % of the patients" in text
    assert "| ICBHI score | 72.0 ± 2.8 |" in text
    assert "| 1 | 74.0 | 84.0 | 64.0 |" in text
    assert "those of seed 1" in text
    assert "**Share of the training patients used:** 0.5" in text
    assert "**Patient split seed:** 3" in text
    assert "**Patient split stratified by:** chest_location" in text
    assert "Training ran 20 optimisation steps" in text
    assert "max steps" not in text and "LoRA" not in text
    assert "**Example numbers only.**" in text


def test_card_tolerates_missing_optional_files(tmp_path: Path) -> None:
    folder = write_run_dir(tmp_path / "bare", tiny_model(), metrics=None, record=None, state=None)
    card_data = card_data_from_run_dir(folder)
    text = str(render_model_card(card_data))
    assert "No test results were recorded" in text
    assert "Unknown split" in text
    assert "model-index" not in ModelCard(text).data.to_dict()
    assert "not a medical device" in text.lower()


def test_synthetic_run_is_flagged(tmp_path: Path) -> None:
    record = replace(RUN_RECORD, data=replace(RUN_RECORD.data, synthetic=True))
    folder = write_run_dir(tmp_path / "synthetic", tiny_model(), record=record)
    text = str(render_model_card(card_data_from_run_dir(folder)))
    assert "**Example numbers only.**" in text
    assert "not on the\n> ICBHI 2017 database" in text
    assert "comparable with published" not in text
    data = ModelCard(text).data.to_dict()
    assert data["model-index"][0]["results"][0]["dataset"]["type"] == "synthetic_icbhi"
    assert "synthetic-data" in data["tags"]


@pytest.mark.parametrize("problem_type", [SINGLE_LABEL, MULTI_LABEL])
def test_card_filled_in_training_equals_the_card_of_the_run_folder(
    synthetic_corpus: Path, tmp_path: Path, problem_type: str
) -> None:
    """``respira train``'s README.md is the card of its run folder: rendering the folder afterwards (what
    export does) gives the same card."""
    import yaml

    from respira.training.recipe import parse_recipe
    from respira.training.run import run_training

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({**TINY_RECIPE, "problem_type": problem_type, "aux_loss": "add"}))
    output = tmp_path / "run"
    flags = ["--data_dir", str(synthetic_corpus), "--output_dir", str(output), "--seeds", "0,1"]
    flags += ["--dataset_cache_dir", str(tmp_path / "cache")]
    run_training(*parse_recipe(recipe, flags), log=lambda *_: None)

    written = (output / "README.md").read_text(encoding="utf-8")
    assert written == str(render_model_card(card_data_from_run_dir(output)))
    record = RunRecord.load(output)
    assert record.selected_seed in (0, 1) and [r.seed for r in record.metrics.per_seed] == [0, 1]
    assert record.data.synthetic and record.data.split_sizes["validation"].patients
    assert record.model.num_parameters == sum(
        p.numel() for p in AutoModelForAudioClassification.from_pretrained(output).parameters()
    )
    # the Trainer's own mechanisms wrote the run folder: processing_class, save_state, save_metrics
    assert json.loads((output / "preprocessor_config.json").read_text())["sampling_rate"] == 16000
    assert (output / "seed_0" / "checkpoint-2" / "preprocessor_config.json").is_file()
    assert "best_global_step" in json.loads((output / "trainer_state.json").read_text())
    assert json.loads((output / "metrics.json").read_text())["selected_seed"] == record.selected_seed
    assert "**Audio resampled to:** 16000 Hz" in written and "| validation |" in written
    if problem_type == MULTI_LABEL:
        assert record.thresholds_tuned and "tuned on the validation split" in written


def test_malformed_run_record_is_one_line_naming_the_file(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Path(shutil.copytree(run_dir, tmp_path / "run"))
    record = json.loads((folder / "respira_run.json").read_text())
    record["data"]["split_seed"] = "zero"
    (folder / "respira_run.json").write_text(json.dumps(record))
    assert main(["export", str(folder), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"respira export: error: {folder / 'respira_run.json'}: not a valid respira run record "
        "(data.split_seed should be int, got a string)"
    )
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------- export
def test_export_writes_loadable_model_with_identical_predictions(
    run_dir: Path, model: RespiraForAudioClassification, waveform: np.ndarray, tmp_path: Path
) -> None:
    output = export_model(run_dir, tmp_path / "export")
    assert output == tmp_path / "export"
    assert sorted(p.name for p in output.iterdir()) == sorted([*EXPORTED_FILES, *RECORDS[:2], WRITTEN_FILE])
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no staging folder left behind
    assert (output / "model.safetensors").read_bytes() == (run_dir / "model.safetensors").read_bytes()
    assert json.loads((output / "metrics.json").read_text()) == METRICS_3_SEEDS
    assert "model-index" in ModelCard.load(output / "README.md").data.to_dict()

    expected = local_logits(model, waveform)
    reloaded = AutoModelForAudioClassification.from_pretrained(output).eval()
    np.testing.assert_allclose(local_logits(reloaded, waveform), expected, atol=1e-6, rtol=0)
    classifier = pipeline("audio-classification", model=str(output))
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    first_second = pipeline_logits(classifier, waveform[:16_000], labels)
    np.testing.assert_allclose(first_second, local_logits(model, waveform[:16_000]), atol=1e-6, rtol=0)


def test_export_creates_default_preprocessor_config(tmp_path: Path) -> None:
    folder = write_run_dir(tmp_path / "run", tiny_model(), preprocessor=False)
    output = export_model(folder, tmp_path / "out")
    config = json.loads((output / "preprocessor_config.json").read_text())
    assert config["feature_extractor_type"] == "RespiraFeatureExtractor"
    assert config["sampling_rate"] == 16_000


def test_export_rejects_bad_input(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model folder not found"):
        export_model(tmp_path / "missing", tmp_path / "out")
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text(json.dumps(tiny_model().config.to_dict()))
    (no_weights / "pytorch_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(ModelLoadError, match=r"model folder without weights.*never loaded") as error:
        export_model(no_weights, tmp_path / "out")
    assert str(no_weights) in str(error.value)

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"existing holds no record of what respira wrote"):
        export_model(run_dir, existing)  # not "pass overwrite=True": it would refuse too
    assert (existing / "old.txt").read_text() == "keep me"
    with pytest.raises(FileExistsError, match=r"existing holds no record of what respira wrote"):
        export_model(run_dir, existing, overwrite=True)  # the user's file is not respira's to delete
    assert [p.name for p in existing.iterdir()] == ["old.txt"]
    (existing / "old.txt").unlink()
    export_model(run_dir, existing)
    export_model(run_dir, existing, overwrite=True)  # what respira wrote is replaced
    assert sorted(p.name for p in existing.iterdir()) == sorted([*EXPORTED_FILES, *RECORDS[:2], WRITTEN_FILE])

    not_respira = tmp_path / "not_respira"
    not_respira.mkdir()
    (not_respira / "model.safetensors").write_bytes((run_dir / "model.safetensors").read_bytes())
    (not_respira / "config.json").write_text(json.dumps({"model_type": "audio-spectrogram-transformer"}))
    with pytest.raises(ModelLoadError, match="not a respira model"):
        export_model(not_respira, tmp_path / "out")

    with pytest.raises(ValueError, match="outside the run folder"):
        export_model(run_dir, run_dir / "export", overwrite=True)


def test_failed_export_leaves_nothing_behind(tmp_path: Path) -> None:
    folder = write_run_dir(tmp_path / "run", tiny_model())
    config = json.loads((folder / "config.json").read_text())
    config["encoder_config"]["channels"] = [4, 8, 8, 32]  # weights no longer match the config
    (folder / "config.json").write_text(json.dumps(config))
    out_parent = tmp_path / "exports"
    out_parent.mkdir()
    with pytest.raises(ValueError, match="exported"):
        export_model(folder, out_parent / "model")
    assert list(out_parent.iterdir()) == []


def test_export_of_truncated_weights_names_the_run_folders_file(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Path(shutil.copytree(run_dir, tmp_path / "run"))
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    assert main(["export", str(run), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"respira export: error: {weights}: not a readable safetensors file")
    assert ".partial" not in error and len(error.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_cli_export_and_errors(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(run_dir), str(tmp_path / "cli_export")]) == 0
    assert "exported" in capsys.readouterr().out
    assert main(["export", str(run_dir), str(tmp_path / "cli_export")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("respira export: error:") and "not empty" in err and "\n" not in err
    assert main(["export", str(run_dir), str(tmp_path / "cli_export"), "--overwrite"]) == 0
    assert main(["export", str(tmp_path / "nope"), str(tmp_path / "x")]) == 2
    assert "model folder not found" in capsys.readouterr().err


def test_export_records_checksums_shows_them_and_loading_checks_them(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from respira.hub.loading import load_model

    output = export_model(run_dir, tmp_path / "export")
    weights = output / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (output / "checksums.sha256").read_text() == f"{digest}  model.safetensors\n"
    assert f"| `model.safetensors` | `{digest}` |" in (output / "README.md").read_text()
    load_model(output, device="cpu")  # intact: loads
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # a weight's last byte: still a valid file, with another value
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as error:
        load_model(output, device="cpu")
    assert str(error.value).startswith(
        f"{weights}: its SHA-256 is {hashlib.sha256(data).hexdigest()[:12]}…, "
    )
    assert f"not the {digest[:12]}… that checksums.sha256 records" in str(error.value)


def test_export_under_a_file_is_one_line_naming_it(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["export", str(run_dir), str(blocker / "export")]) == 2
    error = capsys.readouterr().err.strip()
    assert (
        error
        == f"respira export: error: cannot create {blocker / 'export'}: {blocker} is a file, not a folder"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_an_export_removes_the_staging_folder_a_killed_export_left(run_dir: Path, tmp_path: Path) -> None:
    stale = tmp_path / ".export.partial-0123456789ab"  # what a SIGKILL during export left
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    export_model(run_dir, tmp_path / "export")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


# ------------------------------------------------------------------------------------------- push
def hub_env(endpoint: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "HUGGINGFACE_"))}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_OFFLINE="0",
        HF_HOME=str(home),
        HF_TOKEN="test-token",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_push_round_trip_through_local_hub(
    run_dir: Path,
    model: RespiraForAudioClassification,
    waveform: np.ndarray,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Pushed twice (the second a no-op), then read back from the Hub by transformers, respira's pipeline
    and ``respira predict user/repo`` (one window covering the whole file)."""
    import soundfile as sf
    from transformers import AutoFeatureExtractor

    from respira.models.respira import RespiraAudioClassificationPipeline

    wav, predictions = tmp_path / "wave.wav", tmp_path / "predictions.json"
    sf.write(wav, waveform, 16_000, subtype="FLOAT")
    seconds = str(len(waveform) / 16_000)
    with HubServer(tmp_path / "hub") as hub, pushing_to(hub, tmp_path / "hub_cache"):
        urls = [push_run(run_dir, REPO_ID, token="test-token") for _ in range(2)]
        loaded = AutoModelForAudioClassification.from_pretrained(REPO_ID).eval()
        inputs = AutoFeatureExtractor.from_pretrained(REPO_ID)(
            waveform, sampling_rate=16_000, return_tensors="pt"
        )
        with torch.no_grad():
            logits = loaded(**inputs).logits[0].numpy()
        classifier = pipeline(
            "audio-classification", model=REPO_ID, pipeline_class=RespiraAudioClassificationPipeline
        )
        scores = classifier(
            {"raw": waveform[:16_000], "sampling_rate": 16_000}, top_k=None, function_to_apply="none"
        )
        model_index = ModelCard.load(REPO_ID).data.to_dict().get("model-index")
        code = main(
            [
                "predict",
                REPO_ID,
                str(wav),
                "--window",
                seconds,
                "--hop",
                seconds,
                "--output",
                str(predictions),
            ]
        )
        capsys.readouterr()
        output = {
            "predict_code": code,
            "predict_rows": json.loads(predictions.read_text()),
            "urls": urls,
            "logits": logits,
            "pipeline": {item["label"]: item["score"] for item in scores},
            "model_index": model_index,
        }

        assert output["urls"] == [f"{hub.url}/{REPO_ID}"] * 2
        # the weights went through the LFS path, the small files as regular files
        assert hub.committed_lfs == ["model.safetensors"]
        code_files = sorted(remote_code_files().files)  # push ships the code by default
        assert sorted(hub.committed_regular) == sorted(
            [
                "README.md",
                "checksums.sha256",
                "config.json",
                "metrics.json",
                *RECORDS[:2],  # the run and trainer records travel with it (the card reads them)
                "preprocessor_config.json",
                *code_files,
            ]
        )
        assert len(hub.lfs_uploads) == 1
        repo = hub.state.repos[REPO_ID]
        head = repo.commits[repo.branches["main"]]
        assert sorted(head.files) == sorted([".gitattributes", *EXPORTED_FILES, *RECORDS[:2], *code_files])
        assert ("PUT", f"/lfs-storage/{hub.lfs_uploads[0]}") in hub.requests
        assert not [r for r in hub.unhandled if r[0] in ("POST", "PUT")]

    expected = local_logits(model, waveform)
    np.testing.assert_allclose(output["logits"], expected, atol=1e-6, rtol=0)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    first_second = local_logits(model, waveform[:16_000])  # the pipeline's input: longer ones are windowed
    np.testing.assert_allclose(
        [output["pipeline"][label] for label in labels], first_second, atol=1e-6, rtol=0
    )
    assert output["predict_code"] == 0
    (row,) = output["predict_rows"]
    probabilities = np.exp(expected - expected.max()) / np.exp(expected - expected.max()).sum()
    classes = dict(zip(labels, probabilities, strict=True))
    for label in labels:
        assert row[f"p_{label}"] == pytest.approx(classes[label], abs=1e-5)
    assert row["crackle"] == pytest.approx(classes["crackle"] + classes["both"], abs=1e-5)
    metrics = output["model_index"][0]["results"][0]["metrics"]
    assert {"type": "recall", "value": 61.2, "icbhi": True} in [
        {"type": m["type"], "value": m["value"], "icbhi": m.get("args", {}).get("average") == "icbhi"}
        for m in metrics
    ]


def test_push_to_unreachable_hub_is_one_clear_line(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from huggingface_hub import constants

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens: the connection is refused at once
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    exported: list[Path] = []
    monkeypatch.setattr("respira.hub.push.export_model", lambda *args, **kwargs: exported.append(args[1]))
    assert main(["push", str(run_dir), REPO_ID, "--token", "test-token"]) == 2
    assert exported == []  # the Hub is checked before the model is exported (validate first)
    stderr = capsys.readouterr().err
    lines = [line for line in stderr.strip().splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(
        f"respira push: error: cannot reach the Hugging Face Hub at {endpoint} (offline?):"
    )
    assert "Traceback" not in stderr


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_push_to_a_branch_in_process(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        url = push_run(run_dir, "user/branch-test", token="test-token", revision="dev", private=True)
        assert url == f"{hub.url}/user/branch-test"
        repo = hub.state.repos["user/branch-test"]
        assert repo.private
        code_files = list(remote_code_files().files)
        files = sorted([".gitattributes", *EXPORTED_FILES, *RECORDS[:2], *code_files])
        assert sorted(repo.commits[repo.branches["dev"]].files) == files
        assert sorted(repo.commits[repo.branches["main"]].files) == [".gitattributes"]
        readme = repo.commits[repo.branches["dev"]].files["README.md"]
        text = hub.state.blob_path(readme.sha256).read_text(encoding="utf-8")
        assert "respira predict user/branch-test " in text


def test_push_in_offline_mode_is_a_clear_error(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubConnectionError, match=r"cannot reach the Hugging Face Hub at \S+ \(offline\?\)"):
        push_run(run_dir, REPO_ID, token="test-token")


def test_push_checks_the_run_folder_first(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model folder not found"):
        push_run(tmp_path / "missing", REPO_ID)


def test_package_ships_the_template() -> None:
    from importlib import resources

    template = resources.files("respira.hub").joinpath("model_card_template.md")
    assert template.is_file()
    assert "{{ card_data }}" in template.read_text(encoding="utf-8")
    assert respira.hub.render_model_card is render_model_card


def test_cards_of_hand_written_runs(tmp_path: Path) -> None:
    from .card_fixtures import EXAMPLES, generate

    written = generate(tmp_path)
    assert sorted(p.parent.name for p in written) == sorted(EXAMPLES)
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert "**Example numbers only.**" in text
        assert "illustrative values for a run on the **synthetic corpus**" in text
        data = ModelCard(text).data.to_dict()
        assert data["model-index"][0]["results"][0]["dataset"]["type"] == "synthetic_icbhi"
    cnn = (tmp_path / "example_cnn_add" / "README.md").read_text(encoding="utf-8")
    assert "mean ± standard deviation over 3 seeds" in cnn and "almudevar2024add" in cnn


def test_a_run_on_a_hub_dataset_names_it_in_the_card(run_dir: Path, tmp_path: Path) -> None:
    import dataclasses

    from respira.hub.card_data import RespiraModelCardData

    record = RunRecord.load(run_dir)
    hub = dataclasses.replace(
        record.data, data_dir=None, dataset_name="user/icbhi", dataset_config_name="cycles"
    )
    card = RespiraModelCardData()
    card.set_run_record(dataclasses.replace(record, data=hub))
    data = card.to_dict()
    assert data["datasets"] == ["user/icbhi"]
    dataset = data["model-index"][0]["results"][0]["dataset"]
    assert (dataset["type"], dataset["config"]) == ("user/icbhi", "cycles")
    local = dataclasses.replace(record.data, data_dir=None, dataset_name=str(tmp_path / "prepared"))
    card = RespiraModelCardData()
    card.set_run_record(dataclasses.replace(record, data=local))
    assert "datasets" not in card.to_dict()  # a local folder is no Hub dataset id


def test_every_auxiliary_loss_has_the_name_its_card_cites_it_by() -> None:
    from respira.hub.card_data import AUX_LOSS_NAMES
    from respira.losses import AUXILIARY_LOSSES

    assert set(AUX_LOSS_NAMES) == set(AUXILIARY_LOSSES)

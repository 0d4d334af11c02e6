"""The run record (``respira_run.json``): typed save/load, schema errors, ``respira evaluate`` reading it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import torch

from respira import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification
from respira.cli import main
from respira.records.run import (
    RUN_RECORD_FILE,
    DataRecord,
    EmbeddingPass,
    MetricsRecord,
    ModelRecord,
    RunRecord,
    RunRecordError,
    SeedResult,
    SplitSize,
    TrainingRecord,
    convert_json,
    json_type,
)

RECORD = RunRecord(
    recipe="cnn_add",
    model=ModelRecord(
        encoder="cnn",
        checkpoint=None,
        problem_type="single_label_classification",
        lora_r=0,
        num_parameters=12345,
        options={"target_seconds": 1.0, "encoder_config": {"channels": [4, 8, 8, 16]}, "spec_augment": None},
    ),
    data=DataRecord(
        data_dir="data/icbhi",
        sampling_rate=16000,
        synthetic=True,
        split_strategy="patient",
        validation_size=0.0,
        split_seed=3,
        patient_split_fractions=(0.5, 0.25, 0.25),
        stratify_by="chest_location",
        lowpass_cutoff=2000.0,
        train_fraction=0.5,
        split_sizes={"train": SplitSize(77, 6), "validation": SplitSize(38, 3), "test": SplitSize(38)},
    ),
    training=TrainingRecord(
        schedule="contrastive_two_stage",
        two_stage_rounds=2,
        head_epochs=1.5,
        hyperparameters={"learning_rate": 1e-3, "aux_loss": None, "augmentation": '{"gain": null}'},
    ),
    seeds=[0, 1],
    selected_seed=1,
    thresholds=[0.4, 0.35],
    thresholds_tuned=True,
    metrics=MetricsRecord(
        test={"icbhi_score": 0.6, "recall_both": None, "num_examples": 38},
        test_std={"icbhi_score": 0.05, "recall_both": None},
        per_seed=[
            SeedResult(
                0,
                {"icbhi_score": 0.55},
                {"icbhi_score": 0.5},
                embedding_cache=[EmbeddingPass("train", 154, [77, 77]), EmbeddingPass("test", 38, [19, 19])],
            ),
            SeedResult(1, {"icbhi_score": 0.65}, {"icbhi_score": 0.7, "loss": 1.2}),
        ],
    ),
)


def test_round_trip(tmp_path: Path) -> None:
    path = RECORD.save(tmp_path)
    assert path == tmp_path / RUN_RECORD_FILE
    assert json.loads(path.read_text())["schema_version"] == 1
    loaded = RunRecord.load(tmp_path)
    assert loaded == RECORD
    assert isinstance(loaded.data.patient_split_fractions, tuple)
    assert isinstance(loaded.data.split_sizes["test"], SplitSize)
    assert loaded.metrics.per_seed[0].embedding_cache[1] == EmbeddingPass("test", 38, [19, 19])
    assert loaded.selected_result() == SeedResult(1, {"icbhi_score": 0.65}, {"icbhi_score": 0.7, "loss": 1.2})
    assert [p.name for p in tmp_path.iterdir()] == [RUN_RECORD_FILE]  # written atomically, nothing left over
    assert RunRecord.load_if_present(tmp_path / "missing") is None


def test_undefined_metrics_are_saved_as_null(tmp_path: Path) -> None:
    record = replace(RECORD, metrics=MetricsRecord(test={"icbhi_score": float("nan")}))
    record.save(tmp_path)
    assert json.loads((tmp_path / RUN_RECORD_FILE).read_text())["metrics"]["test"] == {"icbhi_score": None}
    assert RunRecord.load(tmp_path).metrics.test == {"icbhi_score": None}


def _edit(data: dict, dotted: str, value: object) -> dict:
    *parents, last = dotted.split(".")
    target = data
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("dotted", "value", "detail"),
    [
        ("data.split_seed", "3", "data.split_seed should be int, got a string"),
        ("data.validation_size", True, "data.validation_size should be float, got a boolean"),
        ("data.split_sizes.test.cycles", 1.5, "data.split_sizes.test.cycles should be int, got a number"),
        ("metrics.per_seed", {"0": {}}, "metrics.per_seed should be list[respira.records.run.SeedResult]"),
        ("model.encoder", KeyError, "missing key 'model.encoder'"),
        ("data.split", "official", "unknown key 'data.split'"),
        ("data.max_train_samples", 7, "unknown key 'data.max_train_samples'"),  # a retired option, on
        ("schema_version", 2, "schema_version 2 is not supported (expected 1)"),
    ],
)
def test_invalid_record_is_one_line_naming_the_file(
    tmp_path: Path, dotted: str, value: object, detail: str
) -> None:
    data = _edit(RECORD.to_dict(), dotted, value)
    assert detail in _refused(tmp_path, data)


def test_an_older_record_loads_without_the_options_retired_since(tmp_path: Path) -> None:
    """A key respira no longer has, written when its option was off (null, false), is left out."""
    data = _edit(_edit(RECORD.to_dict(), "data.max_train_samples", None), "data.corpus_mixup", False)
    (tmp_path / RUN_RECORD_FILE).write_text(json.dumps(data))
    assert RunRecord.load(tmp_path) == RECORD


KFOLD = {"data.split_strategy": "patient_kfold", "data.patient_split_fractions": None, "data.num_folds": 5}


@pytest.mark.parametrize(
    ("edits", "detail"),
    [
        (
            {"data.split_strategy": "bogus"},
            "data.split_strategy must be one of official, patient, patient_kfold, leave_one_device_out, "
            "dataset, got 'bogus'",
        ),
        ({**KFOLD, "data.fold": 99}, "data.fold must be >= 0 and <= 4 (the record's num_folds is 5), got 99"),
        ({**KFOLD, "data.fold": -1}, "data.fold must be >= 0 and <= 4"),
        ({**KFOLD, "data.fold": 0, "selected_fold": 5}, "selected_fold must be >= 0 and <= 4"),
        ({**KFOLD, "data.num_folds": 1}, "data.num_folds must be >= 2, got 1"),
        ({"data.validation_size": 1.5}, "data.validation_size must be >= 0 and < 1, got 1.5"),
        ({"data.sampling_rate": 0}, "data.sampling_rate must be >= 1, got 0"),
        ({"data.train_fraction": 0}, "data.train_fraction must be > 0 and <= 1, got 0"),
        ({"data.lowpass_cutoff": 9000.0}, "data.lowpass_cutoff must be > 0 and < 8000, got 9000.0"),
        ({"data.patient_split_fractions": [0.5, 0.5]}, "data.patient_split_fractions must be 3 shares"),
        ({"model.problem_type": "regression"}, "model.problem_type must be one of"),
        ({"thresholds": [0.5, 7.0]}, "thresholds[1] must be >= 0 and <= 1, got 7.0"),
    ],
)
def test_tampered_values_are_one_line_naming_the_file_and_key(
    tmp_path: Path, edits: dict[str, object], detail: str
) -> None:
    """Values of the right type that no run writes are the record's fault, not a flag's."""
    data = RECORD.to_dict()
    for dotted, value in edits.items():
        data = _edit(data, dotted, value)
    assert detail in _refused(tmp_path, data)


def _refused(folder: Path, data: dict) -> str:
    """``data`` written as ``folder``'s run record and loaded: the one-line refusal naming the file."""
    (folder / RUN_RECORD_FILE).write_text(json.dumps(data))
    with pytest.raises(RunRecordError) as error:
        RunRecord.load(folder)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / RUN_RECORD_FILE}: not a valid respira run record (")
    return message


def _tiny_model_folder(folder: Path) -> None:
    """A tiny CNN classifier (seeded) and its feature extractor saved in ``folder``."""
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config={"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}, target_seconds=1.0
    )
    RespiraForAudioClassification(config).save_pretrained(folder)
    RespiraFeatureExtractor().save_pretrained(folder)


def test_evaluate_blames_a_tampered_record_not_the_flags(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "run"
    _tiny_model_folder(folder)
    data = RECORD.to_dict()
    for dotted, value in {**KFOLD, "data.fold": 99}.items():
        data = _edit(data, dotted, value)
    (folder / RUN_RECORD_FILE).write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["evaluate", str(folder), "--data_dir", str(synthetic_corpus)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"respira evaluate: error: {folder / RUN_RECORD_FILE}: not a valid respira run record "
        "(data.fold must be >= 0 and <= 4 (the record's num_folds is 5), got 99)"
    )


def test_evaluate_says_when_the_runs_relative_data_dir_is_not_there_from_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "run"
    _tiny_model_folder(folder)
    (folder / RUN_RECORD_FILE).write_text(json.dumps(RECORD.to_dict()))  # data_dir "data/icbhi"
    monkeypatch.chdir(tmp_path)  # not where it was trained: no data/icbhi here
    capsys.readouterr()
    assert main(["evaluate", str(folder)]) == 2
    assert capsys.readouterr().err.strip() == (
        "respira evaluate: error: the run's data_dir 'data/icbhi' (its respira_run.json) is not there from "
        f"{tmp_path} (a path relative to where it was trained?); pass --data_dir <folder of the ICBHI "
        "download>"
    )


def test_unreadable_record_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / RUN_RECORD_FILE
    path.write_text('{"model": {"encoder": "cnn"},\n  oops}')
    with pytest.raises(RunRecordError, match=r"not valid JSON \(.* at line 2\)") as error:
        RunRecord.load(tmp_path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)
    path.write_text("[1, 2]")
    with pytest.raises(RunRecordError, match="expected a JSON object, got an array"):
        RunRecord.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a respira run folder"):
        RunRecord.load(tmp_path / "missing")


def test_evaluate_rebuilds_the_splits_the_run_recorded(
    synthetic_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A patient split with its own fractions and seed; guessing (official, 0.2, seed 0) splits otherwise."""
    from respira.data.run_splits import load_splits

    folder = tmp_path / "run"
    _tiny_model_folder(folder)
    data = DataRecord(
        data_dir="/where/training/read/it",
        sampling_rate=16000,
        split_strategy="patient",
        split_seed=3,
        patient_split_fractions=(0.5, 0.25, 0.25),
        stratify_by="chest_location",
    )
    RunRecord(model=ModelRecord(encoder="cnn"), data=data).save(folder)
    cache = tmp_path / "cache"
    recorded = load_splits(replace(data, data_dir=str(synthetic_corpus)), cache_dir=cache)
    guessed = load_splits(
        DataRecord(data_dir=str(synthetic_corpus), sampling_rate=16000, validation_size=0.2), cache_dir=cache
    )
    assert len(recorded["validation"]) != len(guessed["validation"])

    args = ["evaluate", str(folder), "--data_dir", str(synthetic_corpus), "--cache_dir", str(cache)]
    assert main([*args, "--split", "validation", "--record"]) == 0, capsys.readouterr().err
    report = json.loads((folder / "evaluation_validation" / "metrics.json").read_text())
    assert report["num_examples"] == len(recorded["validation"])
    assert f"({len(recorded['validation'])} cycles)" in capsys.readouterr().out

    # an explicit flag still wins over the record
    override = tmp_path / "override"
    assert main([*args, "--split", "validation", "--seed", "0", "--output_dir", str(override)]) == 0
    reseeded = load_splits(replace(data, data_dir=str(synthetic_corpus), split_seed=0), cache_dir=cache)
    assert json.loads((override / "metrics.json").read_text())["num_examples"] == len(reseeded["validation"])


# parsed JSON checked against the dataclasses' type hints (convert_json)


@dataclass
class Inner:
    count: int
    share: float | None = None


@dataclass
class Outer:
    name: str
    inner: Inner
    pair: tuple[float, ...] | None = None
    items: list[Inner] = field(default_factory=list)
    table: dict[str, int] = field(default_factory=dict)
    extra: Any = None


def test_nested_json_becomes_the_dataclasses_with_tuples_and_unions() -> None:
    data = json.loads(
        '{"name": "a", "inner": {"count": 2, "share": 1}, "pair": [0.5, 1], "items": [{"count": 3}], '
        '"table": {"x": 1}, "extra": [null, "z"]}'
    )
    assert convert_json(data, Outer) == Outer(
        name="a", inner=Inner(2, 1), pair=(0.5, 1), items=[Inner(3)], table={"x": 1}, extra=[None, "z"]
    )
    assert convert_json({"name": "b", "inner": {"count": 0, "share": None}}, Outer).inner.share is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "a"}, "missing key 'inner'"),
        ({"name": "a", "inner": {"count": 1}, "colour": 1}, "unknown key 'colour'"),
        ({"name": "a", "inner": {"count": True}}, "inner.count should be int, got a boolean"),
        ({"name": "a", "inner": {"count": 1.5}}, "inner.count should be int, got a number"),
        ({"name": "a", "inner": {"count": 1}, "items": [{"count": "3"}]}, "items[0].count should be int"),
        ({"name": "a", "inner": {"count": 1}, "table": {"x": "1"}}, "table.x should be int, got a string"),
        ({"name": "a", "inner": []}, "inner should be Inner, got an array"),
        ([], "the record should be Outer, got an array"),
    ],
)
def test_what_does_not_fit_is_a_value_error_naming_the_key(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        convert_json(data, Outer)


def test_json_type_names_values_as_json_does() -> None:
    assert [json_type(v) for v in ({}, [], "s", True, None, 1, 1.5)] == [
        "an object",
        "an array",
        "a string",
        "a boolean",
        "null",
        "a number",
        "a number",
    ]

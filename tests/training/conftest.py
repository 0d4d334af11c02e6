"""Fixtures for training tests: a built synthetic dataset with a validation split, tiny models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest

import respira
from respira.data import load_icbhi
from respira.training import RespiraTrainingArguments

# A recipe that trains the tiny CNN for two steps (runs and cards use it).
TINY_RECIPE = {
    "encoder": "cnn",
    "encoder_config": {"channels": [4, 8, 8, 16]},
    "target_seconds": 1.0,
    "projector_dim": 8,
    "validation_size": 0.25,
    "max_steps": 2,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 32,
    "eval_strategy": "steps",
    "eval_steps": 2,
    "save_strategy": "steps",
    "save_steps": 2,
    "load_best_model_at_end": True,
    "report_to": "none",
    "use_cpu": True,
    "disable_tqdm": True,
    "dataloader_drop_last": True,
}

TINY_CNN = {"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}
TINY_AST = {
    "model_type": "audio-spectrogram-transformer",
    "hidden_size": 16,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_length": 100,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}


@pytest.fixture(scope="session")
def dataset_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One datasets cache for the session's runs of the synthetic corpus (``--dataset_cache_dir``), as a
    user's runs share theirs: each build of its cycles (most of a tiny run's CPU) done once."""
    return tmp_path_factory.mktemp("dataset_cache")


@pytest.fixture(scope="session")
def icbhi_splits(synthetic_corpus: Path, dataset_cache: Path) -> datasets.DatasetDict:
    datasets.disable_progress_bars()
    return load_icbhi(synthetic_corpus, validation_size=0.25, cache_dir=dataset_cache)


def tiny_model(encoder: dict = TINY_CNN, **options) -> respira.RespiraForAudioClassification:
    options.setdefault("target_seconds", 1.0)
    options.setdefault("head_dropout", 0.0)
    options.setdefault("projector_dim", 8)
    return respira.RespiraForAudioClassification(
        respira.RespiraConfig(encoder_config=dict(encoder), **options)
    )


def counted_copy(model: respira.RespiraForAudioClassification) -> tuple[Any, list[int]]:
    """A fresh model of ``model``'s config and weights (in eval mode) and the batch sizes its encoder runs
    on, recorded as it runs (a forward hook): how many rows an embedding pass really embedded."""
    copy = respira.RespiraForAudioClassification(model.config).eval()
    copy.load_state_dict(model.state_dict())
    rows: list[int] = []
    copy.respira.register_forward_hook(lambda module, args, output: rows.append(int(args[0].shape[0])))
    return copy, rows


def training_args(tmp_path: Path, **overrides) -> RespiraTrainingArguments:
    """Arguments of a quick CPU training in ``tmp_path``/run (batches of 8, lr 3e-3, seed 0), overridden."""
    options = {
        "output_dir": str(tmp_path / "run"),
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "learning_rate": 3e-3,
        "logging_steps": 1,
        "report_to": [],
        "use_cpu": True,
        "seed": 0,
        "dataloader_drop_last": True,
        "disable_tqdm": True,
    }
    options.update(overrides)
    return RespiraTrainingArguments(**options)

"""A pretrained encoder loads without its checkpoint's head: no load report for the expected head swap."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import ASTConfig, ASTForAudioClassification, PreTrainedModel

from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.beats.modeling_beats import BeatsForAudioClassification
from respira.models.efficientat.modeling_efficientat import EfficientATForAudioClassification

from .encoder_tester import CASES


def _ast() -> PreTrainedModel:
    config = ASTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_length=100
    )
    return ASTForAudioClassification(config)


def _respira_run() -> PreTrainedModel:  # a respira classifier (e.g. runs/cnn_ce) as the encoder source
    config = RespiraConfig(encoder_config=CASES["cnn"].encoder_config(), target_seconds=1.0)
    return RespiraForAudioClassification(config)


CHECKPOINTS: dict[str, Callable[[], PreTrainedModel]] = {
    "efficientat": lambda: EfficientATForAudioClassification(CASES["efficientat"].encoder_config()),
    "beats": lambda: BeatsForAudioClassification(CASES["beats"].encoder_config()),
    "ast": _ast,
    "respira_run": _respira_run,
}


@pytest.fixture
def transformers_log(caplog: pytest.LogCaptureFixture):
    """transformers' log records (its root logger does not propagate to pytest's handler)."""
    logger = logging.getLogger("transformers")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="transformers")
    yield caplog
    logger.removeHandler(caplog.handler)


def _encoder_weights(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    base = model.base_model
    return (base.encoder if isinstance(model, RespiraForAudioClassification) else base).state_dict()


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_a_checkpoint_with_a_head_loads_its_encoder_quietly(name: str, tmp_path: Path, transformers_log):
    saved = CHECKPOINTS[name]()
    saved.save_pretrained(tmp_path / name)
    model = RespiraForAudioClassification.from_encoder_pretrained(str(tmp_path / name), target_seconds=1.0)
    assert not [r for r in transformers_log.records if "LOAD REPORT" in r.getMessage()]
    expected = _encoder_weights(saved)
    loaded = model.respira.encoder.state_dict()
    assert set(expected) <= set(loaded)
    for key, value in expected.items():
        torch.testing.assert_close(loaded[key], value, msg=key)


def test_a_genuinely_unexpected_key_is_still_reported(tmp_path: Path, transformers_log) -> None:
    folder = tmp_path / "efficientat"
    EfficientATForAudioClassification(CASES["efficientat"].encoder_config()).save_pretrained(folder)
    weights = load_file(folder / "model.safetensors")
    weights["efficientat.stray_weight"] = torch.zeros(3)
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    RespiraForAudioClassification.from_encoder_pretrained(str(folder), target_seconds=1.0)
    reports = [r.getMessage() for r in transformers_log.records if "LOAD REPORT" in r.getMessage()]
    assert len(reports) == 1
    assert "stray_weight" in reports[0] and "UNEXPECTED" in reports[0]
    assert "classifier" not in reports[0]  # the head is still the expected swap

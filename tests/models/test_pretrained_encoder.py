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
from respira.models.respira.modeling_beats import BeatsForAudioClassification
from respira.models.respira.modeling_efficientat import EfficientATForAudioClassification

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


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def transformers_log():
    """transformers' warnings, each seen once: a handler of its own on the library's root logger.

    pytest's caplog handler sits on the root logger, so it would see a record a second time whenever
    something has switched on the library logger's propagation.
    """
    logger = logging.getLogger("transformers")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level or logging.WARNING, logging.WARNING))
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


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

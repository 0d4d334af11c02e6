"""The shared head trunk (head_hidden_size): stethoscope-guided SupCon's layer with a frozen encoder."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError

from respira import RespiraConfig, RespiraForAudioClassification
from respira.models.respira.labels import MULTI_LABEL

from .encoder_tester import CASES

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cnn(**options) -> RespiraForAudioClassification:
    return CASES["cnn"].model(problem_type=MULTI_LABEL, **options)


def test_the_head_trunk_feeds_the_classifier_and_the_projector() -> None:
    model = cnn(head_hidden_size=12, projector_dim=8)
    assert model.classifier[-1].in_features == 12
    assert model.projector[0].in_features == 12
    embeddings = torch.randn(5, model.config.hidden_size)
    output = model(embeddings=embeddings)
    output.projections.sum().backward()  # the projections' gradient reaches the classifier's input layer
    assert model.head_trunk[0].weight.grad is not None and model.head_trunk[0].weight.grad.abs().sum() > 0


def test_a_bad_trunk_size_is_one_line() -> None:
    with pytest.raises(
        StrictDataclassClassValidationError, match="head_hidden_size must be a whole number >= 1, got 0"
    ):
        RespiraConfig(head_hidden_size=0)

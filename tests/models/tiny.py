"""Small random encoders of each family, shared by the tests that run every encoder family."""

from __future__ import annotations

import torch
from torch import nn

from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.encoders import get_encoder_spec

TINY: dict[str, dict] = {  # small random encoders of each family
    "cnn": {"channels": [4, 8, 8, 16]},
    "ast": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_length": 100,
    },
    "beats": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "intermediate_size": 48,
        "patch_embedding_dim": 24,
        "conv_pos": 8,
        "conv_pos_groups": 4,
        "num_buckets": 32,
        "max_distance": 64,
    },
    "efficientat": {},
}


def tiny_config(name: str, **kwargs) -> RespiraConfig:
    """A ``RespiraConfig`` around the tiny random encoder of family ``name`` (a recipe name)."""
    spec = get_encoder_spec(name)
    return RespiraConfig(encoder_config={"model_type": spec.model_type, **TINY[name]}, **kwargs)


def _calibrate_batch_norm(model: RespiraForAudioClassification) -> None:
    """Batch-norm statistics of one random batch, so that eval-mode outputs are not degenerate.

    A freshly initialised EfficientAT in eval mode (running mean 0, variance 1) maps every input to
    embeddings of about 1e-8, which would make any comparison of its outputs vacuous.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = 1.0  # the batch's own statistics
    model.train()
    with torch.no_grad():
        model(0.1 * torch.randn(4, 16000, generator=torch.Generator().manual_seed(5)))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum


def tiny_model(name: str, **kwargs) -> RespiraForAudioClassification:
    """A seeded random classifier around the tiny encoder of family ``name``, in eval mode (batch-norm
    statistics calibrated on one random batch)."""
    torch.manual_seed(0)
    model = RespiraForAudioClassification(tiny_config(name, **kwargs))
    _calibrate_batch_norm(model)
    return model.eval()

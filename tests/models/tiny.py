"""Small random encoders of each family, shared by the tests that run every encoder family."""

from __future__ import annotations

import torch

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


def tiny_model(name: str, **kwargs) -> RespiraForAudioClassification:
    """A seeded random classifier around the tiny encoder of family ``name``, in eval mode."""
    torch.manual_seed(0)
    return RespiraForAudioClassification(tiny_config(name, **kwargs)).eval()

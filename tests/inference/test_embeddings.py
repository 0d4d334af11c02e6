"""respira.inference.embeddings: an embedding pass runs the activations after each batch norm in place, with
the values of the model as it is, and leaves them as they were."""

from __future__ import annotations

import numpy as np
import torch

from respira import RespiraConfig, RespiraForAudioClassification
from respira.inference.embeddings import embed_waveforms
from respira.inference.forward import activations_in_place, forward

from ..models.encoder_tester import CASES


def test_an_embedding_pass_computes_the_activations_in_place_and_puts_them_back() -> None:
    case = CASES["efficientat"]
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config=case.encoder_config().to_dict(),
        target_seconds=case.target_seconds,
        **case.config_kwargs,
    )
    model = RespiraForAudioClassification(config).eval()
    activations = activations_in_place(model)
    assert activations and not any(activation.inplace for activation in activations)  # nn.ReLU() as built
    during: list[bool] = []
    for activation in activations:
        activation.register_forward_hook(lambda module, *_: during.append(module.inplace))
    waveforms = [np.random.default_rng(4).standard_normal(n).astype(np.float32) * 0.1 for n in (9000, 16000)]
    embedded = embed_waveforms(model, waveforms, batch_size=2)
    assert during and all(during)
    assert not any(activation.inplace for activation in activations)
    during.clear()
    np.testing.assert_array_equal(embedded, np.stack(forward(model, waveforms, "embeddings")))
    assert during and not any(during)  # forward alone: the model as it is

"""Tests for respira.models.cnn: the contrastive-embedding paper's CNN as a transformers model.

(Inside the classifier, the CNN also runs the shared encoder tester: test_encoder_families.py.)
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from torch import nn
from transformers import AutoConfig, AutoModel

from respira.models.respira.configuration_cnn import RespiraCNNConfig
from respira.models.respira.modeling_cnn import RespiraCNNModel

CHANNELS = [4, 8, 8, 16]
BINS, FRAMES = 64, 63  # one second of the CNN's log-mel


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def config() -> RespiraCNNConfig:
    return RespiraCNNConfig(channels=CHANNELS)


@pytest.fixture(scope="module")
def cnn(config: RespiraCNNConfig) -> RespiraCNNModel:
    """A seeded tiny CNN in eval mode, its batch-norm statistics and affine parameters off their init."""
    torch.manual_seed(0)
    model = RespiraCNNModel(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        model.train()(features(seed=9))
    return model.eval()


def features(batch: int = 3, frames: int = FRAMES, seed: int = 0) -> torch.Tensor:
    """Log-mel-like inputs ``[batch, frames, bins]``."""
    return torch.randn(batch, frames, BINS, generator=torch.Generator().manual_seed(seed))


def test_config_defaults_and_validation() -> None:
    default = RespiraCNNConfig()
    assert default.channels == [32, 64, 128, 256] and default.hidden_size == 256
    assert (default.num_mel_bins, default.dropout) == (64, 0.0)
    config = RespiraCNNConfig(channels=(3, 5))
    assert config.channels == [3, 5] and config.hidden_size == 5  # a tuple is stored as a list
    restored = RespiraCNNConfig.from_dict(config.to_dict())
    assert restored.channels == [3, 5] and restored.model_type == "respira_cnn"
    for bad in ([], [8, 0], [-4]):
        with pytest.raises(StrictDataclassClassValidationError, match="channels must be positive"):
            RespiraCNNConfig(channels=bad)


@pytest.mark.parametrize("frames", [FRAMES, 64, 17])
def test_forward_shapes_and_pooling(cnn: RespiraCNNModel, frames: int) -> None:
    inputs = features(frames=frames)
    with torch.no_grad():
        out = cnn(inputs)
    reduction = 2 ** (len(CHANNELS) - 1)  # 2 per pooling block
    assert out.last_hidden_state.shape == (3, CHANNELS[-1], BINS // reduction, frames // reduction)
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state.mean(dim=(2, 3)))
    assert out.pooler_output.shape == (3, cnn.config.hidden_size)
    assert out.hidden_states is None


def test_hidden_states_are_each_blocks_output(cnn: RespiraCNNModel) -> None:
    inputs = features()
    with torch.no_grad():
        out = cnn(inputs, output_hidden_states=True)
        expected = inputs.transpose(1, 2).unsqueeze(1)  # [batch, 1, bins, frames]
        for block, hidden in zip(cnn.blocks, out.hidden_states, strict=True):
            expected = block(expected)
            torch.testing.assert_close(hidden, expected, rtol=0, atol=0)
    assert len(out.hidden_states) == len(CHANNELS)
    sizes = [(h.shape[1], h.shape[2]) for h in out.hidden_states]
    assert sizes == [(4, 32), (8, 16), (8, 8), (16, 8)]  # pooling after every block but the last
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state, rtol=0, atol=0)


def test_rows_are_independent_in_eval_mode(cnn: RespiraCNNModel) -> None:
    inputs = features()
    with torch.no_grad():
        together = cnn(inputs).pooler_output
        alone = cnn(inputs[1:2]).pooler_output
    torch.testing.assert_close(alone, together[1:2], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(together[0], together[1])


def test_fresh_weights_follow_the_initialisation(config: RespiraCNNConfig) -> None:
    torch.manual_seed(1)
    model = RespiraCNNModel(RespiraCNNConfig(channels=[32, 64]))
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convolutions) == 4 and all(c.bias is None for c in convolutions)
    for convolution in convolutions:  # Kaiming normal, fan_out, ReLU gain
        fan_out = convolution.out_channels * 9
        std = convolution.weight.std().item()
        assert abs(std / math.sqrt(2.0 / fan_out) - 1) < 0.1, (std, fan_out)
    for norm in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))


def test_dropout_only_in_training() -> None:
    torch.manual_seed(2)
    model = RespiraCNNModel(RespiraCNNConfig(channels=CHANNELS, dropout=0.5))
    inputs = features()
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(inputs).pooler_output, model(inputs).pooler_output)
        model.train()
        first, second = model(inputs).pooler_output, model(inputs).pooler_output
    assert not torch.allclose(first, second)


def test_backward_reaches_every_parameter_and_the_input(config: RespiraCNNConfig) -> None:
    torch.manual_seed(3)
    model = RespiraCNNModel(config).train()
    inputs = features().requires_grad_(True)
    model(inputs).pooler_output.square().sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing
    assert inputs.grad is not None and inputs.grad.abs().sum() > 0


def test_auto_classes_and_save_pretrained_round_trip(cnn: RespiraCNNModel, tmp_path: Path) -> None:
    inputs = features()
    with torch.no_grad():
        expected = cnn(inputs).pooler_output
    cnn.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, RespiraCNNConfig) and config.channels == CHANNELS
    torch.manual_seed(4)
    assert not torch.allclose(RespiraCNNModel(config).eval()(inputs).pooler_output, expected)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, RespiraCNNModel)
    with torch.no_grad():
        torch.testing.assert_close(loaded(inputs).pooler_output, expected, rtol=0, atol=0)
    for name, buffer in cnn.named_buffers():  # batch-norm running statistics travel with the weights
        torch.testing.assert_close(loaded.get_buffer(name), buffer, rtol=0, atol=0, msg=name)

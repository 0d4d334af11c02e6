"""The input side of BEATs (steps 1 to 3 of :mod:`.modeling_beats`): fbank patches, their projection and
the convolutional positional embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .configuration_beats import BeatsConfig


class BeatsPatchEmbeddings(nn.Module):
    """Non-overlapping square patches of the fbank, embedded by a strided 2-D convolution."""

    def __init__(self, config: BeatsConfig) -> None:
        super().__init__()
        self.patch_size = config.patch_size
        self.projection = nn.Conv2d(
            1,
            config.patch_embedding_dim,
            kernel_size=config.patch_size,
            stride=config.patch_size,
            bias=config.conv_bias,
        )

    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        """``[B, T, F]`` → ``[B, (T // p) * (F // p), patch_embedding_dim]`` (time-major patch order)."""
        embeddings = self.projection(input_values.unsqueeze(1))
        return embeddings.flatten(2).transpose(1, 2)


class BeatsFeatureProjection(nn.Module):
    """LayerNorm of the patch embeddings, projection to ``hidden_size`` and input dropout."""

    def __init__(self, config: BeatsConfig) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.patch_embedding_dim, eps=config.layer_norm_eps)
        # As in the official model, there is no projection when the widths already agree.
        self.projection = (
            nn.Linear(config.patch_embedding_dim, config.hidden_size)
            if config.patch_embedding_dim != config.hidden_size
            else None
        )
        self.dropout = nn.Dropout(config.input_dropout)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        hidden_states = self.layer_norm(embeddings)
        if self.projection is not None:
            hidden_states = self.projection(hidden_states)
        return self.dropout(hidden_states)


class BeatsPositionalConvEmbedding(nn.Module):
    """Grouped, weight-normalised 1-D convolution over the patch sequence, followed by GELU."""

    def __init__(self, config: BeatsConfig) -> None:
        super().__init__()
        conv = nn.Conv1d(
            config.hidden_size,
            config.hidden_size,
            kernel_size=config.conv_pos,
            padding=config.conv_pos // 2,
            groups=config.conv_pos_groups,
        )
        self.conv = weight_norm(conv, name="weight", dim=2)
        # With an even kernel the symmetric padding yields one extra output frame: drop the last one.
        self.num_pad_remove = 1 if config.conv_pos % 2 == 0 else 0
        self.activation = nn.GELU()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        states = hidden_states.transpose(1, 2)
        if states.device.type == "cpu" and states.dtype in (torch.bfloat16, torch.float16):
            # oneDNN's grouped half-precision conv1d on CPU returns wrong values for some group sizes
            # (torch 2.13 on AVX512-BF16 / AMX CPUs: cosine 0.06 to float32 with 4 groups); this conv is
            # small, so it runs in float32 there.
            bias = self.conv.bias.float() if self.conv.bias is not None else None
            hidden_states = F.conv1d(
                states.float(),
                self.conv.weight.float(),
                bias,
                padding=self.conv.padding,
                groups=self.conv.groups,
            ).to(states.dtype)
        else:
            hidden_states = self.conv(states)
        if self.num_pad_remove:
            hidden_states = hidden_states[:, :, : -self.num_pad_remove]
        return self.activation(hidden_states).transpose(1, 2)


__all__ = ["BeatsFeatureProjection", "BeatsPatchEmbeddings", "BeatsPositionalConvEmbedding"]

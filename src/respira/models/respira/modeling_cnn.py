"""The small CNN encoder of the contrastive-embedding paper, as a transformers model."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndNoAttention
from transformers.utils.generic import can_return_tuple

from .configuration_cnn import RespiraCNNConfig


class RespiraCNNBlock(nn.Module):
    """Two 3×3 conv + batch norm + ReLU, then optional 2×2 max-pooling."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.layers(hidden_states)))


class RespiraCNNPreTrainedModel(PreTrainedModel):
    config: RespiraCNNConfig
    config_class = RespiraCNNConfig
    base_model_prefix = "cnn"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    # recomputing batch norm in training would update its running statistics twice
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class RespiraCNNModel(RespiraCNNPreTrainedModel):
    """``input_values`` ``[batch, frames, mel bins]`` → feature map, time sequence and pooled embedding."""

    def __init__(self, config: RespiraCNNConfig) -> None:
        super().__init__(config)
        channels = [1, *config.channels]
        self.blocks = nn.ModuleList(
            RespiraCNNBlock(
                channels[i], channels[i + 1], pool=i < len(config.channels) - 1, dropout=config.dropout
            )
            for i in range(len(config.channels))
        )
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPoolingAndNoAttention:
        hidden_states = input_values.transpose(1, 2).unsqueeze(1)  # [batch, 1, bins, frames]
        all_hidden_states = []
        for block in self.blocks:
            hidden_states = block(hidden_states)
            all_hidden_states.append(hidden_states)
        pooled = hidden_states.mean(dim=(2, 3))
        return BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=hidden_states,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden_states) if output_hidden_states else None,
        )

"""The BEATs encoder (steps 3 to 6 of :mod:`.modeling_beats`): positional convolution, encoder LayerNorm
and the stack of DeepNorm/post-LN or pre-LN layers, with layer-wise gradient decay and LayerDrop."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput

from .attention_beats import XAVIER_GAIN_ATTR, BeatsAttention, deep_norm_beta
from .configuration_beats import BeatsConfig
from .embeddings_beats import BeatsPositionalConvEmbedding


class _ScaleGradient(torch.autograd.Function):
    """Identity in the forward pass; multiplies the gradient by ``scale`` in the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad * ctx.scale, None


class _Float32GELU(nn.Module):
    """Exact GELU evaluated in float32 and cast back, as the official ``gelu`` activation does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x.float()).type_as(x)


def _activation(name: str) -> nn.Module:
    if name == "gelu":
        return _Float32GELU()
    if name not in ACT2FN:
        raise ValueError(f"unknown hidden_act {name!r}; choose 'gelu' or one of transformers' ACT2FN names")
    return ACT2FN[name]


class BeatsEncoderLayer(GradientCheckpointingLayer):
    """Self-attention and feed-forward blocks with DeepNorm/post-LN or pre-LN residuals."""

    def __init__(self, config: BeatsConfig, has_relative_position_bias: bool = False) -> None:
        super().__init__()
        self.self_attn = BeatsAttention(config, has_relative_position_bias=has_relative_position_bias)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation_fn = _activation(config.hidden_act)
        self.activation_dropout = nn.Dropout(config.activation_dropout)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layer_norm_first = config.layer_norm_first
        self.deep_norm_alpha = (2 * config.num_hidden_layers) ** 0.25 if config.deep_norm else 1.0
        if config.deep_norm:
            beta = deep_norm_beta(config)
            setattr(self.fc1, XAVIER_GAIN_ATTR, beta)
            setattr(self.fc2, XAVIER_GAIN_ATTR, beta)

    def _feed_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation_dropout(self.activation_fn(self.fc1(hidden_states)))
        return self.dropout(self.fc2(hidden_states))

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        position_bias: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        residual = hidden_states
        if self.layer_norm_first:
            hidden_states, attn = self.self_attn(
                self.self_attn_layer_norm(hidden_states), key_padding_mask, position_bias, output_attentions
            )
            hidden_states = residual + self.dropout(hidden_states)
            hidden_states = hidden_states + self._feed_forward(self.final_layer_norm(hidden_states))
        else:
            hidden_states, attn = self.self_attn(
                hidden_states, key_padding_mask, position_bias, output_attentions
            )
            hidden_states = residual * self.deep_norm_alpha + self.dropout(hidden_states)
            hidden_states = self.self_attn_layer_norm(hidden_states)
            hidden_states = hidden_states * self.deep_norm_alpha + self._feed_forward(hidden_states)
            hidden_states = self.final_layer_norm(hidden_states)
        return hidden_states, attn


class BeatsEncoder(nn.Module):
    """Positional convolution, encoder LayerNorm and the stack of encoder layers."""

    def __init__(self, config: BeatsConfig) -> None:
        super().__init__()
        self.config = config
        self.pos_conv_embed = BeatsPositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(
            BeatsEncoderLayer(
                config, has_relative_position_bias=config.relative_position_embedding and i == 0
            )
            for i in range(config.num_hidden_layers)
        )

    def forward(
        self,
        hidden_states: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        """``hidden_states`` ``[B, L, C]``; ``padding_mask`` ``[B, L]`` with True at padded patches."""
        config = self.config
        if padding_mask is not None:
            # Zeroed padding makes the positional convolution see exactly what it sees past the end of an
            # unpadded sequence (its own zero padding).
            hidden_states = hidden_states.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        hidden_states = hidden_states + self.pos_conv_embed(hidden_states)
        if not config.layer_norm_first:
            hidden_states = self.layer_norm(hidden_states)
        hidden_states = self.dropout(hidden_states)

        position_bias = None
        if config.relative_position_embedding and len(self.layers) > 0:
            position_bias = self.layers[0].self_attn.compute_position_bias(
                hidden_states.shape[1], hidden_states.device
            )

        all_hidden_states: tuple[torch.Tensor, ...] = ()
        all_attentions: tuple[torch.Tensor | None, ...] = ()
        for layer in self.layers:
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
            if config.layer_wise_gradient_decay_ratio != 1.0 and torch.is_grad_enabled():
                hidden_states = _ScaleGradient.apply(
                    hidden_states, float(config.layer_wise_gradient_decay_ratio)
                )
            attn = None
            skip = self.training and config.layerdrop > 0 and float(torch.rand(())) < config.layerdrop
            if not skip:
                hidden_states, attn = layer(
                    hidden_states,
                    key_padding_mask=padding_mask,
                    position_bias=position_bias,
                    output_attentions=output_attentions,
                )
            if output_attentions:
                all_attentions += (attn,)

        if config.layer_norm_first:
            hidden_states = self.layer_norm(hidden_states)
        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        return BaseModelOutput(
            last_hidden_state=hidden_states,
            hidden_states=all_hidden_states if output_hidden_states else None,
            attentions=all_attentions if output_attentions else None,
        )


__all__ = ["BeatsEncoder", "BeatsEncoderLayer"]

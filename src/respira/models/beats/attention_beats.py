"""The self-attention of BEATs (step 5 of :mod:`.modeling_beats`): bucketed relative positions and the
gated relative position bias, with the official scaling and max-shifted scores."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .configuration_beats import BeatsConfig

# The official attention divides the query by this constant and multiplies the max-shifted scores back by it.
_ATTENTION_ALPHA = 32.0
# Attribute set on the linear layers that DeepNorm initialises with a Xavier-normal of a given gain.
XAVIER_GAIN_ATTR = "_beats_xavier_gain"


def deep_norm_beta(config: BeatsConfig) -> float:
    """DeepNorm's Xavier gain ``(8 * num_hidden_layers) ** -0.25`` of the value, output and FFN linears."""
    return (8 * config.num_hidden_layers) ** -0.25


def relative_position_bucket(
    relative_position: torch.Tensor, num_buckets: int, max_distance: int
) -> torch.Tensor:
    """Bidirectional T5-style buckets of ``key - query`` offsets, in BEATs' float32 arithmetic."""
    half = num_buckets // 2
    buckets = (relative_position > 0).to(torch.long) * half
    distance = relative_position.abs()
    max_exact = half // 2
    is_small = distance < max_exact
    # clamp(min=1) only touches distance 0, which is "small" anyway; it avoids casting log(0) = -inf to long.
    scaled = (
        torch.log(distance.clamp(min=1).float() / max_exact)
        / math.log(max_distance / max_exact)
        * (half - max_exact)
    )
    large = (max_exact + scaled.to(torch.long)).clamp(max=half - 1)
    return buckets + torch.where(is_small, distance, large)


class BeatsAttention(nn.Module):
    """Multi-head self-attention with the gated relative position bias of BEATs (eager implementation)."""

    def __init__(self, config: BeatsConfig, has_relative_position_bias: bool = False) -> None:
        super().__init__()
        self.embed_dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.num_buckets = config.num_buckets
        self.max_distance = config.max_distance

        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.k_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.v_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim)

        # Only the first layer owns the bias table; the encoder computes the bias once and shares it.
        self.relative_attention_bias = (
            nn.Embedding(config.num_buckets, self.num_heads) if has_relative_position_bias else None
        )
        self.gated_relative_position_bias = config.gated_relative_position_bias
        if self.gated_relative_position_bias:
            self.grep_linear = nn.Linear(self.head_dim, 8)
            self.grep_a = nn.Parameter(torch.ones(1, self.num_heads, 1, 1))
        else:
            self.grep_linear = None
            self.grep_a = None

        if config.deep_norm:
            beta = deep_norm_beta(config)
            for linear, gain in (
                (self.q_proj, 1.0),
                (self.k_proj, 1.0),
                (self.v_proj, beta),
                (self.out_proj, beta),
            ):
                setattr(linear, XAVIER_GAIN_ATTR, gain)

    def compute_position_bias(self, length: int, device: torch.device) -> torch.Tensor:
        """The ungated bias ``[1, num_heads, length, length]`` (query, key) from this layer's table."""
        if self.relative_attention_bias is None:
            raise RuntimeError("this attention layer has no relative position bias table")
        positions = torch.arange(length, dtype=torch.long, device=device)
        relative = positions[None, :] - positions[:, None]
        buckets = relative_position_bucket(relative, self.num_buckets, self.max_distance)
        return self.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        position_bias: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``hidden_states`` ``[B, L, C]``; ``key_padding_mask`` ``[B, L]`` with True at padded patches."""
        batch, length, _ = hidden_states.shape
        shape = (batch, length, self.num_heads, self.head_dim)

        query = self.q_proj(hidden_states) * self.scaling
        query = query * (1.0 / _ATTENTION_ALPHA)
        query = query.view(shape).transpose(1, 2)
        key = self.k_proj(hidden_states).view(shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(shape).transpose(1, 2)

        scores = torch.matmul(query, key.transpose(-1, -2))
        scores = (scores - scores.amax(dim=-1, keepdim=True)) * _ATTENTION_ALPHA
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))

        if position_bias is not None:
            if self.gated_relative_position_bias:
                # The gate reads the unscaled query of each head.
                unscaled_query = query * _ATTENTION_ALPHA / self.scaling
                gates = self.grep_linear(unscaled_query).view(batch, self.num_heads, length, 2, 4).sum(-1)
                gate_a, gate_b = torch.sigmoid(gates).chunk(2, dim=-1)
                gate = gate_a * (gate_b * self.grep_a - 1.0) + 2.0
                position_bias = gate * position_bias
            scores = scores + position_bias

        probs = F.softmax(scores, dim=-1, dtype=torch.float32).type_as(scores)  # as BEATs: float32 softmax
        attn_output = torch.matmul(F.dropout(probs, p=self.dropout, training=self.training), value)
        attn_output = attn_output.transpose(1, 2).reshape(batch, length, self.embed_dim)
        return self.out_proj(attn_output), (probs if output_attentions else None)


__all__ = ["BeatsAttention", "relative_position_bucket"]

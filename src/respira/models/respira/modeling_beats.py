"""BEATs audio encoder (Chen et al., 2022) written in the transformers style.

It reproduces the official implementation (microsoft/unilm, ``beats/``) step by step, so that converted
checkpoints give the same outputs.

The layers of the BEATs encoder, as the official code computes them (post-LN, DeepNorm residuals, a
gated relative position bias computed once from layer 0's table).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput
from transformers.utils.generic import can_return_tuple

from .configuration_beats import BeatsConfig
from .labels import MULTI_LABEL, tagging_loss

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
    """Self-attention and feed-forward blocks with post-LN residuals (DeepNorm's, with ``deep_norm``)."""

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
        hidden_states, attn = self.self_attn(
            hidden_states, key_padding_mask, position_bias, output_attentions
        )
        hidden_states = self.self_attn_layer_norm(
            residual * self.deep_norm_alpha + self.dropout(hidden_states)
        )
        hidden_states = hidden_states * self.deep_norm_alpha + self._feed_forward(hidden_states)
        return self.final_layer_norm(hidden_states), attn


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
        hidden_states = self.dropout(self.layer_norm(hidden_states))

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

        if output_hidden_states:
            all_hidden_states += (hidden_states,)
        return BaseModelOutput(
            last_hidden_state=hidden_states,
            hidden_states=all_hidden_states if output_hidden_states else None,
            attentions=all_attentions if output_attentions else None,
        )


class BeatsPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading/saving plumbing shared by the BEATs models."""

    config: BeatsConfig
    config_class = BeatsConfig
    base_model_prefix = "beats"
    main_input_name = "input_values"
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    _no_split_modules = ["BeatsEncoderLayer"]  # noqa: RUF012

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The official initialisation; normal(0, initializer_range) where it keeps PyTorch's defaults."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            gain = getattr(module, XAVIER_GAIN_ATTR, None)
            if gain is None:
                init.normal_(module.weight, mean=0.0, std=std)
            else:
                init.xavier_normal_(module.weight, gain=gain)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d) and parametrize.is_parametrized(module, "weight"):
            # The positional convolution: normal v, then g = |v| so that the initial weight equals v.
            weight_g = module.parametrizations.weight.original0
            weight_v = module.parametrizations.weight.original1
            init.normal_(
                weight_v, mean=0.0, std=math.sqrt(4.0 / (module.kernel_size[0] * module.out_channels))
            )
            init.copy_(weight_g, torch.norm_except_dim(weight_v, 2, dim=2))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, BeatsAttention) and module.grep_a is not None:
            init.ones_(module.grep_a)


class BeatsModel(BeatsPreTrainedModel):
    """The BEATs encoder: normalised fbank frames in, one hidden vector per 16×16 patch out."""

    def __init__(self, config: BeatsConfig) -> None:
        super().__init__(config)
        self.patch_embeddings = BeatsPatchEmbeddings(config)
        self.feature_projection = BeatsFeatureProjection(config)
        self.encoder = BeatsEncoder(config)
        self.post_init()

    def get_patch_attention_mask(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Reduce a frame mask ``[B, T]`` (1 = valid) to a patch mask ``[B, patches]`` (time-major)."""
        patch = self.config.patch_size
        num_blocks = attention_mask.shape[1] // patch
        valid = attention_mask[:, : num_blocks * patch].reshape(attention_mask.shape[0], num_blocks, patch)
        valid = valid.bool().all(dim=-1)
        return valid.repeat_interleave(self.config.num_mel_bins // patch, dim=1)

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> BaseModelOutput:
        r"""Time-major patch states of normalised fbank frames ``[B, T, num_mel_bins]``; ``attention_mask``
        ``[B, T]`` (1 = real frame) masks the patches it covers whole."""
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = (
            config.output_hidden_states if output_hidden_states is None else output_hidden_states
        )

        if input_values.dim() != 3 or input_values.shape[-1] != config.num_mel_bins:
            raise ValueError(
                f"input_values must be [batch, frames, {config.num_mel_bins}] fbank frames, "
                f"got shape {tuple(input_values.shape)}"
            )
        if attention_mask is not None and attention_mask.shape != input_values.shape[:2]:
            raise ValueError(
                f"attention_mask must be [batch, frames] = {tuple(input_values.shape[:2])}, "
                f"got {tuple(attention_mask.shape)}"
            )
        num_frames = (input_values.shape[1] // config.patch_size) * config.patch_size
        if num_frames == 0:
            raise ValueError(f"input_values needs at least patch_size={config.patch_size} frames")
        input_values = input_values[:, :num_frames]

        padding_mask = None
        if attention_mask is not None:
            valid = self.get_patch_attention_mask(attention_mask)
            # a check of values: left out while torch.export traces the model (ONNX), where it cannot be
            if not torch.compiler.is_compiling() and not bool(valid.any(dim=1).all()):
                raise ValueError(
                    f"every item needs a block of patch_size={config.patch_size} valid frames "
                    "(aligned to the patch grid); some item has none"
                )
            padding_mask = ~valid

        weight_dtype = self.patch_embeddings.projection.weight.dtype
        embeddings = self.patch_embeddings(input_values.to(weight_dtype))
        hidden_states = self.feature_projection(embeddings)
        return self.encoder(
            hidden_states,
            padding_mask=padding_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
        )


class BeatsForAudioClassification(BeatsPreTrainedModel):
    """BEATs with the official clip-level head: a linear ``predictor`` per patch, averaged."""

    def __init__(self, config: BeatsConfig) -> None:
        super().__init__(config)
        self.beats = BeatsModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.predictor = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        *,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> SequenceClassifierOutput:
        r"""Clip-level logits ``[B, num_labels]`` (and the loss with ``labels``: multi-hot, class indices or
        regression targets)."""
        outputs = self.beats(
            input_values,
            attention_mask=attention_mask,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        patch_logits = self.predictor(self.dropout(outputs.last_hidden_state))
        if attention_mask is None:
            logits = patch_logits.mean(dim=1)
        else:
            valid = self.beats.get_patch_attention_mask(attention_mask)
            summed = patch_logits.masked_fill(~valid.unsqueeze(-1), 0.0).sum(dim=1)
            logits = summed / valid.sum(dim=1, keepdim=True).to(summed.dtype)

        loss = (
            None if labels is None else tagging_loss(logits, labels, self.config.problem_type or MULTI_LABEL)
        )
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

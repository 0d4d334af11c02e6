"""BEATs audio encoder (Chen et al., 2022) written in the transformers style.

It reproduces the official implementation (microsoft/unilm, ``beats/``) step by step, so that converted
checkpoints give the same outputs.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput
from transformers.utils.generic import can_return_tuple

from .configuration_beats import BeatsConfig
from .encoder_beats import (
    XAVIER_GAIN_ATTR,
    BeatsAttention,
    BeatsEncoder,
    BeatsFeatureProjection,
    BeatsPatchEmbeddings,
)
from .labels import MULTI_LABEL, tagging_loss


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

"""EfficientAT's MobileNetV3 audio tagger ("mn" models) as a transformers model.

A MobileNetV3-Large on one-channel log-mels with channel-wise squeeze-and-excitation, a final 1x1
convolution, global average pooling (the embedding) and an MLP head (Schmid et al., ICASSP 2023). Module
names follow the original checkpoints.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndNoAttention, SequenceClassifierOutput
from transformers.utils.generic import can_return_tuple

from .configuration_efficientat import EfficientATConfig, make_divisible
from .labels import tagging_loss


class EfficientATConvNormActivation(nn.Sequential):
    """Convolution (no bias) → BatchNorm → optional activation, with "same" padding for odd kernels."""

    def __init__(
        self,
        config: EfficientATConfig,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        activation: str | None = None,
    ) -> None:
        padding = (kernel_size - 1) // 2 * dilation
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels, eps=config.batch_norm_eps, momentum=config.batch_norm_momentum),
        ]
        if activation is not None:  # the config allows RE and HS
            layers.append(nn.ReLU() if activation == "RE" else nn.Hardswish())
        super().__init__(*layers)


class EfficientATSqueezeExcitation(nn.Module):
    """Channel squeeze-and-excitation: mean over (freq, time) → fc1 → ReLU → fc2 → sigmoid → rescale."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, squeeze_channels)
        self.fc2 = nn.Linear(squeeze_channels, channels)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        scale = hidden_states.mean(dim=(2, 3))
        scale = self.fc2(self.activation(self.fc1(scale)))
        return hidden_states * self.scale_activation(scale)[:, :, None, None]


class EfficientATInvertedResidual(nn.Module):
    """MobileNetV3 bottleneck: [1x1 expand] → depthwise k×k → [SE] → 1x1 project (+ input if shapes match)."""

    def __init__(self, config: EfficientATConfig, setting: dict[str, Any]) -> None:
        super().__init__()
        in_ch, mid_ch, out_ch = (setting[k] for k in ("input_channels", "expanded_channels", "out_channels"))
        stride, dilation, activation = setting["stride"], setting["dilation"], setting["activation"]
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if mid_ch != in_ch:
            layers.append(EfficientATConvNormActivation(config, in_ch, mid_ch, 1, activation=activation))
        layers.append(
            EfficientATConvNormActivation(
                config,
                mid_ch,
                mid_ch,
                setting["kernel"],
                stride=1 if dilation > 1 else stride,
                dilation=dilation,
                groups=mid_ch,
                activation=activation,
            )
        )
        if setting["use_se"]:
            squeeze = make_divisible(mid_ch // config.se_reduction, config.channel_divisor)
            layers.append(EfficientATSqueezeExcitation(mid_ch, squeeze))
        layers.append(EfficientATConvNormActivation(config, mid_ch, out_ch, 1, activation=None))
        self.block = nn.Sequential(*layers)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        output = self.block(hidden_states)
        if self.use_residual:
            output = output + hidden_states
        return output


class EfficientATMLPHead(nn.Module):
    """EfficientAT's "mlp" head on the pooled embedding: Linear → Hardswish → Dropout → Linear."""

    def __init__(self, config: EfficientATConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.head_hidden_size)
        self.activation = nn.Hardswish()
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.out_proj = nn.Linear(config.head_hidden_size, config.num_labels)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.out_proj(self.dropout(self.activation(self.dense(embeddings))))


class EfficientATPreTrainedModel(PreTrainedModel):
    config_class = EfficientATConfig
    config: EfficientATConfig
    base_model_prefix = "efficientat"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    _no_split_modules: ClassVar[list[str]] = []

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)


class EfficientATModel(EfficientATPreTrainedModel):
    """The EfficientAT MobileNetV3 trunk: log-mel → last feature map and its global average (embedding)."""

    def __init__(self, config: EfficientATConfig) -> None:
        super().__init__(config)
        blocks = config.block_settings
        layers: list[nn.Module] = [
            EfficientATConvNormActivation(
                config,
                config.num_input_channels,
                config.stem_channels,
                config.stem_kernel_size,
                stride=config.stem_stride,
                activation="HS",
            )
        ]
        layers.extend(EfficientATInvertedResidual(config, block) for block in blocks)
        layers.append(
            EfficientATConvNormActivation(
                config, blocks[-1]["out_channels"], config.hidden_size, 1, activation="HS"
            )
        )
        self.features = nn.ModuleList(layers)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPoolingAndNoAttention:
        r"""input_values (`torch.FloatTensor`): log-mels ``(batch_size, n_mels, frames)`` (`EfficientATMel`'s,
        transposed)."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if input_values.dim() != 3:
            raise ValueError(
                f"expected log-mels [batch, n_mels, frames], got shape {tuple(input_values.shape)}"
            )
        hidden = input_values.unsqueeze(1).to(self.features[0][0].weight.dtype)
        all_hidden: list[torch.Tensor] = []
        for layer in self.features:
            hidden = layer(hidden)
            if output_hidden_states:
                all_hidden.append(hidden)
        pooled = hidden.mean(dim=(2, 3))
        return BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=hidden,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
        )


class EfficientATForAudioClassification(EfficientATPreTrainedModel):
    """EfficientAT MobileNetV3 with its MLP head (AudioSet tagging by default: 527 sigmoid outputs)."""

    def __init__(self, config: EfficientATConfig) -> None:
        super().__init__(config)
        self.efficientat = EfficientATModel(config)
        self.classifier = EfficientATMLPHead(config)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        r"""input_values (`torch.FloatTensor`): log-mels ``(batch_size, n_mels, frames)``."""
        outputs = self.efficientat(
            input_values,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(outputs.pooler_output)
        loss = tagging_loss(logits, labels, self.config.problem_type) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)

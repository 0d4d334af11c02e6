"""Configuration of EfficientAT's MobileNetV3 audio tagger ("mn" models, Schmid et al., ICASSP 2023)."""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PretrainedConfig

MIN_WIDTH_MULT = 0.4
MAX_WIDTH_MULT = 1.0
AUDIOSET_NUM_LABELS = 527

# MobileNetV3-Large as EfficientAT uses it, at width 1.0: one row per inverted-residual block
MOBILENET_V3_LARGE_SETTING: tuple[tuple[int, int, int, int, bool, str, int, int], ...] = (
    (16, 3, 16, 16, False, "RE", 1, 1),
    (16, 3, 64, 24, False, "RE", 2, 1),
    (24, 3, 72, 24, False, "RE", 1, 1),
    (24, 5, 72, 40, True, "RE", 2, 1),
    (40, 5, 120, 40, True, "RE", 1, 1),
    (40, 5, 120, 40, True, "RE", 1, 1),
    (40, 3, 240, 80, False, "HS", 2, 1),
    (80, 3, 200, 80, False, "HS", 1, 1),
    (80, 3, 184, 80, False, "HS", 1, 1),
    (80, 3, 184, 80, False, "HS", 1, 1),
    (80, 3, 480, 112, True, "HS", 1, 1),
    (112, 3, 672, 112, True, "HS", 1, 1),
    (112, 5, 672, 160, True, "HS", 2, 1),
    (160, 5, 960, 160, True, "HS", 1, 1),
    (160, 5, 960, 160, True, "HS", 1, 1),
)
_SETTING_FIELDS = (
    "input_channels",
    "kernel",
    "expanded_channels",
    "out_channels",
    "use_se",
    "activation",
    "stride",
    "dilation",
)
_ACTIVATIONS = ("RE", "HS")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10 % down (MobileNet rule)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@strict
class EfficientATConfig(PretrainedConfig):
    r"""Configuration of an EfficientAT MobileNetV3 ("mn") model on 128-bin log-mels of 32 kHz audio
    (`EfficientATMel`). The defaults describe ``mn04_as``: width 0.4, AudioSet's 527 labels.

    width_mult (`float`, defaults to 0.4): channel multiplier, 0.4 (mn04) to 1.0 (mn10).
    inverted_residual_setting (`list[list]`, *optional*): one row per block at width 1.0; default
        `MOBILENET_V3_LARGE_SETTING`.
    last_channel (`int`, defaults to 1280): the MLP head's hidden size at width 1.0.
    last_conv_expansion (`int`, defaults to 6): the last 1x1 convolution's channels over the last block's.
    The other fields are the original's.
    """

    model_type = "efficientat"

    width_mult: float | int = 0.4
    inverted_residual_setting: list | None = None
    last_channel: int = 1280
    last_conv_expansion: int = 6
    se_reduction: int = 4
    channel_divisor: int = 8
    num_input_channels: int = 1
    stem_kernel_size: int = 3
    stem_stride: int = 2
    batch_norm_eps: float | int = 1e-3
    batch_norm_momentum: float | int = 0.01
    classifier_dropout: float | int = 0.2
    initializer_range: float | int = 0.01

    def __post_init__(self, **kwargs: Any) -> None:
        if self.id2label is None:
            kwargs.setdefault("num_labels", AUDIOSET_NUM_LABELS)
        setting = self.inverted_residual_setting
        self.inverted_residual_setting = [
            list(row) for row in (MOBILENET_V3_LARGE_SETTING if setting is None else setting)
        ]
        self._check()
        super().__post_init__(**kwargs)

    def _check(self) -> None:
        if not MIN_WIDTH_MULT <= float(self.width_mult) <= MAX_WIDTH_MULT:
            raise ValueError(f"width_mult must be between 0.4 and 1.0 (mn04 to mn10), got {self.width_mult}")
        if not self.inverted_residual_setting:
            raise ValueError("inverted_residual_setting must list at least one block")
        for index, row in enumerate(self.inverted_residual_setting):
            if len(row) != len(_SETTING_FIELDS) or row[5] not in _ACTIVATIONS or row[6] not in (1, 2):
                raise ValueError(
                    f"inverted_residual_setting[{index}] must be [{', '.join(_SETTING_FIELDS)}] with "
                    f"activation RE or HS and stride 1 or 2, got {row!r}"
                )
        if not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(f"classifier_dropout must be in [0, 1), got {self.classifier_dropout}")

    def adjust_channels(self, channels: int) -> int:
        """A width-1.0 channel count scaled by ``width_mult`` and rounded to ``channel_divisor``."""
        return make_divisible(channels * self.width_mult, self.channel_divisor)

    @property
    def block_settings(self) -> list[dict[str, Any]]:
        """The inverted-residual rows as dictionaries, channel counts scaled by ``width_mult``."""
        blocks = []
        for row in self.inverted_residual_setting:
            block = dict(zip(_SETTING_FIELDS, row, strict=True))
            for key in ("input_channels", "expanded_channels", "out_channels"):
                block[key] = self.adjust_channels(block[key])
            blocks.append(block)
        return blocks

    @property
    def stem_channels(self) -> int:
        return self.adjust_channels(self.inverted_residual_setting[0][0])

    @property
    def hidden_size(self) -> int:
        """Channels of the last feature map, i.e. the size of the pooled embedding (384 for mn04)."""
        return self.last_conv_expansion * self.adjust_channels(self.inverted_residual_setting[-1][3])

    @property
    def head_hidden_size(self) -> int:
        """Hidden size of the MLP head (512 for mn04)."""
        return self.adjust_channels(self.last_channel)

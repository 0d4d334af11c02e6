"""Configuration of the small CNN of the contrastive-embedding paper (Song et al., 2021)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig


@strict
class RespiraCNNConfig(PreTrainedConfig):
    r"""Four blocks of two 3×3 convolutions with batch norm and ReLU, 2×2 max-pooling after the first
    three, global average pooling to a ``channels[-1]``-dimensional embedding.

    channels (`list[int]`, defaults to `[32, 64, 128, 256]`):
        Output channels of the four blocks.
    num_mel_bins (`int`, defaults to 64):
        Mel bands of the input log-mel spectrogram (the paper's 64 × 320 input).
    dropout (`float`, defaults to 0.0):
        Dropout applied to each block's output.
    """

    model_type = "respira_cnn"
    channels: list[int] | tuple[int, ...] = (32, 64, 128, 256)
    num_mel_bins: int = 64
    dropout: float | int = 0.0

    def __post_init__(self, **kwargs):
        self.channels = [int(c) for c in self.channels]
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        if len(self.channels) < 1 or any(c <= 0 for c in self.channels):
            raise ValueError(f"channels must be positive, got {self.channels}")

    @property
    def hidden_size(self) -> int:
        return self.channels[-1]

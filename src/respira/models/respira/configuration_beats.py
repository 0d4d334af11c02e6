"""Configuration of BEATs (Chen et al., 2022, "BEATs: Audio Pre-Training with Acoustic Tokenizers")."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PretrainedConfig


@strict
class BeatsConfig(PretrainedConfig):
    r"""Configuration of a [`BeatsModel`] / [`BeatsForAudioClassification`].

    Field names follow transformers (the official ``cfg`` keys they come from: :mod:`.convert_beats`); the
    defaults are the BEATs base encoder's. ``hidden_act="gelu"`` is the exact GELU in float32.
    """

    model_type = "beats"

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float | int = 0.1
    attention_dropout: float | int = 0.1
    activation_dropout: float | int = 0.0
    layerdrop: float | int = 0.0
    input_dropout: float | int = 0.0
    layer_norm_first: bool = False
    conv_bias: bool = False
    patch_embedding_dim: int = 512
    patch_size: int = 16
    num_mel_bins: int = 128
    relative_position_embedding: bool = True
    num_buckets: int = 320
    max_distance: int = 800
    gated_relative_position_bias: bool = True
    deep_norm: bool = True
    conv_pos: int = 128
    conv_pos_groups: int = 16
    layer_wise_gradient_decay_ratio: float | int = 1.0
    classifier_dropout: float | int = 0.1
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02

    def validate_architecture(self) -> None:
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.hidden_size % self.conv_pos_groups != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by "
                f"conv_pos_groups ({self.conv_pos_groups})"
            )
        if self.patch_size < 1 or self.num_mel_bins < self.patch_size:
            raise ValueError(
                f"patch_size ({self.patch_size}) must be at least 1 and at most "
                f"num_mel_bins ({self.num_mel_bins})"
            )
        if self.layer_norm_first:
            raise ValueError(
                "layer_norm_first (pre-LN layers) is not supported: the official checkpoints are post-LN"
            )
        if self.relative_position_embedding and (
            self.num_buckets < 4 or self.max_distance <= self.num_buckets // 4
        ):
            raise ValueError(
                f"relative position buckets need num_buckets >= 4 and max_distance > num_buckets // 4, got "
                f"num_buckets={self.num_buckets}, max_distance={self.max_distance}"
            )

"""Configuration of BEATs (Chen et al., 2022, "BEATs: Audio Pre-Training with Acoustic Tokenizers")."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PretrainedConfig


@strict
class BeatsConfig(PretrainedConfig):
    r"""Configuration of a [`BeatsModel`] / [`BeatsForAudioClassification`].

    Field names follow transformers; the official BEATs ``cfg`` key each one corresponds to is given in
    brackets, so that :func:`respira.models.beats.convert_beats.convert_beats_checkpoint` is a plain
    renaming. The architecture defaults are those of the BEATs base encoders (12 layers of 768, deep norm,
    gated relative position bias with 320 buckets up to distance 800, 16×16 patches over a 128-bin fbank);
    dropout defaults follow the official ``BEATsConfig`` class. A converted checkpoint sets every field.

    Args:
        hidden_size (`int`, defaults to 768): width of the transformer [``encoder_embed_dim``].
        num_hidden_layers (`int`, defaults to 12): number of encoder layers [``encoder_layers``].
        num_attention_heads (`int`, defaults to 12): attention heads per layer
            [``encoder_attention_heads``].
        intermediate_size (`int`, defaults to 3072): width of the feed-forward block
            [``encoder_ffn_embed_dim``].
        hidden_act (`str`, defaults to `"gelu"`): feed-forward activation [``activation_fn``]; `"gelu"` is
            the exact (erf) GELU evaluated in float32, as in the official code; other names are looked up in
            ``transformers.activations.ACT2FN`` (the official `"gelu_accurate"`/`"gelu_fast"` is
            `"gelu_accurate"`).
        hidden_dropout (`float`, defaults to 0.1): dropout on the encoder input and on each residual branch
            [``dropout``].
        attention_dropout (`float`, defaults to 0.1): dropout on the attention probabilities
            [``attention_dropout``].
        activation_dropout (`float`, defaults to 0.0): dropout after the feed-forward activation
            [``activation_dropout``].
        layerdrop (`float`, defaults to 0.0): probability of skipping a whole encoder layer while training
            [``encoder_layerdrop``].
        input_dropout (`float`, defaults to 0.0): dropout on the projected patch features
            [``dropout_input``].
        layer_norm_first (`bool`, defaults to `False`): pre-LN layers and a final encoder LayerNorm; when
            `False` the layers are post-LN and the encoder LayerNorm is applied to the input of the first
            layer [``layer_norm_first``].
        conv_bias (`bool`, defaults to `False`): bias in the patch-embedding convolution [``conv_bias``].
        patch_embedding_dim (`int`, defaults to 512): channels of the patch embedding, projected to
            `hidden_size` when different [``embed_dim``].
        patch_size (`int`, defaults to 16): side of the square time × frequency patches, also the stride
            [``input_patch_size``].
        num_mel_bins (`int`, defaults to 128): mel bins of the input fbank (fixed to 128 in the official
            preprocessing; no cfg key).
        relative_position_embedding (`bool`, defaults to `True`): bucketed relative position bias
            [``relative_position_embedding``].
        num_buckets (`int`, defaults to 320): relative position buckets, half per direction
            [``num_buckets``].
        max_distance (`int`, defaults to 800): distance (in patches) mapped to the last bucket
            [``max_distance``].
        gated_relative_position_bias (`bool`, defaults to `True`): scale the bias per head and query with
            the learned gate of ``grep_linear``/``grep_a`` [``gru_rel_pos``].
        deep_norm (`bool`, defaults to `True`): DeepNorm residuals, ``alpha * residual + branch`` with
            ``alpha = (2 * num_hidden_layers) ** 0.25``, and the matching initialisation [``deep_norm``].
        conv_pos (`int`, defaults to 128): kernel size of the convolutional positional embedding
            [``conv_pos``].
        conv_pos_groups (`int`, defaults to 16): groups of that convolution [``conv_pos_groups``].
        layer_wise_gradient_decay_ratio (`float`, defaults to 1.0): the gradient reaching each encoder
            layer's input is multiplied by this factor (the forward pass is unchanged), so lower layers
            learn more slowly; fine-tuned checkpoints carry their value (0.6 in the tiny reference)
            [``layer_wise_gradient_decay_ratio``].
        classifier_dropout (`float`, defaults to 0.1): dropout before the `predictor` of
            [`BeatsForAudioClassification`] [``predictor_dropout``]; its output size is `num_labels`
            [``predictor_class``].
        layer_norm_eps (`float`, defaults to 1e-5): epsilon of every LayerNorm (PyTorch's default, as used
            by the official code; no cfg key).
        initializer_range (`float`, defaults to 0.02): std of the normal initialisation of linear layers and
            of the relative position bias table (no cfg key).
        fbank_mean (`float`, defaults to 15.41663) and fbank_std (`float`, defaults to 6.55582): the
            AudioSet statistics of the 128-bin Kaldi fbank (16 kHz, 25 ms window, 10 ms shift, waveform
            scaled by 2**15). The model does not apply them: its input is already ``(fbank - fbank_mean) /
            (2 * fbank_std)``, as in the official ``BEATs.preprocess``. They are stored so feature
            extraction can read them from the config.

    The official ``finetuned_model`` flag has no field: a converted checkpoint with a predictor becomes a
    [`BeatsForAudioClassification`], one without becomes a [`BeatsModel`].
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
    fbank_mean: float = 15.41663
    fbank_std: float = 6.55582

    def validate_architecture(self) -> None:
        """Reject combinations the model cannot be built with (called by transformers' strict validation)."""
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
        if self.deep_norm and self.layer_norm_first:
            raise ValueError(
                "deep_norm and layer_norm_first cannot both be set (the official model forbids it)"
            )
        if self.relative_position_embedding and (
            self.num_buckets < 4 or self.max_distance <= self.num_buckets // 4
        ):
            raise ValueError(
                f"relative position buckets need num_buckets >= 4 and max_distance > num_buckets // 4, got "
                f"num_buckets={self.num_buckets}, max_distance={self.max_distance}"
            )
        if self.fbank_std <= 0:
            raise ValueError(f"fbank_std must be positive, got {self.fbank_std}")


__all__ = ["BeatsConfig"]

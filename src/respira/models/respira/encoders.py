"""Encoder families: what each one is, in one :class:`EncoderSpec` per family.

Adding a family means adding its configuration and modeling modules to this folder (registered in
:mod:`.configuration_respira`) and one spec to ``_SPECS`` (its card words: ``respira.hub.encoder_cards``).

>>> get_encoder_spec("ast").model_type
'audio-spectrogram-transformer'
>>> get_encoder_spec("respira_cnn").name
'cnn'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn

from .audio_decoding import DEFAULT_SAMPLING_RATE
from .filterbanks import AST_NORMALIZATION, BEATS_NORMALIZATION, EfficientATMel, KaldiFbank, LogMelSpectrogram
from .hub_encoders import FAMILIES as HUB_NAMES
from .hub_encoders import (
    WAVEFORM_MODEL_TYPES,
    build_hub_encoder,
    build_hub_featurizer,
    check_extractor_rate,
    checkpoint_feature_extractor,
)

if TYPE_CHECKING:
    from transformers import PreTrainedConfig, PreTrainedModel

DEFAULT_ENCODER = "cnn"
DEFAULT_ENCODER_MODEL_TYPE = "respira_cnn"


class EncoderTokens(NamedTuple):
    """What ``encode`` returns: tokens, their mask of real signal, the CLS summary (or ``None``), output."""

    tokens: torch.Tensor
    token_mask: torch.Tensor
    summary: torch.Tensor | None
    output: Any


@dataclass(frozen=True)
class EncoderSpec:
    """One encoder family: its names, the featurizer it was pretrained with, how it encodes features into
    :class:`EncoderTokens` and time steps, and its options (pretraining
    rate, default checkpoint, LoRA targets, CLS tokens, AST's sizing, Patch-Mix's patch embeddings)."""

    name: str
    model_type: str
    featurizer: str
    encode: Callable[..., EncoderTokens]
    time_steps: Callable[[nn.Module, EncoderTokens, int], TimeSteps]
    display_name: str
    build_featurizer: Callable[[int, int], nn.Module] | None = None  # (rate, mel bins)
    sampling_rate: int = DEFAULT_SAMPLING_RATE
    fixed_rate: bool = False
    default_checkpoint: str | None = None
    lora_targets: tuple[str, ...] = ()
    cls_tokens: bool = False
    fit_config_to_frames: Callable[[PreTrainedConfig, int], None] | None = None
    fit_encoder_to_frames: Callable[[PreTrainedModel, int], PreTrainedModel] | None = None
    patch_embeddings: Callable[[nn.Module], tuple[nn.Module, int]] | None = None
    # encoders of the Hub (hub_encoders): featurizer from the RespiraConfig; the encoder module of those whose
    # encoder is a part of their checkpoint's model (Whisper's encoder, CLAP's audio tower)
    featurizer_from_config: Callable[[Any], nn.Module] | None = None
    build_encoder: Callable[[PreTrainedConfig], nn.Module] | None = None
    # how many hidden states of one size it returns (embeddings + each layer); None: of several sizes
    hidden_states: Callable[[PreTrainedConfig], int] | None = None


# ---------------------------------------------------------------------------------------------- encoding


def _layer_count(config: PreTrainedConfig) -> int:
    return config.num_hidden_layers + 1  # the embeddings, then each layer's output


def chosen_states(model: nn.Module, output: Any) -> torch.Tensor:
    """The hidden states an encoder's tokens are made of (``RespiraConfig``): its last, hidden state
    ``encoder_layer``, their sum weighted by the softmax of ``model.layer_weights`` (transformers'
    ``use_weighted_layer_sum``), or all of them side by side (``every_layer``)."""
    config = model.config
    if config.encoder_layer is not None:
        return output.hidden_states[config.encoder_layer]
    if config.every_layer:
        return torch.cat(output.hidden_states, dim=-1)
    if config.use_weighted_layer_sum:
        weights = model.layer_weights.softmax(dim=-1).to(output.last_hidden_state.dtype)
        return (torch.stack(output.hidden_states, dim=0) * weights.view(-1, 1, 1, 1)).sum(dim=0)
    return output.last_hidden_state


# Each ``model`` is a RespiraModel, typed as nn.Module: the classifier imports this module.


def _encode_ast(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> EncoderTokens:
    """CLS + distillation tokens, then the patch grid (frequency-major). ``ast_length_policy="pad"``: the
    fbank padded (or cropped) to the checkpoint's ``max_length`` frames, as ASTFeatureExtractor does."""
    max_length = model.config.encoder_config.max_length
    if model.config.ast_length_policy == "pad" and features.shape[1] > max_length:
        features = features[:, :max_length]
    elif model.config.ast_length_policy == "pad" and features.shape[1] < max_length:
        normalization = model.featurizer.transform.normalization
        padding_value = -normalization.mean / (2 * normalization.std)
        features = nn.functional.pad(features, (0, 0, 0, max_length - features.shape[1]), value=padding_value)
    output = model.encoder(input_values=features, **kwargs)
    states = chosen_states(model, output)
    cls_tokens, tokens = states[:, :2], states[:, 2:]
    stride = model.config.encoder_config.time_stride
    _frequency_patches, time_patches = model.encoder.embeddings.get_shape(model.config.encoder_config)
    time_index = torch.arange(tokens.shape[1], device=tokens.device) % time_patches
    valid_frames = frame_mask.sum(dim=1, keepdim=True)
    token_mask = time_index.unsqueeze(0) * stride < valid_frames
    return EncoderTokens(tokens, token_mask, cls_tokens.mean(dim=1), output)


def _encode_beats(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> EncoderTokens:
    """Patches in time-major order, ``num_mel_bins / patch_size`` per time step (BEATs masks padding)."""
    output = model.encoder(input_values=features, attention_mask=frame_mask.long(), **kwargs)
    tokens = output.last_hidden_state
    encoder_config = model.config.encoder_config
    per_step = encoder_config.num_mel_bins // encoder_config.patch_size
    time_index = torch.arange(tokens.shape[1], device=tokens.device) // per_step
    valid_steps = torch.div(frame_mask.sum(dim=1, keepdim=True), encoder_config.patch_size).ceil()
    return EncoderTokens(tokens, time_index.unsqueeze(0) < valid_steps, None, output)


def _feature_map_tokens(features: torch.Tensor, frame_mask: torch.Tensor, output: Any) -> EncoderTokens:
    """A CNN's ``[batch, channels, bins', frames']`` map averaged over frequency: one token per time step."""
    tokens = output.last_hidden_state.mean(dim=2).transpose(1, 2)
    reduction = math.ceil(features.shape[1] / tokens.shape[1])
    valid_steps = torch.div(frame_mask.sum(dim=1, keepdim=True), reduction).ceil()
    time_index = torch.arange(tokens.shape[1], device=tokens.device)
    return EncoderTokens(tokens, time_index.unsqueeze(0) < valid_steps, None, output)


def _encode_cnn(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> EncoderTokens:
    return _feature_map_tokens(features, frame_mask, model.encoder(input_values=features, **kwargs))


def _encode_efficientat(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> EncoderTokens:
    output = model.encoder(input_values=features.transpose(1, 2), **kwargs)  # takes [batch, bins, frames]
    return _feature_map_tokens(features, frame_mask, output)


def _encode_waveform(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> EncoderTokens:
    """Normalised as ``Wav2Vec2FeatureExtractor`` does: over each row's real samples, padding zeroed, with
    an attention mask where the extractor returns one; else over the whole padded row."""
    transform = model.featurizer.transform
    waveforms = features.squeeze(-1)
    mask = frame_mask.to(features.dtype) if transform.return_attention_mask else torch.ones_like(waveforms)
    if transform.do_normalize:
        count = mask.sum(dim=1, keepdim=True)
        mean = (waveforms * mask).sum(dim=1, keepdim=True) / count
        variance = ((waveforms - mean).pow(2) * mask).sum(dim=1, keepdim=True) / count
        waveforms = (waveforms - mean) / torch.sqrt(variance + 1e-7) * mask
    if transform.return_attention_mask:
        kwargs["attention_mask"] = frame_mask.long()
    output = model.encoder(input_values=waveforms, **kwargs)
    tokens = chosen_states(model, output)
    valid = model.encoder._get_feat_extract_output_lengths(frame_mask.sum(dim=1))
    token_mask = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) < valid.unsqueeze(1)
    return EncoderTokens(tokens, token_mask, None, output)


def _encode_whisper(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> EncoderTokens:
    """Whisper's encoder (its second convolution halves the frames); padding frames are masked."""
    output = model.encoder(input_features=features.transpose(1, 2), **kwargs)
    tokens = chosen_states(model, output)
    valid = torch.div(frame_mask.sum(dim=1, keepdim=True), 2, rounding_mode="floor").clamp_min(1)
    token_mask = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) < valid
    return EncoderTokens(tokens, token_mask, None, output)


def _encode_clap(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> EncoderTokens:
    """CLAP's audio tower; its ``[batch, hidden, bins', steps]`` map averaged over frequency (the mean of
    the tokens is its ``pooler_output``). A fusion model gets the mel four times, ``is_longer`` false."""
    input_features = features.unsqueeze(1)
    if model.encoder.config.enable_fusion:
        input_features = input_features.expand(-1, 4, -1, -1)
    is_longer = torch.zeros(features.shape[0], 1, dtype=torch.bool, device=features.device)
    output = model.encoder(input_features=input_features, is_longer=is_longer, **kwargs)
    tokens = output.last_hidden_state.mean(dim=2).transpose(1, 2)
    return EncoderTokens(
        tokens, torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device), None, output
    )


# ---------------------------------------------------------------------------------------------- time steps


class TimeSteps(NamedTuple):
    """An encoder's tokens as time steps (what frame-level outputs read): ``[batch, steps, hidden]``, their
    ``[batch, steps]`` mask of real signal, and step ``i``'s input frames ``[i * stride_frames, i *
    stride_frames + span_frames)``. Each step averages its frequency patches, so the masked mean of the
    steps is the mean pooling of the grid."""

    tokens: torch.Tensor
    mask: torch.Tensor
    stride_frames: float | torch.Tensor
    span_frames: float | torch.Tensor


def feature_map_time_steps(model: nn.Module, encoded: Any, num_frames: int) -> TimeSteps:
    """A CNN's (or CLAP's, or Whisper's: its second convolution halves the frames) tokens are its time
    steps; each spans the input frames its time reduction pools."""
    reduction = num_frames / encoded.tokens.shape[1]
    return TimeSteps(encoded.tokens, encoded.token_mask, reduction, reduction)


def waveform_time_steps(model: nn.Module, encoded: Any, num_frames: int) -> TimeSteps:
    """A waveform model's tokens are its time steps, each its convolutions' stride and receptive field
    (in samples)."""
    config = model.config.encoder_config
    stride = math.prod(config.conv_stride)
    span = 1
    for kernel, step in zip(reversed(config.conv_kernel), reversed(config.conv_stride), strict=True):
        span = (span - 1) * step + kernel
    return TimeSteps(encoded.tokens, encoded.token_mask, float(stride), float(span))


def beats_time_steps(model: nn.Module, encoded: Any, num_frames: int) -> TimeSteps:
    """BEATs' time-major patches: the ``num_mel_bins / patch_size`` patches of each step averaged."""
    config = model.config.encoder_config
    per_step = config.num_mel_bins // config.patch_size
    batch, count, hidden = encoded.tokens.shape
    tokens = encoded.tokens.reshape(batch, count // per_step, per_step, hidden).mean(dim=2)
    mask = encoded.token_mask[:, ::per_step]
    return TimeSteps(tokens, mask, float(config.patch_size), float(config.patch_size))


def ast_time_steps(model: nn.Module, encoded: Any, num_frames: int) -> TimeSteps:
    """AST's frequency-major patch grid: each time column's frequency patches averaged."""
    config = model.config.encoder_config
    _frequency_patches, time_patches = model.encoder.embeddings.get_shape(config)
    batch, count, hidden = encoded.tokens.shape
    tokens = encoded.tokens.reshape(batch, count // time_patches, time_patches, hidden).mean(dim=1)
    mask = encoded.token_mask[:, :time_patches]
    return TimeSteps(tokens, mask, float(config.time_stride), float(config.patch_size))


def step_centres(
    steps: TimeSteps, frame_hop_seconds: float, first_frame_centre_seconds: float
) -> torch.Tensor:
    """``[steps]`` seconds from the input's start to the centre of each step's middle frame."""
    index = torch.arange(steps.tokens.shape[1], device=steps.tokens.device, dtype=torch.float32)
    middle = index * steps.stride_frames + (steps.span_frames - 1) / 2
    return middle * frame_hop_seconds + first_frame_centre_seconds


# ---------------------------------------------------------------------------------------------- AST extras


def _fit_ast_config(encoder_config: PreTrainedConfig, frames: int) -> None:
    # a Python int: from_pretrained builds the model under a meta-device context
    encoder_config.max_length = int(frames)


def _fit_ast_encoder(encoder: PreTrainedModel, frames: int) -> PreTrainedModel:
    """A pretrained AST copied for ``frames`` input frames (position embeddings cropped or interpolated)."""
    import copy

    from transformers import ASTModel

    config = copy.deepcopy(encoder.config)
    frequency_patches, time_patches = encoder.embeddings.get_shape(config)
    config.max_length = frames
    new_frequency_patches, new_time_patches = encoder.embeddings.get_shape(config)
    if new_time_patches < 1:
        raise ValueError(f"{frames} frames are too few for AST's {config.patch_size}-frame patches")
    positions = encoder.embeddings.position_embeddings.detach()
    special, grid = positions[:, :2], positions[:, 2:]
    hidden = grid.shape[-1]
    grid = grid.reshape(1, frequency_patches, time_patches, hidden).permute(0, 3, 1, 2)
    if new_time_patches <= time_patches:
        start = time_patches // 2 - new_time_patches // 2
        grid = grid[..., start : start + new_time_patches]
    else:
        grid = nn.functional.interpolate(grid, size=(frequency_patches, new_time_patches), mode="bilinear")
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_frequency_patches * new_time_patches, hidden)
    adapted = ASTModel(config)
    state = encoder.state_dict()
    state["embeddings.position_embeddings"] = torch.cat([special, grid], dim=1)
    adapted.load_state_dict(state)
    return adapted


def _ast_patch_embeddings(encoder: nn.Module) -> tuple[nn.Module, int]:
    embeddings = encoder.embeddings
    return embeddings.patch_embeddings, embeddings.position_embeddings.shape[1] - 2  # minus CLS, distillation


# ---------------------------------------------------------------------------------------------- Hub encoders


def _hub_spec(model_type: str, featurizer: str, **options: Any) -> EncoderSpec:
    """An encoder of the Hub's :class:`EncoderSpec`."""
    return EncoderSpec(
        name="clap" if model_type == "clap_audio_model" else model_type,
        model_type=model_type,
        featurizer=featurizer,
        display_name=HUB_NAMES[model_type],
        featurizer_from_config=build_hub_featurizer,
        **options,
    )


# ---------------------------------------------------------------------------------------------- the registry

_ATTENTION_PROJECTIONS = ("q_proj", "v_proj")  # query and value linears of transformers 5's AST and our BEATs

_SPECS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec(
            name="cnn",
            model_type="respira_cnn",
            featurizer="log_mel",
            build_featurizer=LogMelSpectrogram,
            encode=_encode_cnn,
            time_steps=feature_map_time_steps,
            display_name="CNN",
        ),
        EncoderSpec(
            name="ast",
            model_type="audio-spectrogram-transformer",
            featurizer="ast_fbank",
            build_featurizer=partial(KaldiFbank, window="hanning", normalization=AST_NORMALIZATION),
            encode=_encode_ast,
            time_steps=ast_time_steps,
            display_name="AST",
            default_checkpoint="MIT/ast-finetuned-audioset-10-10-0.4593",
            lora_targets=_ATTENTION_PROJECTIONS,
            cls_tokens=True,
            fit_config_to_frames=_fit_ast_config,
            fit_encoder_to_frames=_fit_ast_encoder,
            patch_embeddings=_ast_patch_embeddings,
            hidden_states=_layer_count,
        ),
        EncoderSpec(
            name="beats",
            model_type="beats",
            featurizer="beats_fbank",
            build_featurizer=partial(KaldiFbank, window="povey", normalization=BEATS_NORMALIZATION),
            encode=_encode_beats,
            time_steps=beats_time_steps,
            display_name="BEATs",
            lora_targets=_ATTENTION_PROJECTIONS,
        ),
        EncoderSpec(
            name="efficientat",
            model_type="efficientat",
            featurizer="efficientat_mel",
            build_featurizer=lambda rate, bins: EfficientATMel(),  # its own 32 kHz, 128 bins
            encode=_encode_efficientat,
            time_steps=feature_map_time_steps,
            display_name="EfficientAT",
            sampling_rate=32000,
            fixed_rate=True,
        ),
        *(
            _hub_spec(
                model_type,
                "waveform",
                encode=_encode_waveform,
                time_steps=waveform_time_steps,
                lora_targets=_ATTENTION_PROJECTIONS,
                hidden_states=_layer_count,
            )
            for model_type in WAVEFORM_MODEL_TYPES
        ),
        _hub_spec(
            "whisper",
            "whisper_log_mel",
            encode=_encode_whisper,
            time_steps=feature_map_time_steps,
            build_encoder=build_hub_encoder,
            lora_targets=_ATTENTION_PROJECTIONS,
            hidden_states=lambda config: config.encoder_layers + 1,
        ),
        _hub_spec(
            "clap_audio_model",  # a CLAP checkpoint's "clap" finds it by name
            "clap_log_mel",
            encode=_encode_clap,
            time_steps=feature_map_time_steps,
            build_encoder=build_hub_encoder,
            sampling_rate=48000,
            lora_targets=("query", "value"),
        ),
    )
}


def encoder_names() -> tuple[str, ...]:
    """Recipe names of the encoder families."""
    return tuple(_SPECS)


def encoder_specs() -> tuple[EncoderSpec, ...]:
    """Every registered :class:`EncoderSpec`."""
    return tuple(_SPECS.values())


def featurizer_names() -> tuple[str, ...]:
    """The featurizers a ``RespiraConfig`` may name: each family's own."""
    return tuple(dict.fromkeys(spec.featurizer for spec in _SPECS.values()))


def find_encoder_spec(name_or_model_type: str | None) -> EncoderSpec | None:
    """The spec of a recipe name or encoder ``model_type``; ``None`` when there is none."""
    if name_or_model_type in _SPECS:
        return _SPECS[name_or_model_type]
    return next((spec for spec in _SPECS.values() if spec.model_type == name_or_model_type), None)


def get_encoder_spec(name_or_model_type: str) -> EncoderSpec:
    """The spec of a recipe name (``"ast"``) or an encoder's ``model_type``."""
    spec = find_encoder_spec(name_or_model_type)
    if spec is None:
        raise ValueError(
            f"unknown encoder {name_or_model_type!r}: expected one of {', '.join(_SPECS)} "
            f"(or their model types {', '.join(spec.model_type for spec in _SPECS.values())})"
        )
    return spec


def check_encoder_checkpoint(
    source: str, sampling_rate: int | None = None, *, config: PreTrainedConfig | None = None
) -> dict[str, Any] | None:
    """One line naming a checkpoint respira cannot take: not an audio encoder, or a feature extractor respira
    cannot reproduce (an encoder of the Hub's; an AST's where saved: another normalisation than AudioSet's)
    or of another rate than ``sampling_rate``. Reads configs only; returns an encoder of the Hub's extractor
    settings (:func:`.hub_encoders.feature_extractor_settings`), ``None`` for the other families."""
    from transformers import AutoConfig

    config = config if config is not None else AutoConfig.from_pretrained(source)
    spec = find_encoder_spec(config.model_type)  # by name too: a CLAP checkpoint's "clap"
    if spec is None and not hasattr(config, "encoder_config"):  # not a respira run either
        raise ValueError(
            f"{source} is a {config.model_type} model, not an audio encoder respira takes: "
            f"expected one of {', '.join(sorted({s.model_type for s in _SPECS.values()}))}"
        )
    settings = rate = None
    if spec is not None and spec.featurizer_from_config is not None:
        settings = checkpoint_feature_extractor(source, spec.model_type)
        rate = settings["sampling_rate"]
    elif spec is not None and spec.name == "ast" and sampling_rate is not None:
        rate = _ast_extractor_rate(source)
    check_extractor_rate(source, rate, sampling_rate)
    return settings


def checkpoint_sampling_rate(source: str, spec: EncoderSpec) -> int:
    """The rate a checkpoint of ``spec``'s family takes unless told: an AST's saved extractor's (after
    :func:`_ast_extractor_rate`'s check), else the family's."""
    if spec.name == "ast":
        return _ast_extractor_rate(source) or spec.sampling_rate
    return spec.sampling_rate


def _ast_extractor_rate(source: str) -> int | None:
    """The rate of an AST checkpoint's own ``ASTFeatureExtractor`` (``None``: it saved none), after one line
    naming it when its normalisation is not AudioSet's, which respira's fbank uses."""
    from transformers import AutoFeatureExtractor

    try:
        extractor = AutoFeatureExtractor.from_pretrained(source)
    except (OSError, ValueError):
        return None  # no extractor saved: respira's AudioSet fbank
    normalization = (getattr(extractor, "mean", None), getattr(extractor, "std", None))
    expected = (AST_NORMALIZATION.mean, AST_NORMALIZATION.std)
    if not getattr(extractor, "do_normalize", True) or not all(
        value is None or math.isclose(value, target, rel_tol=1e-6)
        for value, target in zip(normalization, expected, strict=True)
    ):
        raise ValueError(
            f"{source}: its feature extractor normalises the fbank by mean {normalization[0]}, std "
            f"{normalization[1]}; respira's AST fbank uses AudioSet's ({expected[0]}, {expected[1]})"
        )
    return getattr(extractor, "sampling_rate", None)

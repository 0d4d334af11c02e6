"""A tiny-config tester that every encoder family runs inside ``RespiraForAudioClassification``.

In the spirit of transformers' ``ModelTesterMixin``: each family of the encoder registry
(:mod:`respira.models.respira.encoders`) contributes one :class:`EncoderCase` (a tiny encoder config, the
cycle length it runs on and how many hidden states its encoder returns), and
``test_encoder_families.py`` runs the same checks on all of them: forward shapes,
``save_pretrained``/``from_pretrained`` round trip, backward with the encoder trainable and frozen,
and ``output_hidden_states``. A new encoder family adds its case here (the tests fail until it does).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from torch import nn
from transformers import ASTConfig, PreTrainedConfig

from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.respira.configuration_beats import BeatsConfig
from respira.models.respira.configuration_cnn import RespiraCNNConfig
from respira.models.respira.configuration_efficientat import MOBILENET_V3_LARGE_SETTING, EfficientATConfig
from respira.models.respira.encoders import EncoderSpec, get_encoder_spec
from respira.models.respira.hub_encoders import WAVEFORM_MODEL_TYPES, feature_extractor_settings

RATE = 16000
BATCH = 3
WAVE_SECONDS = 1.5


@dataclass(frozen=True)
class EncoderCase:
    """One encoder family as the tester sees it."""

    name: str
    """The family's name in the encoder registry (its recipe name)."""
    encoder_config: Callable[[], PreTrainedConfig]
    """Builds the tiny encoder config."""
    num_hidden_states: Callable[[nn.Module], int]
    """How many hidden states the encoder returns with ``output_hidden_states=True``."""
    target_seconds: float = 1.0
    config_kwargs: dict[str, Any] = field(default_factory=dict)
    """Further ``RespiraConfig`` options the family needs."""
    unreached: tuple[str, ...] = ()
    """Encoder parameters no gradient reaches (Whisper's fixed positions, a model's own masking vector)."""

    @property
    def spec(self) -> EncoderSpec:
        return get_encoder_spec(self.name)

    def config(self, **kwargs: Any) -> RespiraConfig:
        """A ``RespiraConfig`` around the tiny encoder (``kwargs`` override the case's options)."""
        options = {"target_seconds": self.target_seconds, **self.config_kwargs, **kwargs}
        return RespiraConfig(encoder_config=self.encoder_config().to_dict(), **options)

    def model(self, seed: int = 0, **kwargs: Any) -> RespiraForAudioClassification:
        """A seeded classifier in eval mode, its batch-norm statistics moved off their initial values."""
        torch.manual_seed(seed)
        model = RespiraForAudioClassification(self.config(**kwargs))
        randomise_initial_constants(model)
        with torch.no_grad():
            model.train()(waveforms(seed=seed + 100))
        return model.eval()


def randomise_initial_constants(model: nn.Module) -> None:
    """transformers initialises some parameters to constants (AST's CLS/distillation tokens and
    positions are zeros; layer- and batch-norm weights are ones): trained checkpoints hold distinct
    values, and a round trip or an indexing bug could hide behind constants, so perturb them."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "token" in name or "position" in name or "norm" in name:
                noise = torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype)
                parameter.add_(0.1 * noise)


def waveforms(seed: int = 0, batch: int = BATCH, seconds: float = WAVE_SECONDS) -> torch.Tensor:
    """``[batch, samples]`` at 16 kHz: a different tone per row plus noise."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * RATE)) / RATE
    tones = torch.stack([0.3 * torch.sin(2 * math.pi * (200.0 + 500.0 * row) * t) for row in range(batch)])
    return tones + 0.05 * torch.randn(batch, t.numel(), generator=generator)


def _tiny_cnn() -> RespiraCNNConfig:
    return RespiraCNNConfig(channels=[4, 8, 8, 16])


def _tiny_ast() -> ASTConfig:
    return ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_length=256,  # the "checkpoint" length the fbank is padded to (ast_length_policy="pad")
    )


def _tiny_beats() -> BeatsConfig:
    return BeatsConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        patch_embedding_dim=24,
        conv_pos=8,
        conv_pos_groups=4,
        num_buckets=32,
        max_distance=64,
        hidden_dropout=0.0,
        attention_dropout=0.0,
    )


def _tiny_efficientat() -> EfficientATConfig:
    # the first four MobileNetV3 blocks (two down-sampling, one with squeeze-and-excitation)
    return EfficientATConfig(inverted_residual_setting=[list(row) for row in MOBILENET_V3_LARGE_SETTING[:4]])


_WAVEFORM_CLASSES = {  # model type → transformers config class
    "wav2vec2": "Wav2Vec2Config",
    "hubert": "HubertConfig",
    "wavlm": "WavLMConfig",
    "data2vec-audio": "Data2VecAudioConfig",
    "unispeech": "UniSpeechConfig",
    "unispeech-sat": "UniSpeechSatConfig",
    "sew": "SEWConfig",
}


def tiny_waveform_config(model_type: str) -> PreTrainedConfig:
    """Two layers of 32 over two convolutions (stride 20 samples); no dropout or SpecAugment of their own."""
    options: dict[str, Any] = {
        **{"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37},
        **{"conv_dim": (16, 16), "conv_stride": (5, 4), "conv_kernel": (10, 8), "vocab_size": 12},
        **{"num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2, "mask_time_prob": 0.0},
        **{"hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "layerdrop": 0.0},
        "feat_proj_dropout": 0.0,
    }
    if model_type == "data2vec-audio":
        options.update(num_conv_pos_embeddings=5, conv_pos_kernel_size=5)
        del options["num_conv_pos_embedding_groups"]
    if model_type == "sew":
        options["squeeze_factor"] = 2
    return getattr(transformers, _WAVEFORM_CLASSES[model_type])(**options)


def tiny_whisper_config() -> PreTrainedConfig:
    """A one-second Whisper (50 positions, 16 mel bins)."""
    return transformers.WhisperConfig(
        **{"d_model": 32, "encoder_layers": 2, "decoder_layers": 1, "encoder_attention_heads": 2},
        **{"decoder_attention_heads": 2, "encoder_ffn_dim": 37, "decoder_ffn_dim": 37, "num_mel_bins": 16},
        **{"max_source_positions": 50, "max_target_positions": 20, "vocab_size": 100, "pad_token_id": 1},
        **{"bos_token_id": 2, "eos_token_id": 2, "decoder_start_token_id": 2},
        **{"dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0},
    )


def tiny_clap_audio_options() -> dict[str, Any]:
    """A two-stage HTSAT on 16 mel bins (64 x 4 frames)."""
    return {
        **{"spec_size": 64, "window_size": 4, "num_mel_bins": 16, "patch_embeds_hidden_size": 16},
        **{"hidden_size": 32, "depths": [1, 1], "num_attention_heads": [2, 2], "enable_fusion": False},
        **{"projection_dim": 16, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
        "drop_path_rate": 0.0,
    }


def tiny_extractor(model_type: str) -> Any:
    """The tiny case's feature extractor (16 kHz, one second for Whisper and CLAP)."""
    if model_type == "whisper":
        return transformers.WhisperFeatureExtractor(feature_size=16, chunk_length=1)
    if model_type == "clap_audio_model":
        return transformers.ClapFeatureExtractor(
            **{"feature_size": 16, "sampling_rate": RATE, "hop_length": 160, "max_length_s": 1},
            **{"fft_window_size": 400, "frequency_max": 7000, "truncation": "rand_trunc"},
        )
    return transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)


def _extractor_options(model_type: str) -> dict[str, Any]:
    return {
        "encoder_feature_extractor": feature_extractor_settings(tiny_extractor(model_type), model_type, "")
    }


CASES: dict[str, EncoderCase] = {
    case.name: case
    for case in (
        EncoderCase("cnn", _tiny_cnn, lambda encoder: len(encoder.config.channels)),
        EncoderCase(
            "ast",
            _tiny_ast,
            lambda encoder: encoder.config.num_hidden_layers + 1,  # embeddings + every layer
            target_seconds=2.0,
        ),
        EncoderCase("beats", _tiny_beats, lambda encoder: encoder.config.num_hidden_layers + 1),
        EncoderCase("efficientat", _tiny_efficientat, lambda encoder: len(encoder.features)),
        *(
            EncoderCase(
                model_type,
                lambda model_type=model_type: tiny_waveform_config(model_type),
                lambda encoder: encoder.config.num_hidden_layers + 1,
                config_kwargs=_extractor_options(model_type),
                unreached=("respira.encoder.masked_spec_embed",) if model_type == "unispeech-sat" else (),
            )
            for model_type in WAVEFORM_MODEL_TYPES
        ),
        EncoderCase(
            "whisper",
            tiny_whisper_config,
            lambda encoder: encoder.config.encoder_layers + 1,
            config_kwargs=_extractor_options("whisper"),
            unreached=("respira.encoder.embed_positions.weight",),
        ),
        EncoderCase(
            "clap",
            lambda: transformers.ClapAudioConfig(**tiny_clap_audio_options()),
            lambda encoder: len(encoder.config.depths) + 1,
            config_kwargs=_extractor_options("clap_audio_model"),
        ),
    )
}
"""Tiny cases by encoder family name."""


class InputRecorder:
    """A forward pre-hook that keeps the keyword arguments a module was last called with."""

    def __init__(self, module: nn.Module) -> None:
        self.kwargs: dict[str, Any] = {}
        self.handle = module.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, _module: nn.Module, args: tuple, kwargs: dict) -> None:
        assert not args, "respira calls its encoder with keyword arguments"
        self.kwargs = {key: value for key, value in kwargs.items() if key != "output_hidden_states"}

    def remove(self) -> None:
        self.handle.remove()


def gradient_report(model: nn.Module, prefix: str) -> tuple[list[str], list[str]]:
    """Parameter names under ``prefix``: (those with a non-zero gradient, those without one)."""
    reached, missed = [], []
    for name, parameter in model.named_parameters():
        if name.startswith(prefix):
            has_gradient = parameter.grad is not None and bool(parameter.grad.abs().sum() > 0)
            (reached if has_gradient else missed).append(name)
    return reached, missed


def trained_copy(model: RespiraForAudioClassification) -> RespiraForAudioClassification:
    """A copy in train mode with no gradients yet (the shared fixture stays untouched)."""
    twin = copy.deepcopy(model).train()
    twin.zero_grad(set_to_none=True)
    return twin


def saved_encoder(folder: Path) -> nn.Module:
    """The encoder ``folder`` saved, loaded by the class that saved it (its config's ``architectures``): of a
    whole Whisper or CLAP model its encoder part, of a classifier its base model."""
    config = transformers.AutoConfig.from_pretrained(folder)
    whole = getattr(transformers, config.architectures[0]).from_pretrained(folder)
    if hasattr(whole, "get_encoder") and whole.config.model_type == "whisper":
        return whole.get_encoder()
    return getattr(whole, "audio_model", whole.base_model)


def assert_saved_weights(encoder: nn.Module, folder: Path) -> None:
    """Every tensor of ``encoder`` is the one ``folder`` saved (a random tower of the same shapes fails, a
    default-config one too)."""
    saved, own = saved_encoder(folder).state_dict(), encoder.state_dict()
    assert own.keys() == saved.keys(), sorted(own.keys() ^ saved.keys())[:3]
    for key, value in saved.items():
        torch.testing.assert_close(own[key], value, rtol=0, atol=0, msg=key)

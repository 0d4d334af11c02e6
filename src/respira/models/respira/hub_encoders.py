"""Encoders of the Hub loaded with transformers' Auto classes, and their own feature extractors in torch.

Waveform models (wav2vec 2.0, HuBERT, WavLM, data2vec-audio, UniSpeech(-SAT), SEW) take the waveform,
normalised as their ``Wav2Vec2FeatureExtractor`` does; Whisper's encoder takes ``WhisperFeatureExtractor``'s
log-mel of the window zero-padded to its ``chunk_length``; CLAP's audio tower takes ``ClapFeatureExtractor``'s
log-mel of the window repeated up to ``max_length_s``. Hidden states become one token per time step; the
padding Whisper adds is masked out of pooling. ``encoders._SPECS`` registers one family per model type.

The featurizers are ``[batch, samples] → [batch, frames, bins]`` modules (a waveform is ``bins = 1``);
:func:`feature_extractor_settings` is what a :class:`RespiraConfig` keeps of the checkpoint's extractor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.audio_utils import mel_filter_bank

from .derived_buffers import DerivedBuffers

WAVEFORM_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "sew")
WHISPER_MODEL_TYPE = "whisper"
CLAP_MODEL_TYPE = "clap_audio_model"  # the audio tower's config; a CLAP checkpoint's config.json says "clap"


def _bibtex(key: str, title: str, author: str, venue: str, year: int) -> str:
    kind, field = ("article", "journal") if venue.startswith("IEEE") else ("inproceedings", "booktitle")
    return (
        f"@{kind}{{{key},\n  title     = {{{title}}},\n  author    = {{{author}}},\n"
        f"  {field:<9} = {{{venue}}},\n  year      = {{{year}}}\n}}"
    )


FAMILIES: dict[str, tuple[str, str]] = {  # model type → (display name, BibTeX)
    "wav2vec2": ("wav2vec 2.0", _bibtex(
        "baevski2020wav2vec",
        "wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations",
        "Baevski, Alexei and Zhou, Henry and Mohamed, Abdelrahman and Auli, Michael",
        "Advances in Neural Information Processing Systems (NeurIPS)", 2020)),
    "hubert": ("HuBERT", _bibtex(
        "hsu2021hubert",
        "HuBERT: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden Units",
        "Hsu, Wei-Ning and others", "IEEE/ACM Transactions on Audio, Speech, and Language Processing", 2021)),
    "wavlm": ("WavLM", _bibtex(
        "chen2022wavlm", "WavLM: Large-Scale Self-Supervised Pre-Training for Full Stack Speech Processing",
        "Chen, Sanyuan and others", "IEEE Journal of Selected Topics in Signal Processing", 2022)),
    "data2vec-audio": ("data2vec-audio", _bibtex(
        "baevski2022data2vec",
        "data2vec: A General Framework for Self-supervised Learning in Speech, Vision and Language",
        "Baevski, Alexei and others", "International Conference on Machine Learning (ICML)", 2022)),
    "unispeech": ("UniSpeech", _bibtex(
        "wang2021unispeech",
        "UniSpeech: Unified Speech Representation Learning with Labeled and Unlabeled Data",
        "Wang, Chengyi and others", "International Conference on Machine Learning (ICML)", 2021)),
    "unispeech-sat": ("UniSpeech-SAT", _bibtex(
        "chen2022unispeechsat",
        "UniSpeech-SAT: Universal Speech Representation Learning with Speaker Aware Pre-Training",
        "Chen, Sanyuan and others", "ICASSP", 2022)),
    "sew": ("SEW", _bibtex(
        "wu2022sew", "Performance-Efficiency Trade-offs in Unsupervised Pre-training for Speech Recognition",
        "Wu, Felix and others", "ICASSP", 2022)),
    "whisper": ("Whisper", _bibtex(
        "radford2023whisper", "Robust Speech Recognition via Large-Scale Weak Supervision",
        "Radford, Alec and others", "International Conference on Machine Learning (ICML)", 2023)),
    "clap_audio_model": ("CLAP", _bibtex(
        "wu2023clap",
        "Large-Scale Contrastive Language-Audio Pretraining with Feature Fusion and Keyword-to-Caption "
        "Augmentation", "Wu, Yusong and others", "ICASSP", 2023)),
}  # fmt: skip
"""The display name (model cards) and citation of each family."""

_EXTRACTORS = {  # model type → the feature extractor class whose settings the featurizer reproduces
    **dict.fromkeys(WAVEFORM_MODEL_TYPES, "Wav2Vec2FeatureExtractor"),
    WHISPER_MODEL_TYPE: "WhisperFeatureExtractor",
    CLAP_MODEL_TYPE: "ClapFeatureExtractor",
}
_KEPT = (  # the extractor settings the featurizers read
    *("sampling_rate", "feature_size", "do_normalize", "return_attention_mask", "n_fft", "hop_length"),
    *("chunk_length", "fft_window_size", "max_length_s", "frequency_min", "frequency_max", "truncation"),
    "padding",
)


def feature_extractor_settings(extractor: Any, model_type: str, source: str) -> dict[str, Any]:
    """What a config keeps of ``extractor`` (a checkpoint's own), after checking it is the one expected."""
    expected = _EXTRACTORS[model_type]
    if type(extractor).__name__ != expected:
        raise ValueError(
            f"{source}: its feature extractor is a {type(extractor).__name__}; respira reproduces the "
            f"{expected} of {model_type} models only"
        )
    settings = {key: getattr(extractor, key) for key in _KEPT if hasattr(extractor, key)}
    if model_type in WAVEFORM_MODEL_TYPES and settings.get("feature_size", 1) != 1:
        raise ValueError(
            f"{source}: its feature extractor takes {settings['feature_size']} channels per sample; "
            "respira feeds mono waveforms (feature_size 1)"
        )
    return settings


def checkpoint_feature_extractor(source: str, model_type: str) -> dict[str, Any]:
    """:func:`feature_extractor_settings` of a checkpoint's own extractor (``AutoFeatureExtractor``)."""
    from transformers import AutoFeatureExtractor

    try:
        extractor = AutoFeatureExtractor.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ValueError(f"{source}: no feature extractor to read ({str(error).splitlines()[0]})") from None
    return feature_extractor_settings(extractor, model_type, source)


def default_settings(model_type: str, encoder_config: Any) -> dict[str, Any]:
    """The settings of the family's extractor built with its defaults (a randomly initialised encoder)."""
    import transformers

    extractor_class = getattr(transformers, _EXTRACTORS[model_type])
    bins = getattr(encoder_config, "num_mel_bins", None)
    extractor = extractor_class() if bins is None else extractor_class(feature_size=bins)
    return feature_extractor_settings(extractor, model_type, model_type)


def _settings(config: Any) -> dict[str, Any]:
    model_type = config.encoder_config.model_type
    settings = config.encoder_feature_extractor or default_settings(model_type, config.encoder_config)
    if settings["sampling_rate"] != config.sampling_rate:
        raise ValueError(
            f"the {model_type} encoder's feature extractor takes {settings['sampling_rate']} Hz audio, not "
            f"sampling_rate={config.sampling_rate}: set sampling_rate to {settings['sampling_rate']}"
        )
    bins = getattr(config.encoder_config, "num_mel_bins", None)
    if bins is not None and settings["feature_size"] != bins:
        raise ValueError(
            f"the {model_type} encoder takes {bins} mel bins but its feature extractor makes "
            f"{settings['feature_size']}"
        )
    if config.spec_augment and model_type in WAVEFORM_MODEL_TYPES:
        raise ValueError(f"spec_augment masks spectrogram bins; the {model_type} encoder takes waveforms")
    return settings


# ---------------------------------------------------------------------------------------------- featurizers


class WaveformFeatures(nn.Module):
    """``[batch, samples]`` → ``[batch, samples, 1]``: the waveform itself; the encoder normalises it (as
    ``Wav2Vec2FeatureExtractor``: ``do_normalize``, ``return_attention_mask``)."""

    def __init__(self, sampling_rate: int, do_normalize: bool, return_attention_mask: bool) -> None:
        super().__init__()
        self.sampling_rate = sampling_rate
        self.do_normalize, self.return_attention_mask = do_normalize, return_attention_mask

    @property
    def frame_timing(self) -> tuple[float, float]:
        return 1.0 / self.sampling_rate, 0.0

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        return num_samples

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return waveforms.unsqueeze(-1)


class _LogMel(DerivedBuffers):
    """A centred, Hann-windowed STFT's power through mel filters; each subclass pads and scales its way."""

    def __init__(
        self, sampling_rate: int, n_mels: int, n_fft: int, hop_length: int, samples: int, **options: Any
    ) -> None:
        super().__init__()
        self.sampling_rate, self.n_mels, self.n_fft, self.hop_length = (
            sampling_rate,
            n_mels,
            n_fft,
            hop_length,
        )
        self.samples = samples  # what the extractor pads (or repeats) every waveform to
        for name, value in options.items():  # a subclass's settings, read by its banks
            setattr(self, name, value)
        self.register_derived_buffers()

    @property
    def frame_timing(self) -> tuple[float, float]:
        return self.hop_length / self.sampling_rate, 0.0

    def _banks(self) -> torch.Tensor:
        raise NotImplementedError

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        return {"window": torch.hann_window(self.n_fft), "mel_banks": self._banks()}

    def power_mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``[batch, frames, n_mels]`` mel power (every frame of the centred STFT)."""
        spectrum = torch.stft(
            waveforms, self.n_fft, self.hop_length, window=self.window, center=True, return_complex=True
        )
        return spectrum.abs().pow(2).transpose(1, 2) @ self.mel_banks


class WhisperLogMel(_LogMel):
    """``WhisperFeatureExtractor``'s log-mel: the window zero-padded to ``chunk_length`` seconds."""

    def _banks(self) -> torch.Tensor:
        banks = mel_filter_bank(
            num_frequency_bins=1 + self.n_fft // 2,
            num_mel_filters=self.n_mels,
            min_frequency=0.0,
            max_frequency=8000.0,
            sampling_rate=self.sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        return torch.from_numpy(banks).float()

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        return num_samples // self.hop_length + 1

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        waveforms = nn.functional.pad(waveforms.float(), (0, self.samples - waveforms.shape[1]))
        log_mel = self.power_mel(waveforms)[:, :-1].clamp_min(1e-10).log10()
        top = log_mel.amax(dim=(1, 2), keepdim=True)
        return (torch.maximum(log_mel, top - 8.0) + 4.0) / 4.0


class ClapLogMel(_LogMel):
    """``ClapFeatureExtractor``'s log-mel (dB) of the window repeated, then zero-padded, to ``max_length_s``
    (its ``repeatpad``; ``pad``: zero-padded only); HTK banks for ``truncation="fusion"``, else Slaney."""

    def _banks(self) -> torch.Tensor:
        scale = (
            {"norm": None, "mel_scale": "htk"}
            if self.fusion_banks
            else {"norm": "slaney", "mel_scale": "slaney"}
        )
        banks = mel_filter_bank(
            num_frequency_bins=1 + self.n_fft // 2,
            num_mel_filters=self.n_mels,
            min_frequency=self.f_min,
            max_frequency=self.f_max,
            sampling_rate=self.sampling_rate,
            **scale,
        )
        return torch.from_numpy(banks).float()

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        return self.samples // self.hop_length + 1 + 0 * num_samples  # the repeated window fills every frame

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        waveforms = waveforms.float()
        copies = self.samples // waveforms.shape[1] if self.repeat else 1
        waveforms = waveforms.repeat(1, max(copies, 1))
        waveforms = nn.functional.pad(waveforms, (0, self.samples - waveforms.shape[1]))
        return 10.0 * self.power_mel(waveforms).clamp_min(1e-10).log10()


def build_waveform_featurizer(config: Any) -> nn.Module:
    settings = _settings(config)
    return WaveformFeatures(
        config.sampling_rate,
        settings.get("do_normalize", False),
        settings.get("return_attention_mask", False),
    )


def build_whisper_featurizer(config: Any) -> nn.Module:
    settings = _settings(config)
    samples = settings["chunk_length"] * settings["sampling_rate"]
    if config.target_samples > samples:
        raise ValueError(
            f"target_seconds={config.target_seconds} is longer than the {settings['chunk_length']} s "
            "Whisper's encoder takes"
        )
    return WhisperLogMel(
        settings["sampling_rate"],
        settings["feature_size"],
        settings["n_fft"],
        settings["hop_length"],
        samples,
    )


def build_clap_featurizer(config: Any) -> nn.Module:
    settings = _settings(config)
    samples = settings["max_length_s"] * settings["sampling_rate"]
    if config.target_samples > samples:
        raise ValueError(
            f"target_seconds={config.target_seconds} is longer than the {settings['max_length_s']} s CLAP's "
            "audio encoder takes"
        )
    return ClapLogMel(
        settings["sampling_rate"],
        settings["feature_size"],
        settings["fft_window_size"],
        settings["hop_length"],
        samples,
        f_min=settings["frequency_min"],
        f_max=settings["frequency_max"],
        fusion_banks=settings["truncation"] == "fusion",
        repeat=settings["padding"] in ("repeatpad", "repeat"),
    )


# ---------------------------------------------------------------------------------------------- encoders


def build_whisper_encoder(config: Any) -> nn.Module:
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    return WhisperEncoder(config)


def build_clap_encoder(config: Any) -> nn.Module:
    from transformers import ClapAudioModel

    return ClapAudioModel(config)


def load_whisper_encoder(source: str) -> nn.Module:
    """The encoder of a Whisper checkpoint (``WhisperModel.get_encoder()``)."""
    from transformers import WhisperModel

    return WhisperModel.from_pretrained(source).get_encoder()


def load_clap_encoder(source: str) -> nn.Module:
    """The audio tower of a CLAP checkpoint (``ClapModel.audio_model``)."""
    from transformers import ClapModel

    return ClapModel.from_pretrained(source).audio_model


# ---------------------------------------------------------------------------------------------- encoding


def encode_waveform(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor, None, Any]:
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
    tokens = output.last_hidden_state
    valid = model.encoder._get_feat_extract_output_lengths(frame_mask.sum(dim=1))
    token_mask = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) < valid.unsqueeze(1)
    return tokens, token_mask, None, output


def encode_whisper(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor, None, Any]:
    """Whisper's encoder (its second convolution halves the frames); padding frames are masked."""
    output = model.encoder(input_features=features.transpose(1, 2), **kwargs)
    tokens = output.last_hidden_state
    valid = torch.div(frame_mask.sum(dim=1, keepdim=True), 2, rounding_mode="floor").clamp_min(1)
    return tokens, torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) < valid, None, output


def encode_clap(
    model: nn.Module, features: torch.Tensor, frame_mask: torch.Tensor, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor, None, Any]:
    """CLAP's audio tower; its ``[batch, hidden, bins', steps]`` map averaged over frequency (the mean of
    the tokens is its ``pooler_output``). A fusion model gets the mel four times, ``is_longer`` false."""
    input_features = features.unsqueeze(1)
    if model.encoder.config.enable_fusion:
        input_features = input_features.expand(-1, 4, -1, -1)
    is_longer = torch.zeros(features.shape[0], 1, dtype=torch.bool, device=features.device)
    output = model.encoder(input_features=input_features, is_longer=is_longer, **kwargs)
    tokens = output.last_hidden_state.mean(dim=2).transpose(1, 2)
    return tokens, torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device), None, output


def time_step_sizes(model: nn.Module, tokens: torch.Tensor, num_frames: int) -> tuple[float, float]:
    """(stride, span) of a token in input frames (samples, for a waveform model)."""
    model_type = model.config.encoder_config.model_type
    if model_type in WAVEFORM_MODEL_TYPES:
        config = model.config.encoder_config
        stride = 1
        for step in config.conv_stride:
            stride *= step
        span = 1
        for kernel, step in zip(reversed(config.conv_kernel), reversed(config.conv_stride), strict=True):
            span = (span - 1) * step + kernel
        return float(stride), float(span)
    if model_type == WHISPER_MODEL_TYPE:
        return 2.0, 2.0  # the second convolution halves the frames
    return num_frames / tokens.shape[1], num_frames / tokens.shape[1]

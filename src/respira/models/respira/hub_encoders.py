"""Encoders of the Hub (transformers' wav2vec 2.0, HuBERT, WavLM, data2vec-audio, UniSpeech(-SAT), SEW,
Whisper, CLAP) and their own feature extractors in torch: ``[batch, samples] → [batch, frames, bins]``
modules (a waveform is ``bins = 1``). :func:`feature_extractor_settings` is what a :class:`RespiraConfig`
keeps of the checkpoint's extractor; ``encoders._SPECS`` registers one family per model type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.audio_utils import mel_filter_bank

from .spectrum import DerivedBuffers

WAVEFORM_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "sew")
WHISPER_MODEL_TYPE = "whisper"
CLAP_MODEL_TYPE = "clap_audio_model"  # the audio tower's config; a CLAP checkpoint's config.json says "clap"


FAMILIES: dict[str, str] = {  # model type → display name
    "wav2vec2": "wav2vec 2.0",
    "hubert": "HuBERT",
    "wavlm": "WavLM",
    "data2vec-audio": "data2vec-audio",
    "unispeech": "UniSpeech",
    "unispeech-sat": "UniSpeech-SAT",
    "sew": "SEW",
    "whisper": "Whisper",
    "clap_audio_model": "CLAP",
}
"""The display name of each family."""

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
        if Path(source).expanduser().is_dir():
            raise ValueError(
                f"{source}: no preprocessor_config.json; respira reproduces the checkpoint's own "
                f"{_EXTRACTORS[model_type]}: save the one its weights were trained with beside them"
            ) from None
        first = str(error).strip().splitlines()[0].split(". ")[0].rstrip(".")
        raise ValueError(f"{source}: no feature extractor to read ({first})") from None
    return feature_extractor_settings(extractor, model_type, source)


def check_extractor_rate(source: str, rate: int | None, sampling_rate: int | None) -> None:
    """One line when the feature extractor of ``source`` takes another rate (Hz) than ``sampling_rate``."""
    if None not in (rate, sampling_rate) and rate != sampling_rate:
        raise ValueError(
            f"{source}: its feature extractor takes {rate} Hz audio, not sampling_rate={sampling_rate}: "
            f"set sampling_rate to {rate}"
        )


def _settings(config: Any) -> dict[str, Any]:
    model_type = config.encoder_config.model_type
    bins = getattr(config.encoder_config, "num_mel_bins", None)
    settings = config.encoder_feature_extractor
    if not settings:  # a randomly initialised encoder: its family's extractor with its defaults
        import transformers

        extractor_class = getattr(transformers, _EXTRACTORS[model_type])
        extractor = extractor_class() if bins is None else extractor_class(feature_size=bins)
        settings = feature_extractor_settings(extractor, model_type, model_type)
    source = config.encoder_name_or_path or f"the {model_type} encoder"
    check_extractor_rate(source, settings["sampling_rate"], config.sampling_rate)
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


class HubLogMel(DerivedBuffers):
    """A centred, Hann-windowed STFT's power through mel filters, as ``WhisperFeatureExtractor`` (the
    window zero-padded to ``chunk_length`` seconds) or ``ClapFeatureExtractor`` computes it (dB of the
    window repeated, with ``repeat``, then zero-padded, to ``max_length_s``; HTK banks for
    ``truncation="fusion"``, else Slaney)."""

    def __init__(self, model_type: str, settings: dict[str, Any], samples: int) -> None:
        super().__init__()
        self.whisper = model_type == WHISPER_MODEL_TYPE
        self.sampling_rate, self.n_mels = settings["sampling_rate"], settings["feature_size"]
        self.n_fft = settings["n_fft" if self.whisper else "fft_window_size"]
        self.hop_length = settings["hop_length"]
        self.samples = samples  # what the extractor pads (or repeats) every waveform to
        self.frequencies = (
            (0.0, 8000.0) if self.whisper else (settings["frequency_min"], settings["frequency_max"])
        )
        self.htk = not self.whisper and settings["truncation"] == "fusion"
        self.repeat = not self.whisper and settings["padding"] in ("repeatpad", "repeat")
        self.register_derived_buffers()

    @property
    def frame_timing(self) -> tuple[float, float]:
        return self.hop_length / self.sampling_rate, 0.0

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        banks = mel_filter_bank(
            num_frequency_bins=1 + self.n_fft // 2,
            num_mel_filters=self.n_mels,
            min_frequency=self.frequencies[0],
            max_frequency=self.frequencies[1],
            sampling_rate=self.sampling_rate,
            norm=None if self.htk else "slaney",
            mel_scale="htk" if self.htk else "slaney",
        )
        return {"window": torch.hann_window(self.n_fft), "mel_banks": torch.from_numpy(banks).float()}

    def frames_for(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        if self.whisper:
            return num_samples // self.hop_length + 1
        return self.samples // self.hop_length + 1 + 0 * num_samples  # the repeated window fills every frame

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        waveforms = waveforms.float()
        if self.repeat:
            waveforms = waveforms.repeat(1, max(self.samples // waveforms.shape[1], 1))
        waveforms = nn.functional.pad(waveforms, (0, self.samples - waveforms.shape[1]))
        spectrum = torch.stft(
            waveforms, self.n_fft, self.hop_length, window=self.window, center=True, return_complex=True
        )
        power_mel = spectrum.abs().pow(2).transpose(1, 2) @ self.mel_banks
        if not self.whisper:
            return 10.0 * power_mel.clamp_min(1e-10).log10()
        log_mel = power_mel[:, :-1].clamp_min(1e-10).log10()
        top = log_mel.amax(dim=(1, 2), keepdim=True)
        return (torch.maximum(log_mel, top - 8.0) + 4.0) / 4.0


_LENGTHS = {  # model type → the extractor setting of its fixed length (seconds), the encoder's name
    WHISPER_MODEL_TYPE: ("chunk_length", "Whisper's encoder"),
    CLAP_MODEL_TYPE: ("max_length_s", "CLAP's audio encoder"),
}


def build_hub_featurizer(config: Any) -> nn.Module:
    """The featurizer of an encoder of the Hub: its feature extractor's settings in torch."""
    settings = _settings(config)
    model_type = config.encoder_config.model_type
    if model_type in WAVEFORM_MODEL_TYPES:
        return WaveformFeatures(
            config.sampling_rate,
            settings.get("do_normalize", False),
            settings.get("return_attention_mask", False),
        )
    length, encoder = _LENGTHS[model_type]
    samples = settings[length] * settings["sampling_rate"]
    if config.target_samples > samples:
        raise ValueError(
            f"target_seconds={config.target_seconds} is longer than the {settings[length]} s {encoder} takes"
        )
    return HubLogMel(model_type, settings, samples)


# ---------------------------------------------------------------------------------------------- encoders


def build_hub_encoder(config: Any) -> nn.Module:
    """A randomly initialised Whisper encoder or CLAP audio tower of ``config``."""
    if config.model_type == WHISPER_MODEL_TYPE:
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        return WhisperEncoder(config)
    from transformers import ClapAudioModel

    return ClapAudioModel(config)


def load_hub_encoder(source: str, config: Any) -> nn.Module:
    """The encoder of a Whisper checkpoint (``WhisperModel.get_encoder()``), a stand-alone CLAP audio tower
    (``ClapAudioModel``, model type ``clap_audio_model``) or the audio tower of a whole CLAP model
    (``ClapModel.audio_model``), as saved: ``config`` is the checkpoint's own."""
    from transformers import ClapAudioModel, ClapModel, WhisperModel

    if config.model_type == WHISPER_MODEL_TYPE:
        return WhisperModel.from_pretrained(source, config=config).get_encoder()
    if config.model_type == CLAP_MODEL_TYPE:
        return ClapAudioModel.from_pretrained(source, config=config)
    return ClapModel.from_pretrained(source, config=config).audio_model

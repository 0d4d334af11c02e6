"""Waveforms → fixed length → features (+ SpecAugment in training), on the model's device."""

from __future__ import annotations

import torch
from torch import nn

from ..features.fixed_length import fit_to_length
from ..features.kaldi_fbank import AST_NORMALIZATION, BEATS_NORMALIZATION, KaldiFbank
from ..features.log_mel import LogMelSpectrogram
from ..features.resample import Resample
from ..features.spec_augment import SpecAugment
from .configuration_respira import RespiraConfig

EFFICIENTAT_SAMPLING_RATE = 32000


class RespiraFeaturizer(nn.Module):
    """Batched feature pipeline of a :class:`RespiraConfig`: ``[batch, samples]`` → ``[batch, frames, bins]``.

    Every waveform is first brought to ``config.target_samples`` (repeat- or zero-padded, cropped),
    then turned into the encoder's features. Returns the features and a ``[batch, frames]`` mask of
    frames that hold real signal (all ones unless ``pad_mode="zero"``).
    """

    def __init__(self, config: RespiraConfig) -> None:
        super().__init__()
        self.config = config
        bins = getattr(config.encoder_config, "num_mel_bins", 128)
        self.resample: nn.Module | None = None
        if config.featurizer == "ast_fbank":
            self.transform = KaldiFbank(
                config.sampling_rate, bins, window="hanning", normalization=AST_NORMALIZATION
            )
        elif config.featurizer == "beats_fbank":
            self.transform = KaldiFbank(
                config.sampling_rate, bins, window="povey", normalization=BEATS_NORMALIZATION
            )
        elif config.featurizer == "log_mel":
            self.transform = LogMelSpectrogram(config.sampling_rate, n_mels=bins)
        else:
            from ..features.efficientat_mel import EfficientATMel

            self.resample = Resample(config.sampling_rate, EFFICIENTAT_SAMPLING_RATE)
            self.transform = EfficientATMel()
        self.spec_augment = SpecAugment(**config.spec_augment) if config.spec_augment else None

    def num_frames(self, num_samples: torch.Tensor) -> torch.Tensor:
        if self.resample is not None:
            num_samples = num_samples * self.resample.up // self.resample.down
        return self.transform.frames_for(num_samples)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        config = self.config
        waveforms, valid = fit_to_length(
            waveforms,
            lengths,
            config.target_samples,
            pad_mode=config.pad_mode,
            crop_mode=config.crop_mode,
            fade=round(config.fade_seconds * config.sampling_rate),
        )
        if self.resample is not None:
            waveforms = self.resample(waveforms)
        features = self.transform(waveforms)
        if self.resample is not None:
            features = features.transpose(1, 2)  # EfficientAT mel is [batch, bins, frames]
        frames = torch.arange(features.shape[1], device=features.device)
        frame_mask = frames.unsqueeze(0) < self.num_frames(valid).clamp_min(1).unsqueeze(1)
        if self.spec_augment is not None:
            features = self.spec_augment(features)
        return features, frame_mask

"""The hand-crafted lung-sound features the transfer probe tried (studies/_acoustic_features.py): each
describes the sound's shape, not its level, and the wheeze and crackle features answer to what they name."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "studies"))
import _acoustic_features as acoustic

RATE = 32_000


def _sounds() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    time = np.arange(8 * RATE) / RATE
    noise = 0.1 * rng.normal(size=time.size)
    tone = noise + 0.3 * np.sin(2 * np.pi * 400 * time) * ((time > 1) & (time < 2))  # a 1-s wheeze
    clicks = noise.copy()
    for start in rng.uniform(0, 7.9, 20):  # 20 crackles of 2.5 ms
        begin = int(start * RATE)
        clicks[begin : begin + 80] += 2 * np.hanning(80) * np.sin(np.arange(80) / 3)
    return {"noise": noise, "tone": tone, "clicks": clicks}


def _named(waveform: np.ndarray) -> dict[str, float]:
    return dict(zip(acoustic.NAMES, acoustic.acoustic_features(waveform, RATE), strict=True))


def test_the_features_ignore_the_level_of_the_sound() -> None:
    for waveform in _sounds().values():
        assert acoustic.acoustic_features(20 * waveform, RATE) == pytest.approx(
            acoustic.acoustic_features(waveform, RATE), rel=1e-4, abs=1e-6
        )


def test_a_tone_is_tonal_and_lasting_and_clicks_are_transient() -> None:
    sounds = {name: _named(waveform) for name, waveform in _sounds().items()}
    noise, tone, clicks = sounds["noise"], sounds["tone"], sounds["clicks"]
    # the 1-s tone: a prominent, flat-free peak that stays on its frequency for about a second
    assert tone["prominence_max"] > noise["prominence_max"] + 15
    assert tone["flatness_min"] < 0.1 < noise["flatness_min"]
    assert tone["track_longest_s"] == pytest.approx(1.0, abs=0.1) and noise["track_longest_s"] < 0.1
    assert tone["peaks3_per_s"] == 0  # a loud stretch is not a train of transients
    # the clicks: heavy tails, a high crest, about their own rate of envelope peaks
    assert clicks["kurtosis"] > noise["kurtosis"] + 2 and clicks["crest"] > noise["crest"] + 1
    assert clicks["peaks5_per_s"] == pytest.approx(20 / 8, abs=0.3) and noise["peaks3_per_s"] == 0
    assert clicks["track_longest_s"] < 0.1


def test_the_rate_must_divide_into_eight_kilohertz() -> None:
    with pytest.raises(ValueError, match="multiple of 8000"):
        acoustic.acoustic_features(np.zeros(4410), 44_100)
    silence = acoustic.acoustic_features(np.zeros(100), 16_000)  # shorter than a frame, too
    assert np.isfinite(silence).all()

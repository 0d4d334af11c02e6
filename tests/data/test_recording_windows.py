"""Recordings cut into windows (respira.data.recording_windows): the windows respira predict scores, and a
second cut of the same recordings served from the datasets cache."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest

from respira.data.recording_windows import recording_windows
from respira.models.respira.audio_decoding import decode_audio, encode_wav
from respira.models.respira.windows import window_starts

RATE = 4000


@pytest.fixture
def recordings(tmp_path: Path) -> datasets.Dataset:
    """Two ramps (2.5 s and 0.5 s) stored on disk, as a builder's cached split is."""
    lengths = [round(2.5 * RATE), round(0.5 * RATE)]
    table = datasets.Dataset.from_dict(
        {
            "audio": [
                {"bytes": encode_wav(np.linspace(-0.5, 0.5, n, dtype=np.float32), RATE), "path": None}
                for n in lengths
            ],
            "recording": ["long", "short"],
            "patient_id": [1, 2],
        }
    ).cast_column("audio", datasets.Audio(sampling_rate=RATE))
    table.save_to_disk(tmp_path / "recordings")
    return datasets.load_from_disk(tmp_path / "recordings")


def test_windows_are_predicts_windows_and_keep_their_recordings_columns(recordings) -> None:
    windows = recording_windows(recordings, window_seconds=1.0, hop_seconds=0.5)
    long_starts = window_starts(round(2.5 * RATE), RATE, RATE // 2)
    assert windows["recording"] == ["long"] * len(long_starts) + ["short"]
    assert windows["start"][: len(long_starts)] == [int(s) / RATE for s in long_starts]
    assert windows["end"][-1] == 0.5 and windows["cycle_index"][-1] == 0  # shorter than a window: one
    first = decode_audio(windows[1]["audio"], RATE)
    whole = decode_audio(recordings[0]["audio"], RATE)
    np.testing.assert_allclose(first, whole[RATE // 2 : RATE // 2 + RATE], atol=1e-6)


def test_a_second_cut_of_the_same_recordings_is_read_from_the_cache(recordings) -> None:
    first = recording_windows(recordings, window_seconds=1.0, hop_seconds=0.5)
    again = recording_windows(recordings, window_seconds=1.0, hop_seconds=0.5)
    other = recording_windows(recordings, window_seconds=1.0, hop_seconds=0.25)
    # a deterministic fingerprint (the cut is hashable): the same cache file, not a random new one
    assert first._fingerprint == again._fingerprint != other._fingerprint
    assert [f["filename"] for f in first.cache_files] == [f["filename"] for f in again.cache_files]

"""Recordings cut into the sliding windows ``respira predict`` scores (one example per window, keeping its
recording's columns), on which a recording-labelled corpus trains by multiple-instance learning."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..models.respira.audio_decoding import decode_audio, encode_wav, is_real
from ..models.respira.windows import window_starts

if TYPE_CHECKING:
    import datasets


WINDOW_COLUMNS: tuple[str, ...] = ("cycle_index", "start", "end")  # added to its recording's


def check_window_options(window_seconds: float, hop_seconds: float) -> None:
    """Raise a one-line ``ValueError`` unless ``0 < hop_seconds <= window_seconds`` (finite numbers)."""
    for name, value in (("window_seconds", window_seconds), ("hop_seconds", hop_seconds)):
        if not is_real(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if hop_seconds > window_seconds:
        raise ValueError(f"hop_seconds ({hop_seconds}) must be at most window_seconds ({window_seconds})")


def _cut_windows(
    batch: dict[str, list[Any]], *, columns: list[str], kept: list[str], rate: int, window: int, hop: int
) -> dict[str, list[Any]]:
    """The windows of a batch of recordings (module level, so ``datasets`` can hash it for its cache)."""
    rows: dict[str, list[Any]] = {name: [] for name in columns}
    for position, audio in enumerate(batch["audio"]):
        samples = decode_audio(audio, rate)
        for index, start in enumerate(window_starts(samples.shape[0], window, hop)):
            stop = min(int(start) + window, samples.shape[0])
            rows["audio"].append({"bytes": encode_wav(samples[int(start) : stop], rate), "path": None})
            for name in kept:
                rows[name].append(batch[name][position])
            rows["cycle_index"].append(index)
            rows["start"].append(int(start) / rate)
            rows["end"].append(stop / rate)
    return rows


def recording_windows(
    recordings: datasets.Dataset,
    *,
    window_seconds: float,
    hop_seconds: float,
    num_proc: int | None = None,
) -> datasets.Dataset:
    """One example per window of every recording (float WAV at the ``audio`` rate), cached by ``datasets``."""
    import datasets

    feature = recordings.features["audio"]
    rate = int(feature.sampling_rate)
    window, hop = round(window_seconds * rate), max(1, round(hop_seconds * rate))
    kept = [name for name in recordings.column_names if name != "audio" and name not in WINDOW_COLUMNS]
    features = datasets.Features(
        {
            "audio": datasets.Audio(sampling_rate=rate),
            **{name: recordings.features[name] for name in kept},
            "cycle_index": datasets.Value("int32"),
            "start": datasets.Value("float64"),
            "end": datasets.Value("float64"),
        }
    )

    return recordings.map(
        _cut_windows,
        fn_kwargs={"columns": list(features), "kept": kept, "rate": rate, "window": window, "hop": hop},
        batched=True,
        batch_size=8,
        remove_columns=recordings.column_names,
        features=features,
        num_proc=num_proc,
        desc=f"cutting recordings into {window_seconds:g} s windows",
    )

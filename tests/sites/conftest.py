"""Synthetic site samples whose right answer is known."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from respira.sites import LabelledRecording, SiteSample


def make_sample(
    *,
    units: int = 30,
    per_unit: int = 2,
    windows: int = 6,
    hidden: int = 16,
    crackle_backwards: bool = True,
    seed: int = 0,
    aggregation: str = "max",
    top_k: int | None = None,
) -> SiteSample:
    """Recordings whose embeddings hold crackles along one axis and wheezes along another (in every
    window of a recording that has them); the model's head reads wheezes right and, with
    ``crackle_backwards``, crackles backwards (it ranks them upside down)."""
    rng = np.random.default_rng(seed)
    crackle_axis, wheeze_axis = np.eye(hidden)[0], np.eye(hidden)[1]
    recordings, embeddings, owner = [], [], []
    for unit in range(units):
        for number in range(per_unit):
            position = len(recordings)
            crackle, wheeze = bool(rng.random() < 0.4), bool(rng.random() < 0.35)
            recordings.append(
                LabelledRecording(
                    Path(f"p{unit}_{number}.wav"), crackle, wheeze, f"p{unit}", f"p{unit}_{number}", 12.0
                )
            )
            noise = rng.normal(size=(windows, hidden))
            embeddings.append(noise + 6.0 * crackle * crackle_axis + 6.0 * wheeze * wheeze_axis + 5.0)
            owner += [position] * windows
    weight = np.stack([(-1.0 if crackle_backwards else 1.0) * crackle_axis, wheeze_axis]) * 2.0
    bias = -(weight @ np.full(hidden, 5.0)) - np.array([6.0, 6.0])
    x = np.concatenate(embeddings).astype(np.float32)
    logits = x.astype(np.float64) @ weight.T + bias
    return SiteSample(
        embeddings=x,
        recording=np.asarray(owner),
        recordings=tuple(recordings),
        base_logits=logits,
        base_head=(weight, bias),
        base_thresholds=(0.5, 0.5),
        aggregation=aggregation,
        top_k=top_k,
    )


def faint_crackle_sample(units: int = 24) -> SiteSample:
    """Crackles faint in every window (a head reads them, the model cannot), wheezes the model reads
    right on every recording: crackle gains out of sample, wheeze cannot (issue 82's fitted crackle)."""
    sample = make_sample(units=units, windows=12, seed=4)
    x = sample.embeddings.astype(np.float64)
    x[:, 0] = 5.0 + 0.8 * sample.labels[sample.recording, 0] + np.random.default_rng(1).normal(size=len(x))
    weight, bias = sample.base_head
    return replace(sample, embeddings=x.astype(np.float32), base_logits=x @ weight.T + bias)


@pytest.fixture(scope="module")
def backwards_sample() -> SiteSample:
    """Crackles ranked backwards by the model, wheezes right."""
    return make_sample()

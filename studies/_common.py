"""Pieces several benchmark scripts share (scripts import it from their own folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from respira.models.respira.filterbanks import LogMelSpectrogram

ROOT = Path(__file__).resolve().parent.parent
LOWPASS = 4000.0
"""The flagship recipe's low-pass (Hz), which the studies' units are cut with."""


def respira(*arguments: str) -> str:
    """Run the CLI as a user would; return its standard output (exit with the end of its output on
    failure)."""
    command = [sys.executable, "-m", "respira", *arguments]
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def log_mel_features(featurizer: LogMelSpectrogram, waveforms: list[np.ndarray]) -> np.ndarray:
    """Mean and standard deviation over time of each log-mel band: ``[N, 2 * n_mels]``."""
    rows = []
    with torch.inference_mode():
        for waveform in waveforms:
            mel = featurizer(torch.from_numpy(np.asarray(waveform, dtype=np.float32))[None])[0]
            rows.append(torch.cat([mel.mean(0), mel.std(0)]).numpy())
    return np.stack(rows)


def fit_label_regressions(
    features: np.ndarray, flags: np.ndarray, *, max_iter: int = 3000
) -> Callable[[np.ndarray], np.ndarray]:
    """One class-balanced logistic regression per label column of ``flags`` (crackle, wheeze) on
    standardised ``features``; returns a function from features to ``[N, labels]`` probabilities
    (scikit-learn: the ``dev`` extra)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    scaled = scaler.transform(features)
    models = [
        LogisticRegression(class_weight="balanced", max_iter=max_iter).fit(scaled, flags[:, i])
        for i in range(flags.shape[1])
    ]

    def predict(x: np.ndarray) -> np.ndarray:
        x = scaler.transform(x)
        return np.column_stack([model.predict_proba(x)[:, 1] for model in models])

    return predict

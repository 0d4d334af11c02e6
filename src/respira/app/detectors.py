"""What ``respira app`` serves: a model folder, an exported ONNX folder or a Hub id as a page detector
(:class:`~respira.app.analysis.Detector`), its card facts, and example recordings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .card_facts import card_facts

__all__ = ["ModelDetector", "example_recordings", "open_detector"]


class ModelDetector:
    """A loaded respira model (torch, or :class:`respira.hub.onnx.OnnxClassifier`) predicting through
    :mod:`respira.inference`, as ``respira predict`` does."""

    def __init__(self, model: Any, name: str) -> None:
        self.model = model
        self.config = model.config
        self.name = name

    def predict(
        self,
        waveform: np.ndarray,
        *,
        window: float,
        hop: float,
        cycles: Sequence[tuple[float, float]] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of sliding windows (:func:`~respira.inference.predict_windows`) or of ``cycles``
        (:func:`~respira.inference.predict_cycles`)."""
        from ..inference import predict_cycles, predict_windows

        if cycles:
            return predict_cycles(self.model, waveform, cycles)
        return predict_windows(self.model, waveform, window=window, hop=hop)


def _hub_card(name: str) -> Path | None:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(name, "README.md"))
    except Exception:  # no card, or offline: the page says it has no facts
        return None


def open_detector(
    model: str, *, onnx: bool = False, device: str | None = None
) -> tuple[ModelDetector, list[str]]:
    """Load ``model`` (a model folder, an ONNX export folder, or a Hub id) and its card facts.

    ``onnx``: run the ``model.onnx`` with onnxruntime (the default for a folder holding only it).
    Load errors are one line (:class:`~respira.hub.loading.ModelLoadError`).
    """
    from ..hub.loading import WEIGHT_FILES, load_model
    from ..hub.onnx import ONNX_FILE, load_onnx_model

    folder = Path(model).expanduser()
    onnx_only = (folder / ONNX_FILE).is_file() and not any((folder / name).is_file() for name in WEIGHT_FILES)
    if onnx or onnx_only:
        loaded = load_onnx_model(model)
    else:
        loaded, _ = load_model(model, device=device)
    name = folder.resolve().name if folder.exists() else model
    facts = card_facts(folder) if folder.is_dir() else card_facts(None, _hub_card(model))
    return ModelDetector(loaded, name), facts


def example_recordings(folder: str | Path, count: int = 2) -> list[Path]:
    """``count`` recordings of a small synthetic corpus written to ``folder`` (works offline), those with
    the most crackle and wheeze cycles first; each has its annotation ``.txt`` beside it."""
    from ..data.text_files import read_annotations
    from ..synthetic import make_synthetic_icbhi

    corpus = make_synthetic_icbhi(Path(folder), n_patients=6, n_recordings=6, seed=0, overwrite=True)
    ranked = []
    for wav in sorted((corpus / "ICBHI_final_database").glob("*.wav")):
        cycles = read_annotations(wav.with_suffix(".txt"))
        crackles, wheezes = sum(c.crackle for c in cycles), sum(c.wheeze for c in cycles)
        ranked.append((-min(crackles, 1) - min(wheezes, 1), -(crackles + wheezes), wav.name, wav))
    return [wav for *_, wav in sorted(ranked)[:count]]

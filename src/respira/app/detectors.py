"""What ``respira app`` serves: a model folder, an exported ONNX folder or a Hub id as a
:class:`respira.Detector` (what the page runs), its card facts, and example recordings."""

from __future__ import annotations

from pathlib import Path

from ..inference.detector import Detector
from .card_facts import RUN_RECORD, card_facts

__all__ = ["example_recordings", "open_detector"]


def _hub_file(name: str, file_name: str) -> Path | None:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(name, file_name))
    except Exception:  # no such file, or offline: the page says what it could not find
        return None


def open_detector(model: str, *, onnx: bool = False, device: str | None = None) -> tuple[Detector, list[str]]:
    """Load ``model`` (a model folder, an ONNX export folder, or a Hub id) and its card facts.

    ``onnx``: run the ``model.onnx`` with onnxruntime (the default for a folder holding only it;
    :meth:`respira.Detector.from_pretrained`). Load errors are one line
    (:class:`~respira.hub.loading.ModelLoadError`).
    """
    from ..hub.loading import resolve_model_name

    folder = resolve_model_name(model)
    detector = Detector.from_pretrained(model, device=device, onnx=True if onnx else None)
    if folder is not None:
        facts = card_facts(folder)
    else:
        facts = card_facts(None, _hub_file(model, "README.md"), _hub_file(model, RUN_RECORD))
    return detector, facts


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

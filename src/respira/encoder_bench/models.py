"""What ``respira bench`` runs: a model named on the command line (:func:`load_model`) and its embeddings of
recordings or cycles, cached per (encoder, recording) so a second run reads them (:func:`embed`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..models.respira.labels import MULTI_LABEL
from ..sites.site_sample import LabelledRecording, SiteSample

__all__ = ["BenchModel", "embed", "embedding_speed", "load_model"]

CHUNK = 16
"""Recordings embedded between two writes of the cache: what a killed run loses at most."""


@dataclass(frozen=True)
class BenchModel:
    """A model ``bench`` scores: its ``name`` in the leaderboard, a :class:`~respira.Detector` and ``key``,
    the hash of its weights and input transform (its cache folder)."""

    name: str
    detector: Any
    key: str
    trained_head: bool
    layers: int = 1  # hidden states side by side in each embedding (every_layer), else 1


def _fresh(source: str, every_layer: bool = False) -> Any:
    """A multi-label respira model with a random linear head on a frozen encoder
    (:func:`respira.models.build_model`: a family name initialised, seeded; else pretrained weights);
    ``every_layer``: an encoder whose hidden states have one size embeds all of them side by side."""
    import torch

    from ..hub.loading import quiet_transformers
    from ..models import build_model as build_respira

    torch.manual_seed(0)
    options = {"problem_type": MULTI_LABEL, "freeze_encoder": True, "projector_dim": None}
    if every_layer and _layered(source):
        options["every_layer"] = True
    with quiet_transformers():  # no "Loading weights" bar before a refusal's one line
        return build_respira(source, **options)


def _layered(source: str) -> bool:
    """Whether ``source`` (a family name, folder or Hub id) is an encoder with hidden states of one size."""
    from transformers import AutoConfig

    from ..models.respira.encoders import find_encoder_spec

    spec = find_encoder_spec(source)
    if spec is None:
        try:
            spec = find_encoder_spec(AutoConfig.from_pretrained(source).model_type)
        except (OSError, ValueError):
            return False  # build_model says what is wrong
    return spec is not None and spec.hidden_states is not None


def build_model(source: str, cache_dir: Path, *, every_layer: bool = False) -> tuple[Any, bool]:
    """``source`` (a name on the command line) as a respira torch model, and whether its head was trained:
    the one place a name becomes a model. A respira model folder or shipped detector's name as it is; an
    encoder family's name (``cnn``) freshly initialised; an original EfficientAT checkpoint (``.pt``)
    converted into the cache; any other folder or Hub id through transformers' Auto classes; each of the
    last three with a random head (only its embeddings are scored), with ``every_layer`` its every hidden
    state's (an encoder of the Hub's with hidden states of one size)."""
    from ..hub.loading import load_model as load_respira
    from ..hub.loading import quiet_transformers
    from ..models.respira.encoders import encoder_names, get_encoder_spec

    path = Path(source).expanduser()
    if source in encoder_names() and not path.exists():
        return _fresh(get_encoder_spec(source).default_checkpoint or source, every_layer), False
    if path.is_file() and path.suffix == ".pt":
        from ..models.convert_efficientat import convert_efficientat_checkpoint

        stat = path.resolve().stat()
        digest = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
        folder = cache_dir / "converted" / f"{path.stem}-{digest[:12]}"
        if not (folder / "config.json").is_file():
            try:
                with quiet_transformers():
                    convert_efficientat_checkpoint(path, folder, width=None, overwrite=True)
            except (KeyError, ValueError, RuntimeError) as error:
                raise ValueError(
                    f"{source}: not an EfficientAT checkpoint respira converts ({error})"
                ) from None
        return _fresh(str(folder)), False
    if path.is_file():
        raise ValueError(f"{source}: a file that is no model (a model folder, a .pt EfficientAT checkpoint, "
                         "an encoder family or a Hub id)")  # fmt: skip
    config = path / "config.json"
    if (
        path.is_dir() and config.is_file() and json.loads(config.read_text()).get("model_type") == "respira"
    ) or (not path.exists() and "/" not in source):
        return load_respira(source)[0], True
    if path.is_dir() and not config.is_file():
        raise ValueError(f"{source}: a folder without config.json, no model")
    # a folder by its path: one named as a family (``hubert``) is that folder's weights, not a random encoder
    return _fresh(str(path.resolve()) if path.is_dir() else source, every_layer), False


def _probe_ready(model: Any) -> Any:
    """``model`` itself when a site head can replace its head, else its encoder under a fresh random
    multi-label linear head (a single-label model, a fine-tuned encoder, a hidden head layer)."""
    from ..models import RespiraConfig, RespiraForAudioClassification
    from ..sites.site_sample import site_head_refusal

    if site_head_refusal(model) is None:
        return model
    settings = model.config.to_dict()
    for name in ("id2label", "label2id", "num_labels", "architectures", "decision_thresholds", "calibration"):
        settings.pop(name, None)
    settings |= {"problem_type": MULTI_LABEL, "freeze_encoder": True, "head_norm": False,
                 "head_hidden_size": None, "projector_dim": None}  # fmt: skip
    if settings.get("pooling") == "autopool":
        settings["pooling"] = "mean"
    fresh = RespiraForAudioClassification(RespiraConfig.from_dict(settings))
    fresh.respira.load_state_dict(model.respira.state_dict())
    return fresh.eval()


def load_model(source: str, cache_dir: Path, *, device: str | None = None, layer: str = "auto") -> BenchModel:
    """:func:`build_model`, checked (a multi-label model whose head a probe can replace) and wrapped; every
    hidden state embedded unless ``layer`` (``--layer``) is ``-1``, the last."""
    import torch

    from ..inference.detector import Detector
    from ..screening.results import model_fingerprint
    from ..sites.site_sample import site_head_refusal

    model, trained = build_model(source, cache_dir, every_layer=layer != "-1")
    if not trained:
        model.eval()
    elif not isinstance(model, torch.nn.Module):
        raise ValueError(f"{source}: an ONNX export, without its torch weights: bench its run folder")
    else:  # a trained head that a site head cannot replace gives way to a random one
        probe = _probe_ready(model)
        model, trained = probe, probe is model
    refusal = site_head_refusal(model)
    if refusal is not None:
        raise ValueError(f"{source}: {refusal}")
    key = model_fingerprint(model)  # what its embeddings depend on
    if device is not None:
        model.to(device)
    name = Path(source).stem if source.endswith(".pt") else source.rstrip("/").split("/")[-1]
    layers = 1
    if getattr(model.config, "every_layer", False):
        layers = model.respira.encoder_spec.hidden_states(model.config.encoder_config)
    return BenchModel(name, Detector(model, name=name), key, trained, layers)


Cycle = tuple[float, float, bool, bool]
"""An annotated cycle: start and end (seconds), crackle and wheeze."""


def _recording_key(recording: LabelledRecording, cycles: Sequence[Cycle] | None) -> str:
    stat = Path(recording.path).stat()
    spans = None if cycles is None else [(float(c[0]), float(c[1])) for c in cycles]
    what = f"{Path(recording.path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{spans}"
    return hashlib.sha256(what.encode()).hexdigest()


def _per_recording(embedded: Any) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Each recording's ``(embeddings, logits, duration)`` of what :meth:`respira.Detector.embed` gave."""
    return [
        (embedded.embeddings[embedded.recording == i], embedded.logits[embedded.recording == i], float(d))
        for i, d in enumerate(embedded.durations)
    ]


SPEED_FILE = "speed.json"


def machine() -> str:
    """This machine in words: its processor (or GPU) and the threads torch computes with."""
    import platform

    import torch

    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        name = found[0] if found else name
    return f"{name}, {torch.get_num_threads()} thread(s)"


def _add_speed(folder: Path, seconds: float, audio: float) -> None:
    """Add one chunk's embedding time and audio to ``folder``'s record (the machine's that embedded)."""
    from ..utils.files import write_json_atomic

    known = embedding_speed(folder) or {"seconds": 0.0, "audio_seconds": 0.0}
    write_json_atomic(folder / SPEED_FILE, {"seconds": known["seconds"] + seconds, "machine": machine(),
                                           "audio_seconds": known["audio_seconds"] + audio})  # fmt: skip


def embedding_speed(folder: Path) -> dict[str, Any] | None:
    """What embedding the recordings cached in ``folder`` took: ``seconds``, ``audio_seconds`` and the
    ``machine``; ``None`` where nothing was timed."""
    path = folder / SPEED_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def embed(
    model: BenchModel,
    recordings: Sequence[LabelledRecording],
    cache_dir: Path,
    *,
    cycles: Sequence[Sequence[Cycle]] | None = None,
    description: str = "embedding",
    batch_size: int | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
) -> SiteSample | None:
    """The :class:`SiteSample` of ``recordings`` (their 4-s windows; with ``cycles``, each recording's
    annotated cycles, each one item of the sample): the one call that embeds, reading and writing each
    recording's rows in ``cache_dir`` (a killed run resumes; a second run embeds nothing). ``shard``:
    ``(process, processes)``: embed only this process's share of what the cache lacks, and return ``None``."""
    from ..inference.embeddings import WindowEmbeddings
    from ..utils.files import atomic_path
    from ..utils.progress import stage

    folder = cache_dir / "embeddings" / model.key[:24]
    folder.mkdir(parents=True, exist_ok=True)
    keys = [_recording_key(r, None if cycles is None else cycles[i]) for i, r in enumerate(recordings)]
    stored: dict[int, tuple[np.ndarray, np.ndarray, float]] = {}
    for i, key in enumerate(keys):
        if (folder / f"{key}.npz").is_file():
            with np.load(folder / f"{key}.npz") as rows:
                stored[i] = (rows["embeddings"], rows["logits"], float(rows["duration"]))
    missing = [i for i in range(len(recordings)) if i not in stored]
    if shard is not None:  # by position among all: the same share whatever the others wrote already
        missing = [i for i in missing if i % shard[1] == shard[0]]
    detector = model.detector
    with stage(description, len(recordings), "recording", enabled=progress) as shown:
        shown.update(len(stored))
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            started = time.perf_counter()
            if cycles is None:
                found = _per_recording(
                    detector.embed([recordings[i].path for i in chunk], batch_size=batch_size)
                )
            else:  # each cycle one window, a recording's cycles one batch
                found = [
                    _per_recording(detector.embed_cycles(recordings[i].path, [c[:2] for c in cycles[i]]))[0]
                    for i in chunk
                ]
            _add_speed(folder, time.perf_counter() - started, sum(rows[2] for rows in found))
            for i, rows in zip(chunk, found, strict=True):
                with atomic_path(folder / f"{keys[i]}.npz") as staging, staging.open("wb") as handle:
                    np.savez(handle, embeddings=rows[0], logits=rows[1], duration=np.float64(rows[2]))
                stored[i] = rows
            shown.update(len(chunk))
    if shard is not None:
        return None
    ordered = [stored[i] for i in range(len(recordings))]
    if cycles is None:
        items, durations = list(recordings), [duration for _, _, duration in ordered]
        owners = np.repeat(np.arange(len(ordered)), [len(embeddings) for embeddings, _, _ in ordered])
    else:  # each cycle an item of its own, labelled by its own flags (given per cycle)
        items = [
            replace(recording, crackle=crackle, wheeze=wheeze, recording_id=f"{recording.recording_id}#{c}")
            for recording, spans in zip(recordings, cycles, strict=True)
            for c, (_, _, crackle, wheeze) in enumerate(spans)
        ]
        durations = [end - begin for spans in cycles for begin, end, _, _ in spans]
        owners = np.arange(len(items))
    embedded = WindowEmbeddings(
        np.concatenate([embeddings for embeddings, _, _ in ordered]).astype(np.float32),
        owners.astype(np.int64),
        np.concatenate([logits for _, logits, _ in ordered]).astype(np.float64),
        np.array(durations),
    )
    return SiteSample.from_embeddings(detector, embedded, items)

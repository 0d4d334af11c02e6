"""The recordings, units and heads of ``studies/event_detection.py``, embedded once.

* **Recordings**: SPRSound ``train`` and ``inter_test`` (Poor Quality records left out), ICBHI's official
  train / test split made patient-wise; each with its annotated spans (events or cycles, with their 0/1
  flags: the units a clip head learns from) and its reference events as the corpus plug-in maps them
  (``respira.data.sprsound.sprsound_reference_events``, ``respira.data.icbhi.icbhi_reference_events``).
  A recording's references are made by :func:`references`: each label's merged by
  :func:`respira.evaluation.event_detection_report.merge_references`, clipped to the recording.
* **Units**, through the frozen encoder of the flagship recipe (:data:`FLAGSHIP`): pooled embeddings of
  every annotated span (:func:`embed_clips`), and the encoder's time steps of whole recordings as
  ``predict_frames`` cuts them into chunks (:func:`embed_steps`); cached in ``.npz`` files
  (:func:`cached`, staged and moved into place).
* **Heads**: every (model, seed) trained on the units of 80 % of the train patients, thresholds tuned
  on the other 20 % (:func:`build_models`); the frozen encoder shared (:class:`SharedEncoder`).
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import LOWPASS
from respira.evaluation.event_detection_report import merge_references
from respira.inference.frames import (
    MAX_CONTEXT_SECONDS,
    MirroredRecording,
    RecordingInMemory,
    iter_chunk_spans,
)
from respira.inference.windowing import analysis_frame_samples
from respira.metrics.thresholds import sigmoid, tune_thresholds
from respira.models.respira.audio_decoding import pad_batch, prepare_recording, read_audio
from respira.models.respira.decision import Event
from respira.models.respira.labels import MULTI_LABEL, MULTI_LABEL_NAMES
from respira.models.respira.windows import span_samples

RATE, TARGET_SECONDS, EMBED_BATCH = 32_000, 8.0, 16
STEPS, BATCH, LEARNING_RATE, DROPOUT, VALIDATION_FRACTION = 400, 64, 1e-3, 0.3, 0.2
MODELS: tuple[str, ...] = ("clip", "strong")
FLAGSHIP: dict[str, Any] = {
    "sampling_rate": RATE,
    "target_seconds": TARGET_SECONDS,
    "pooling": "mean",
    "problem_type": MULTI_LABEL,
    "head": "linear",
    "head_norm": True,
    "head_dropout": DROPOUT,
    "projector_dim": None,
    "freeze_encoder": True,
    "lowpass_cutoff": LOWPASS,
}
"""The flagship recipe's model (``recipes/efficientat_frozen_multilabel.yaml``) as the study builds it."""

Span = tuple[float, float, int, int]
"""An annotated span: ``(start, end, crackle, wheeze)``, seconds and 0/1 flags (an event, or a cycle)."""
Reference = tuple[float, float, str]
"""A reference event as a corpus plug-in gives it: ``(onset, offset, label)``."""


# ------------------------------------------------------------------------------------------- recordings
@dataclass(frozen=True)
class Recording:
    name: str
    path: str
    patient: str
    spans: tuple[Span, ...]
    """Annotated spans: SPRSound events (Normal ones with no flag), or ICBHI cycles."""
    references: tuple[Reference, ...] = ()
    """Its crackle / wheeze events by the corpus plug-in's ``reference_events`` (not yet merged)."""


def references(events: Iterable[Reference], duration: float) -> list[Event]:
    """Reference events of a recording of ``duration`` seconds: each label's merged where they overlap or
    touch (``merge_references``), one starting at or after the end left out, the rest clipped to it."""
    merged = merge_references(list(events))
    return [Event(e.onset, min(e.offset, float(duration)), e.label) for e in merged if e.onset < duration]


def sprsound_recordings(root: Path) -> dict[str, list[Recording]]:
    """``train`` and ``test`` (``inter_test``) SPRSound recordings with their events, Poor Quality ones
    left out; the two parts' patients asserted disjoint."""
    from respira.data import read_sprsound_events, read_sprsound_index
    from respira.data.sprsound import sprsound_reference_events

    index = read_sprsound_index(root)
    parts = {
        part: set(index.loc[index.official_part == part, "patient_id"]) for part in ("train", "inter_test")
    }
    assert not parts["train"] & parts["inter_test"], "SPRSound inter_test shares patients with train"
    spans: dict[str, list[Span]] = {}
    annotated: dict[str, list[dict[str, Any]]] = {}
    for row in read_sprsound_events(root).itertuples():
        spans.setdefault(row.recording, []).append((row.start, row.end, int(row.crackle), int(row.wheeze)))
        annotated.setdefault(row.recording, []).append(
            {"start": row.start, "end": row.end, "type": row.event_type}
        )
    out = {}
    for split, part in (("train", "train"), ("test", "inter_test")):
        rows = index[(index.official_part == part) & (index.poor_quality == 0)]
        out[split] = [
            Recording(
                r.recording,
                r.path,
                f"spr_{r.patient_id}",
                tuple(spans.get(r.recording, ())),
                tuple(sprsound_reference_events({"events": annotated.get(r.recording, [])})),
            )
            for r in rows.itertuples()
        ]
    return out


def icbhi_recordings(root: Path) -> dict[str, list[Recording]]:
    """``train`` and ``test`` ICBHI recordings with their cycles: the official split, patient-wise (a
    patient with any official-train recording trains); the two sides' patients asserted disjoint."""
    from respira.data.corpus_files import locate_corpus
    from respira.data.icbhi import icbhi_reference_events
    from respira.data.text_files import index_from_layout

    layout = locate_corpus(root)
    index = index_from_layout(layout)
    if index["official_split"].isna().any():
        raise SystemExit(f"{root}: the official split file is needed (ICBHI_challenge_train_test.txt)")
    trains = set(index.loc[index.official_split == "train", "patient_id"])
    out: dict[str, list[Recording]] = {"train": [], "test": []}
    for name, cycles in index.groupby("recording", sort=True):
        patient = int(cycles["patient_id"].iloc[0])
        spans = tuple(
            (float(c.start), float(c.end), int(c.crackle), int(c.wheeze)) for c in cycles.itertuples()
        )
        marked = icbhi_reference_events(
            {"cycles": [dict(zip(("start", "end", *MULTI_LABEL_NAMES), s, strict=True)) for s in spans]}
        )
        split = "train" if patient in trains else "test"
        out[split].append(
            Recording(str(name), str(layout.audio_files[name]), f"icbhi_{patient}", spans, tuple(marked))
        )
    sides = [{r.patient for r in out[split]} for split in ("train", "test")]
    assert not sides[0] & sides[1], "ICBHI train and test share patients"
    return out


# ------------------------------------------------------------------------------------------------ units
def step_targets(centres: np.ndarray, events: Sequence[Event]) -> np.ndarray:
    """``[steps, 2]`` 0/1 (crackle, wheeze): whether each step's centre (seconds) lies in ``[onset,
    offset)`` of an event of the label."""
    centres = np.asarray(centres, dtype=np.float64)
    targets = np.zeros((centres.size, len(MULTI_LABEL_NAMES)), dtype=np.int64)
    for event in events:
        column = MULTI_LABEL_NAMES.index(event.label)
        targets[(centres >= event.onset) & (centres < event.offset), column] = 1
    return targets


def chunk_plan(total: int, chunk: int, margin: int) -> list[tuple[int, int]]:
    """The chunks ``predict_frames`` runs over a recording of ``total`` samples, ``[start, stop)`` in the
    recording's samples: those of the recording with ``margin`` samples of its mirror image at each end
    (:class:`respira.inference.frames.MirroredRecording`), so the first starts ``margin`` before it and
    the last ends ``margin`` after it."""
    mirrored = MirroredRecording(RecordingInMemory(None, np.zeros(total), prepared=True), margin)
    return [(start - margin, stop - margin) for start, stop, _ in iter_chunk_spans(mirrored, chunk, margin)]


def owning_chunk(centres: np.ndarray, spans: Sequence[tuple[int, int]], total: int, rate: int) -> np.ndarray:
    """For each time (seconds from the recording's start), the index of the chunk ``[start, stop)``
    (samples, :func:`chunk_plan`'s) it lies in farthest from an edge (every chunk's ends are edges, the
    recording's own being mirrored; ties to the earlier chunk): the chunk ``predict_frames`` takes a
    frame's value from; -1 in none."""
    centres = np.asarray(centres, dtype=np.float64)
    best = np.full(centres.size, -np.inf)
    owner = np.full(centres.size, -1, dtype=np.int64)
    for index, (start, stop) in enumerate(spans):
        begin, end = start / rate, stop / rate
        inside = (centres >= begin) & ((centres < end) | (stop >= total))
        centrality = np.where(inside, np.minimum(centres - begin, end - centres), -np.inf)
        better = inside & (centrality > best)
        owner[better], best[better] = index, centrality[better]
    return owner


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _clips(
    recordings: Sequence[Recording], config: Any, frame: int
) -> Iterator[tuple[np.ndarray, Span, str]]:
    """Every annotated span of the recordings cut from its low-passed recording (``round(t * rate)``, the
    end clipped to the audio; a span starting at or after it, or shorter than a frame, left out)."""
    for recording in recordings:
        audio = prepare_recording(config, read_audio(recording.path, RATE))
        for span in recording.spans:
            first, stop = span_samples(span[0], span[1], RATE, audio.size)
            if stop - first >= frame:
                yield audio[first:stop], span, recording.patient


def embed_clips(
    encoder: torch.nn.Module, recordings: Sequence[Recording], config: Any
) -> dict[str, np.ndarray]:
    """Pooled embeddings of every annotated span, with its flags and patient."""
    frame = analysis_frame_samples(encoder)
    x, flags, patients = [], [], []
    for batch in _batches(_clips(recordings, config, frame), EMBED_BATCH):
        values, mask = pad_batch([item[0] for item in batch])
        with torch.inference_mode():
            x.append(encoder(values, attention_mask=mask).embeddings.float().numpy())
        flags += [item[1][2:] for item in batch]
        patients += [item[2] for item in batch]
    return {
        "x": np.concatenate(x),
        "flags": np.asarray(flags, dtype=np.int64),
        "patient": np.asarray(patients),
    }


def _chunks(recordings: Sequence[Recording], config: Any) -> Iterator[tuple[np.ndarray, int, int, int, int]]:
    """Every recording cut into chunks as ``predict_frames`` cuts it (:func:`chunk_plan`, the recording
    with its mirrored margins): (chunk, recording number, start, stop, total samples)."""
    chunk = round(TARGET_SECONDS * RATE)
    margin = round(min(MAX_CONTEXT_SECONDS, TARGET_SECONDS / 4) * RATE)
    for number, recording in enumerate(recordings):
        audio = prepare_recording(config, read_audio(recording.path, RATE))
        mirrored = MirroredRecording(RecordingInMemory(config, audio, prepared=True), margin)
        for start, stop in chunk_plan(audio.size, chunk, margin):
            yield mirrored.segment(start + margin, stop + margin), number, start, stop, audio.size


def embed_steps(
    encoder: torch.nn.Module, recordings: Sequence[Recording], config: Any
) -> dict[str, np.ndarray]:
    """The encoder's time-step tokens of every recording (each step from the chunk that owns it,
    :func:`owning_chunk`), with their targets (:func:`step_targets`), patient, recording and centre."""
    chunk = round(TARGET_SECONDS * RATE)
    margin = round(min(MAX_CONTEXT_SECONDS, TARGET_SECONDS / 4) * RATE)
    x, flags, patients, names, centres = [], [], [], [], []
    for batch in _batches(_chunks(recordings, config), EMBED_BATCH):
        values, mask = pad_batch([item[0] for item in batch])
        with torch.inference_mode():
            out = encoder(values, attention_mask=mask, output_time_steps=True)
        times = out.step_times.float().numpy().astype(np.float64)
        for row, (samples, number, start, stop, total) in enumerate(batch):
            recording = recordings[number]
            keep = out.step_mask[row].numpy().astype(bool) & (times < samples.size / RATE)
            absolute = times + start / RATE
            keep &= (absolute >= 0) & (absolute < total / RATE)  # not the mirrored margins
            spans = chunk_plan(total, chunk, margin)
            keep &= owning_chunk(absolute, spans, total, RATE) == spans.index((start, stop))
            x.append(out.step_tokens[row][torch.from_numpy(keep)].float().numpy())
            flags.append(step_targets(absolute[keep], references(recording.references, total / RATE)))
            patients += [recording.patient] * int(keep.sum())
            names += [recording.name] * int(keep.sum())
            centres.append(absolute[keep])
    return {
        "x": np.concatenate(x),
        "flags": np.concatenate(flags),
        "patient": np.asarray(patients),
        "recording": np.asarray(names),
        "time": np.concatenate(centres),
    }


def cached(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of ``path``, built and written first (staged, then moved into place) when absent."""
    if not path.is_file():
        began = time.perf_counter()
        arrays = build()
        staged = path.with_suffix(".partial.npz")
        np.savez(staged, **arrays)
        staged.replace(path)
        print(
            f"cached {path.name}: {len(arrays['x'])} units in {time.perf_counter() - began:.0f} s", flush=True
        )
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


# ------------------------------------------------------------------------------------------------ heads
class SharedEncoder(torch.nn.Module):
    """The frozen encoder every head shares: its output for an input it has already seen (the same
    tensor, mask and options) is served from memory until :meth:`clear`. Frozen and in eval mode, the
    encoder is a pure function of its input, so the product's path through a head is unchanged."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.memory: dict[tuple, Any] = {}
        self.calls = self.hits = 0

    @staticmethod
    def _key(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            data = value.detach().cpu().contiguous().numpy().tobytes()
            return (str(value.dtype), tuple(value.shape), hashlib.blake2b(data, digest_size=16).hexdigest())
        return value

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any):
        key = (self._key(input_values), self._key(attention_mask), *sorted(kwargs.items()))
        self.calls += 1
        if key in self.memory:
            self.hits += 1
            return self.memory[key]
        out = self.inner(input_values, attention_mask=attention_mask, **kwargs)
        self.memory[key] = out
        return out

    def clear(self) -> None:
        self.memory.clear()


def validation_patients(
    patients: Sequence[str], flags: np.ndarray, seed: int, fraction: float = VALIDATION_FRACTION
) -> set[str]:
    """A seeded ``fraction`` of the patients (at least one, never all) whose units hold a positive of
    each label: the first of the seed's draws (``seed * 1000 + attempt``) that does."""
    patients = np.asarray(patients).astype(str)
    unique = sorted(set(patients))
    count = min(max(1, round(fraction * len(unique))), len(unique) - 1)
    if count < 1:
        raise ValueError("a validation slice needs at least two patients")
    for attempt in range(1000):
        order = np.random.default_rng(seed * 1000 + attempt).permutation(len(unique))
        chosen = {unique[i] for i in order[:count]}
        if np.asarray(flags)[np.isin(patients, list(chosen))].sum(axis=0).min() > 0:
            return chosen
    raise ValueError("no validation slice of these patients holds a positive of each label")


def train_head(model: Any, sources: Sequence[tuple[np.ndarray, np.ndarray]], seed: int) -> None:
    """The head alone, Adam / BCE for :data:`STEPS` steps, each batch half from each source."""
    rng = np.random.default_rng(seed)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)
    per = BATCH // len(sources)
    model.train()
    for _ in range(STEPS):
        rows = [rng.integers(0, len(x), per) for x, _ in sources]
        x = np.concatenate([source[0][r] for source, r in zip(sources, rows, strict=True)])
        y = np.concatenate([source[1][r] for source, r in zip(sources, rows, strict=True)])
        loss = model(embeddings=torch.from_numpy(x).float(), labels=torch.from_numpy(y).float()).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def probabilities(model: Any, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return sigmoid(model(embeddings=torch.from_numpy(x).float()).logits.numpy())


def build_models(
    base: Any, shared: SharedEncoder, units: Mapping[str, dict[str, np.ndarray]], seeds: Sequence[int]
) -> tuple[dict[tuple[str, int], Any], list[dict[str, Any]], dict[int, set[str]]]:
    """Every (model, seed): a head trained on 80 % of the train patients, thresholds tuned on the rest;
    with notes per model, and each seed's held-out (validation) patients of both corpora."""
    from respira.models import RespiraForAudioClassification

    models, notes, validation_sets = {}, [], {}
    for seed in seeds:
        held = {  # the same patients held out of both models
            "icbhi": validation_patients(units["icbhi"]["patient"], units["icbhi"]["flags"], seed),
            "sprsound": validation_patients(units["events"]["patient"], units["events"]["flags"], seed),
        }
        validation_sets[seed] = held["icbhi"] | held["sprsound"]
        for kind in MODELS:
            spr = units["events" if kind == "clip" else "steps"]
            sources, validation = [], []
            for data, corpus in ((units["icbhi"], "icbhi"), (spr, "sprsound")):
                out = np.isin(data["patient"], list(held[corpus]))
                sources.append((data["x"][~out], data["flags"][~out]))
                validation.append((data["x"][out], data["flags"][out]))
            torch.manual_seed(seed)
            model = RespiraForAudioClassification(copy.deepcopy(base.config))
            model.respira = shared
            train_head(model, sources, seed)
            vx = np.concatenate([v[0] for v in validation])
            vy = np.concatenate([v[1] for v in validation])
            chosen = tune_thresholds(vy, probabilities(model, vx), metric="f1")
            model.config.decision_thresholds = [float(t) for t in chosen]
            models[(kind, seed)] = model
            notes.append(
                {
                    "model": kind,
                    "seed": seed,
                    "train_units": [len(s[0]) for s in sources],
                    "validation_units": [len(v[0]) for v in validation],
                    "validation_positives": vy.sum(axis=0).tolist(),
                    "thresholds": model.config.decision_thresholds,
                }
            )
    return models, notes, validation_sets

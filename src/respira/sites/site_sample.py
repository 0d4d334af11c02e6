"""A site's labelled sample: its recordings (:func:`read_site_recordings`; units are patients, or each
recording when a folder names none) and the encoder's view of their windows (:func:`embed_recordings`;
kept between runs in an archive's cache, :func:`embed_cached`)."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..data.corpora import scored_corpus
from ..data.corpus_files import DataDir, corpus_roots, files_fingerprint, shown_dirs
from ..data.labels_csv import PATIENT_PATTERN_EXAMPLE, UnlabelledRowsWarning
from ..inference.embeddings import linear_head, site_head_refusal  # noqa: F401 (respira.sites exports them)
from ..metrics.recording_level import unmeasurable
from ..models.respira.decision import is_multi_label, thresholds_of
from ..models.respira.labels import MULTI_LABEL_NAMES, flags_to_classes

_SAMPLE_FORMAT = 1
CACHE_FOLDER = ".respira_suggest"
"""The folder beside an archive's ``labels.csv`` (``suggest``'s output) that keeps the model's view of its
recordings between runs (``suggest``'s rounds, ``fit-site``)."""


@dataclass(frozen=True)
class LabelledRecording:
    """One labelled recording of a site; ``unit`` is its patient (its own id when the corpus names none)."""

    path: Path
    crackle: bool
    wheeze: bool
    unit: str
    recording_id: str
    duration: float | None = None  # seconds, filled by embed_recordings


MIN_UNITS = 4
"""Fewest units (patients) a sample needs: nested cross-validation holds units out at two levels."""
NO_PATIENT_REFUSAL = (
    "fit-site keeps each patient's recordings in one fold and resamples patients, so it needs a patient "
    f"column in labels.csv (respira suggest --patient_pattern REGEX writes it from the file names, e.g. "
    f"'{PATIENT_PATTERN_EXAMPLE}' for KAUH's; one recording per patient: '(.+)')"
)
"""Why fit-site refuses a folder that names no patient, and how to name them."""


@dataclass(frozen=True)
class SiteRecordings:
    """The labelled recordings of one site's folder, and how they were read."""

    recordings: tuple[LabelledRecording, ...]
    dataset: str
    data_dir: Path | tuple[Path, ...]
    """Its folder, or the folders its corpus spans."""
    units_are_patients: bool
    left_out: int = 0
    """Recordings marked too poor to judge, left out."""

    @property
    def units(self) -> int:
        return len({recording.unit for recording in self.recordings})

    @property
    def unit_name(self) -> str:
        return "patients" if self.units_are_patients else "recordings (each its own unit: no patient column)"


def read_site_recordings(
    data_dir: DataDir, dataset: str = "labelled", *, need_patients: bool = False
) -> SiteRecordings:
    """Every labelled recording of ``data_dir`` (a folder, or the folders one corpus spans) read as
    ``dataset``; one-line ``ValueError`` for fewer than
    :data:`MIN_UNITS` units, no normal or no abnormal recording, or (``need_patients``) a folder that
    names no patient."""
    spec = scored_corpus(dataset)
    roots = corpus_roots(data_dir, "--data_dir")
    folders = tuple(roots) if len(roots) > 1 else roots[0]
    if spec.labels == "cycle":
        from ..data.text_files import corpus_index

        layout = spec.layout(folders)
        # crackle (wheeze) when any cycle is
        flags = corpus_index(layout).groupby("recording")[list(MULTI_LABEL_NAMES)].any()
        if flags.empty:
            raise ValueError(f"{roots[0]} has no recording with both audio and an annotation file")
        recordings = []
        for stem, crackle, wheeze in flags.itertuples():  # the patient is the name's first field
            path = Path(layout.audio_files[stem])
            recordings.append(
                LabelledRecording(path, crackle, wheeze, stem.split("_")[0], _relative(path, roots))
            )
        sample = SiteRecordings(tuple(recordings), dataset, folders, units_are_patients=True)
    else:
        if spec.read_index is None:
            raise ValueError(
                f"{spec.name} has no file index (its spec's read_index): fit-site cannot read it"
            )
        with warnings.catch_warnings():  # a partial folder (some patients of KAUH) is a sample, not an error
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", UnlabelledRowsWarning)  # rows left blank: said, in one line
            index = spec.read_index(folders)
        left_out = 0
        if "poor_quality" in index.columns:
            poor = index["poor_quality"].astype(bool)
            left_out = int(poor.sum())
            index = index[~poor]
        named = "patient" not in index.columns or bool(index["patient"].notna().all())
        column = "patient" if "patient" in index.columns and named else spec.group_by
        recordings = []
        for row in index.itertuples(index=False):
            path = Path(row.path)
            recording_id = _relative(path, roots)
            unit = str(getattr(row, column)) if named else recording_id
            recordings.append(
                LabelledRecording(path, bool(row.crackle), bool(row.wheeze), unit, recording_id)
            )
        sample = SiteRecordings(tuple(recordings), dataset, folders, named, left_out)
    where = f"--data_dir {shown_dirs(roots)} ({dataset})"
    if need_patients and not sample.units_are_patients:
        raise ValueError(f"{where} names no patient: {NO_PATIENT_REFUSAL}")
    if sample.units < MIN_UNITS:
        raise ValueError(
            f"{where} holds {sample.units} {sample.unit_name.split(' ')[0]}; fit-site needs at least "
            f"{MIN_UNITS} to fit and judge out of sample (patient-wise nested cross-validation)"
        )
    abnormal = sum(1 for r in sample.recordings if r.crackle or r.wheeze)
    lacking = unmeasurable(len(sample.recordings) - abnormal, abnormal)
    if lacking is not None:
        raise ValueError(f"{where} has {lacking}; fit-site needs both")
    return sample


def _relative(path: Path, roots: Sequence[Path]) -> str:
    """``path`` relative to the folder of ``roots`` that holds it (else as it is)."""
    for root in roots:
        if path.resolve().is_relative_to(root.resolve()):
            return path.resolve().relative_to(root.resolve()).as_posix()
    return path.as_posix()


@dataclass(frozen=True, eq=False)
class SiteSample:
    """The encoder's view of a labelled sample, computed once: each window's raw pooled ``embeddings``
    (before ``head_norm``), its ``recording`` index and the model's own (crackle, wheeze) ``base_logits``;
    ``base_head`` is :func:`linear_head`."""

    embeddings: np.ndarray
    recording: np.ndarray
    recordings: tuple[LabelledRecording, ...]
    base_logits: np.ndarray
    base_head: tuple[np.ndarray, np.ndarray] | None
    base_thresholds: tuple[float, float]
    aggregation: str = "max"
    top_k: int | None = None
    units_are_patients: bool = True

    @property
    def hidden_size(self) -> int:
        return int(self.embeddings.shape[1])

    @cached_property
    def labels(self) -> np.ndarray:
        """``[recordings, 2]`` 0/1 (crackle, wheeze) flags."""
        return np.array([[r.crackle, r.wheeze] for r in self.recordings], dtype=np.int64).reshape(-1, 2)

    @cached_property
    def classes(self) -> np.ndarray:
        """``[recordings]`` four-class index (normal, crackle, wheeze, both) of each recording."""
        return flags_to_classes(self.labels)

    @cached_property
    def units(self) -> np.ndarray:
        return np.array([str(r.unit) for r in self.recordings], dtype=object)

    @cached_property
    def duration(self) -> np.ndarray:
        return np.array([np.nan if r.duration is None else r.duration for r in self.recordings])

    def subset(self, recordings: np.ndarray) -> SiteSample:
        """The sample restricted to the recordings at positions ``recordings`` (renumbered in that order)."""
        chosen = np.asarray(recordings, dtype=np.int64)
        position = np.full(len(self.recordings), -1, dtype=np.int64)
        position[chosen] = np.arange(chosen.size)
        keep = np.flatnonzero(position[self.recording] >= 0)
        keep = keep[np.argsort(position[self.recording[keep]], kind="stable")]
        return replace(
            self,
            embeddings=self.embeddings[keep],
            recording=position[self.recording[keep]],
            recordings=tuple(self.recordings[i] for i in chosen),
            base_logits=self.base_logits[keep],
        )

    def save(self, path: str | Path) -> Path:
        """Write the sample to one ``.npz`` at ``path`` (atomically) and return it."""
        from ..utils.files import atomic_path

        meta: dict[str, Any] = {
            "format": _SAMPLE_FORMAT,
            "base_thresholds": list(self.base_thresholds),
            "aggregation": self.aggregation,
            "top_k": self.top_k,
            "units_are_patients": self.units_are_patients,
            "recordings": [{**asdict(r), "path": str(r.path)} for r in self.recordings],
        }
        arrays: dict[str, np.ndarray] = {
            "embeddings": self.embeddings,
            "recording": self.recording,
            "base_logits": self.base_logits,
            "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        }
        if self.base_head is not None:
            arrays["base_weight"], arrays["base_bias"] = self.base_head
        target = Path(path)
        with atomic_path(target) as staging, staging.open("wb") as handle:
            np.savez(handle, **arrays)
        return target

    @classmethod
    def load(cls, path: str | Path) -> SiteSample:
        """A sample :meth:`save` wrote."""
        with np.load(Path(path)) as stored:
            meta = json.loads(stored["meta"].tobytes().decode())
            if meta.get("format") != _SAMPLE_FORMAT:
                raise ValueError(f"{path}: not a site sample of format {_SAMPLE_FORMAT}")
            return cls(
                embeddings=stored["embeddings"],
                recording=stored["recording"],
                recordings=tuple(
                    LabelledRecording(**{**r, "path": Path(r["path"])}) for r in meta["recordings"]
                ),
                base_logits=stored["base_logits"],
                base_head=(stored["base_weight"], stored["base_bias"]) if "base_weight" in stored else None,
                base_thresholds=(float(meta["base_thresholds"][0]), float(meta["base_thresholds"][1])),
                aggregation=meta["aggregation"],
                top_k=meta["top_k"],
                units_are_patients=bool(meta["units_are_patients"]),
            )

    @classmethod
    def from_embeddings(
        cls,
        detector: Any,
        embedded: Any,
        recordings: Sequence[LabelledRecording],
        *,
        units_are_patients: bool = True,
    ) -> SiteSample:
        """The sample of ``recordings`` from their :class:`~respira.inference.embeddings.WindowEmbeddings`
        (one duration per recording), with ``detector``'s head, thresholds and recording rule."""
        timed = tuple(
            LabelledRecording(r.path, bool(r.crackle), bool(r.wheeze), str(r.unit), r.recording_id, float(d))
            for r, d in zip(recordings, embedded.durations, strict=True)
        )
        return cls(
            embeddings=embedded.embeddings,
            recording=embedded.recording,
            recordings=timed,
            base_logits=embedded.logits,
            base_head=linear_head(detector.model),
            base_thresholds=thresholds_of(detector.config),
            aggregation=detector.options["aggregation"],
            top_k=detector.options["top_k"],
            units_are_patients=units_are_patients,
        )


def embed_recordings(
    detector: Any,
    recordings: Sequence[LabelledRecording],
    *,
    batch_size: int | None = None,
    progress: bool = True,
    units_are_patients: bool = True,
    description: str | None = None,
) -> SiteSample:
    """The :class:`SiteSample` of ``recordings`` through :meth:`respira.Detector.embed` (a one-line
    ``ValueError`` names an unreadable file); ``description``: the progress line's."""
    if not is_multi_label(detector.config):
        raise ValueError("fitting a site needs a multi-label (crackle, wheeze) model")
    if description is None:
        units = len({str(r.unit) for r in recordings})
        named = ("patient" if units == 1 else "patients") if units_are_patients else "units"
        description = f"embedding the labelled recordings of {units} {named}"
    paths = [str(recording.path) for recording in recordings]
    embedded = detector.embed(paths, batch_size=batch_size, progress=progress, description=description)
    return SiteSample.from_embeddings(detector, embedded, recordings, units_are_patients=units_are_patients)


def cache_file(model: str | Path, cache: Path) -> Path:
    """The file of ``cache`` that keeps ``model``'s view, named by the model's name and its folder's file
    names, sizes and modification times."""
    folder = Path(model).expanduser()
    files = [path for path in folder.rglob("*") if path.is_file()] if folder.is_dir() else []
    key = hashlib.sha256(f"{model}\0{files_fingerprint(folder, files)}".encode()).hexdigest()[:16]
    return cache / f"{key}.npz"


def embed_cached(
    recordings: Sequence[LabelledRecording],
    stored: Path,
    embed: Callable[[list[LabelledRecording], list[int], int], SiteSample],
    *,
    save: bool = True,
) -> tuple[SiteSample, int]:
    """The sample of ``recordings`` (in order, each with its duration) and how many the model ran on: the
    windows of those ``stored`` holds (by the file's resolved path, size and modification time) read from
    it, the others' from ``embed(those, their positions, how many were read)``; with ``save``, the sample
    of ``recordings`` replaces ``stored`` when the model ran. Its head, thresholds and rule are the newest
    part's."""
    names = [
        json.dumps([str(p := Path(r.path).resolve()), (s := p.stat()).st_size, s.st_mtime_ns])
        for r in recordings
    ]
    try:
        kept = SiteSample.load(stored) if stored.is_file() else None
    except (OSError, ValueError, KeyError):
        kept = None  # an unreadable cache is rebuilt
    known = {} if kept is None else {r.recording_id: i for i, r in enumerate(kept.recordings)}
    missing = [i for i, name in enumerate(names) if name not in known]
    reused = [i for i, name in enumerate(names) if name in known]
    parts: list[SiteSample] = []
    if kept is not None and reused:  # the cached recordings still there, unchanged
        parts.append(kept.subset(np.array([known[names[i]] for i in reused])))
    if missing:
        part = embed([recordings[i] for i in missing], missing, len(reused))
        keyed = zip(part.recordings, missing, strict=True)  # the cache knows a recording by its file
        parts.append(replace(part, recordings=tuple(replace(r, recording_id=names[i]) for r, i in keyed)))
    place = {names[i]: p for p, i in enumerate([*reused, *missing])}
    joined = _join(parts).subset(np.array([place[name] for name in names]))
    if missing and save:
        stored.parent.mkdir(parents=True, exist_ok=True)
        joined.save(stored)
    timed = tuple(replace(r, duration=s.duration) for r, s in zip(recordings, joined.recordings, strict=True))
    return replace(joined, recordings=timed), len(missing)


def _join(parts: Sequence[SiteSample]) -> SiteSample:
    """One sample of several (the newest's head, thresholds and rule)."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0, *(len(p.recordings) for p in parts[:-1])])
    return replace(
        parts[-1],
        embeddings=np.concatenate([p.embeddings for p in parts]),
        recording=np.concatenate([p.recording + o for p, o in zip(parts, offsets, strict=True)]),
        recordings=tuple(r for p in parts for r in p.recordings),
        base_logits=np.concatenate([p.base_logits for p in parts]),
    )

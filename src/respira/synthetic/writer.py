"""Writing a synthetic corpus: each planned recording's audio and annotations, then the metadata files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..data.corpus_files import (
    DEMOGRAPHIC_FILES,
    DIAGNOSIS_FILES,
    RECORDING_FOLDERS,
    SPLIT_FILES,
    SYNTHETIC_MARKER,
)
from ..utils.files import is_occupied, replace_with, staged_folder
from .plan import Patient, Recording, plan_corpus
from .sounds import add_crackles, add_wheeze, breath_envelope, breathing_noise

FULL_SIZE: dict[str, Any] = {"n_patients": 126, "icbhi_counts": True, "cycles_per_recording": (4, 11)}
"""``make_synthetic_icbhi(out, **FULL_SIZE)``: ICBHI's exact shape (920 recordings, 6898 cycles)."""

# The names of the official release, as respira.data.corpus_files finds them.
SPLIT_FILE = SPLIT_FILES[0]
DIAGNOSIS_FILE = DIAGNOSIS_FILES[0]
DEMOGRAPHICS_FILE = DEMOGRAPHIC_FILES[0]
RECORDINGS_FOLDER = RECORDING_FOLDERS[0]
SYNTHETIC_NOTE = (
    "Synthetic ICBHI-format corpus written by respira.synthetic.make_synthetic_icbhi; not real recordings."
)

_DEVICE_HISS: dict[str, float] = {"AKGC417L": 0.03, "LittC2SE": 0.012, "Litt3200": 0.02, "Meditron": 0.025}


def _synthesize(
    recording: Recording, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[float, float, int, int]]]:
    """The audio (peak <= 0.9) and annotation rows of one recording."""
    sample_rate = recording.sample_rate
    n_cycles = len(recording.labels)
    period = rng.uniform(1.9, 3.6)
    durations = np.clip(period * rng.uniform(0.8, 1.2, n_cycles), 1.5, 4.0)
    offset = rng.uniform(0.0, 0.3)  # cycle edges: rounded to ms, contiguous, then a 0.1-0.6 s tail
    boundaries = np.round(offset + np.concatenate([[0.0], np.cumsum(durations)]), 3)
    n_samples = int(np.ceil((boundaries[-1] + float(rng.uniform(0.1, 0.6))) * sample_rate))
    inhale_fraction = rng.uniform(0.35, 0.45, n_cycles)
    loudness = rng.uniform(0.8, 1.2, n_cycles)
    exhale_gain = loudness * rng.uniform(0.5, 0.8, n_cycles)

    white = rng.standard_normal(n_samples, dtype=np.float32)
    envelope = breath_envelope(
        n_samples,
        boundaries,
        sample_rate,
        inhale_fraction=inhale_fraction,
        inhale_gain=loudness,
        exhale_gain=exhale_gain,
    )
    audio = breathing_noise(white, sample_rate) * envelope
    audio += np.float32(_DEVICE_HISS[recording.name.device]) * white

    rows = []
    for k, label in enumerate(recording.labels):
        start, end = float(boundaries[k]), float(boundaries[k + 1])
        crackle, wheeze = int(label) % 2, int(label) // 2
        if crackle:
            add_crackles(
                audio,
                rng,
                sample_rate,
                start_s=start,
                end_s=end,
                inhale_fraction=float(inhale_fraction[k]),
                loudness=float(loudness[k]),
            )
        if wheeze:
            add_wheeze(audio, rng, sample_rate, start_s=start, end_s=end, loudness=float(loudness[k]))
        rows.append((start, end, crackle, wheeze))

    audio *= np.float32(rng.uniform(0.5, 0.9) / float(np.max(np.abs(audio))))
    return audio, rows


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int, subtype: str) -> None:
    sf.write(path, audio, sample_rate, subtype=subtype, format="WAV")


def _write_text(path: Path, lines: list[str], newline: str) -> None:
    path.write_bytes("".join(line + newline for line in lines).encode("ascii"))


def _write_corpus(
    root: Path, patients: list[Patient], recordings: list[Recording], seed_sequence: np.random.SeedSequence
) -> None:
    folder = root / RECORDINGS_FOLDER
    folder.mkdir()
    # one generator per recording, from the seed and the recording's position in the plan
    for recording, child in zip(recordings, seed_sequence.spawn(len(recordings)), strict=True):
        audio, rows = _synthesize(recording, np.random.default_rng(child))
        stem = recording.name.stem
        _write_wav(folder / f"{stem}.wav", audio, recording.sample_rate, recording.subtype)
        _write_text(
            folder / f"{stem}.txt",
            [f"{start:.3f}\t{end:.3f}\t{crackle}\t{wheeze}" for start, end, crackle, wheeze in rows],
            "\n",
        )
    ordered = sorted(recordings, key=lambda r: r.name.stem)
    _write_text(root / SPLIT_FILE, [f"{r.name.stem}\t{r.split}" for r in ordered], "\r\n")
    _write_text(root / DIAGNOSIS_FILE, [f"{p.patient_id}\t{p.diagnosis}" for p in patients], "\n")
    _write_text(
        root / DEMOGRAPHICS_FILE, ["\t".join((str(p.patient_id), *p.demographics)) for p in patients], "\r\n"
    )
    _write_text(root / SYNTHETIC_MARKER, [SYNTHETIC_NOTE], "\n")


CORPUS_ENTRIES = (RECORDINGS_FOLDER, SPLIT_FILE, DIAGNOSIS_FILE, DEMOGRAPHICS_FILE, SYNTHETIC_MARKER)
"""What :func:`make_synthetic_icbhi` writes at the corpus's root: the only entries it ever replaces."""


def make_synthetic_icbhi(
    out_dir: str | Path,
    n_patients: int = 12,
    *,
    seed: int = 0,
    recordings_per_patient: tuple[int, int] = (1, 3),
    cycles_per_recording: tuple[int, int] = (4, 9),
    sample_rates: Sequence[int] = (4000, 10000, 44100),
    overwrite: bool = False,
    icbhi_counts: bool = False,
) -> Path:
    """Write a synthetic ICBHI-format corpus to ``out_dir`` (byte-identical for the same arguments) and
    return ``Path(out_dir)``. Ranges are inclusive; ``icbhi_counts``: ICBHI's published counts;
    ``overwrite`` replaces only the :data:`CORPUS_ENTRIES` of an earlier synthetic corpus."""
    out = Path(out_dir).expanduser()
    patients, recordings = plan_corpus(
        seed,
        n_patients=n_patients,
        recordings_per_patient=recordings_per_patient,
        cycles_per_recording=cycles_per_recording,
        sample_rates=sample_rates,
        icbhi_counts=icbhi_counts,
    )
    seeds = np.random.SeedSequence(seed)
    if out.is_dir():
        _check_existing(out, overwrite=overwrite)
        with _staged_entries(out, overwrite=overwrite) as staging:
            _write_corpus(staging, patients, recordings, seeds)
        return out
    if is_occupied(out):
        raise FileExistsError(f"{out} is a file; the corpus needs a folder there")
    filled = f"{out} was filled while the corpus was written; pass overwrite=True"
    with staged_folder(out.resolve(), overwrite=False, exists_message=filled) as staging:
        _write_corpus(staging, patients, recordings, seeds)
    return out


def _check_existing(out: Path, *, overwrite: bool, staging: Path | None = None) -> None:
    """Refuse (one line) a non-empty ``out`` unless ``overwrite`` and its corpus entries are ours."""
    if all(entry == staging for entry in out.iterdir()):
        return
    for name in CORPUS_ENTRIES if not (out / SYNTHETIC_MARKER).is_file() else ():
        if os.path.lexists(out / name):
            raise FileExistsError(
                f"{out / name} was not written by respira ({out} has no {SYNTHETIC_MARKER}); "
                "choose another folder for the synthetic corpus"
            )
    if not overwrite:
        raise FileExistsError(
            f"{out} exists and is not empty; pass overwrite=True to write the corpus into it"
        )


@contextmanager
def _staged_entries(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``out``; on success swap each corpus entry into ``out``."""
    staging = Path(tempfile.mkdtemp(prefix=".synthetic-partial-", dir=out))
    try:
        yield staging
        _check_existing(out, overwrite=overwrite, staging=staging)  # again: it may have been filled meanwhile
        for name in CORPUS_ENTRIES:
            replace_with(staging / name, out / name)  # checked above: the corpus's own entries
    finally:
        shutil.rmtree(staging, ignore_errors=True)

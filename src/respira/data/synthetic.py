"""A synthetic respiratory-sound corpus in the official ICBHI 2017 layout.

The real ICBHI database cannot be shipped with the project, yet ``make demo`` and the test suite
need a corpus that exercises the whole pipeline (finding files, parsing annotations and metadata,
decoding audio at several sample rates and bit depths, splitting, training and evaluating) and on
which a model can actually learn something. :func:`make_synthetic_icbhi` writes such a corpus::

    out_dir/
        ICBHI_final_database/<stem>.wav    mono WAV, 4 / 10 / 44.1 kHz, PCM_16 (some PCM_24)
        ICBHI_final_database/<stem>.txt    "start\\tend\\tcrackle\\twheeze" per cycle (LF)
        ICBHI_challenge_train_test.txt      "<stem>\\t<train|test>" per recording (CRLF)
        ICBHI_Challenge_diagnosis.txt       "<patient>\\t<diagnosis>" (LF)
        ICBHI_Challenge_demographic_information.txt
                                            "<patient>\\t<age>\\t<sex>\\t<adult BMI>\\t<child weight>\\t
                                            <child height>", ``NA`` where missing (CRLF)

Stems are valid ICBHI names (``101_1b1_Al_sc_Meditron``): patient ids from 101, all seven chest
locations, single- and multichannel acquisition and all four devices. The file formats copy the
official release (tab separators, CRLF where the release has it, ``NA`` for missing values, one
patient without age or sex like real patient 223).

The sounds follow the physics the classes are defined by:

* breathing is Gaussian noise band-limited to 100-1000 Hz (Butterworth band-pass) under an
  inspiration/expiration amplitude envelope per cycle, plus a faint broadband sensor hiss;
* crackles are short (5-25 ms) damped sinusoids of a few hundred Hz with an abrupt onset, several
  per cycle and mostly during inspiration (fine crackles short and high, coarse ones long and low);
* wheezes are sustained tones (fundamental 120-800 Hz, slowly gliding, at least 250 ms and a good
  part of the cycle, mostly expiratory) with up to two harmonics kept below 0.45 of the sample rate;
* ``both`` cycles carry crackles and a wheeze.

Cycles last 1.5-4 s and are contiguous; a recording starts with a short un-annotated offset and
runs a little past its last cycle. The per-cycle label mix is close to ICBHI's (about 50 % normal,
27 % crackle, 13 % wheeze, 10 % both; healthy patients are mostly normal). The split file assigns
whole patients to ``train`` or ``test`` (about 60/40 of the recordings) except for one patient whose
recordings straddle both sides, as in the official split, and every class is guaranteed to occur
on both sides.

Everything is determined by ``seed``: the same arguments give byte-identical files. The corpus is
written to a temporary sibling folder and renamed into place at the end, so an interrupted run
never leaves a half-written corpus behind. Generation is vectorised with numpy/scipy (float32):
the default 12-patient corpus (about 25 recordings, 150 cycles, 7 minutes of audio) takes under a
second. ``make_synthetic_icbhi(out, **FULL_SIZE)`` (see :data:`FULL_SIZE`) writes a corpus with
exactly the published ICBHI counts (920 recordings, 6898 cycles, official split and class counts,
about 5.3 h) in under a minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..labels import CLASS_NAMES
from ..utils.files import is_occupied, staged_folder
from .corpus import (
    CHEST_LOCATIONS,
    DEVICES,
    DIAGNOSES,
    NUM_RECORDINGS,
    OFFICIAL_CLASS_COUNTS,
    OFFICIAL_SPLIT_CYCLES,
    RecordingName,
)
from .sounds import (
    add_crackles,
    add_wheeze,
    breath_envelope,
    breathing_noise,
    crackle_transients,
    wheeze_tone,
)

__all__ = [
    "FULL_SIZE",
    "LABEL_PROBABILITIES",
    "breath_envelope",
    "breathing_noise",
    "crackle_transients",
    "make_synthetic_icbhi",
    "wheeze_tone",
]

FULL_SIZE: dict[str, Any] = {"n_patients": 126, "icbhi_counts": True, "cycles_per_recording": (4, 11)}
"""Keyword arguments for a corpus of ICBHI's exact shape: ``make_synthetic_icbhi(out, **FULL_SIZE)``.

126 patients, 920 recordings, 6898 cycles (about 5.3 h) split 4142 / 2756 with the published class
counts per split, so that respira's reader, which checks those counts on any 920-recording corpus,
accepts it. ``cycles_per_recording=(4, 11)`` averages ICBHI's 7.5 cycles per recording.
"""

LABEL_PROBABILITIES: dict[str, float] = {"normal": 0.50, "crackle": 0.27, "wheeze": 0.13, "both": 0.10}
"""Approximate share of each cycle class over a corpus (ICBHI: 52.8 / 27.0 / 12.8 / 7.3 %).

Documentation of the target: it is realised through the per-patient mixes below, so a small corpus
deviates from it, and ``icbhi_counts=True`` uses ICBHI's exact counts instead.
"""

MIN_PATIENTS = 6
SPLIT_FILE = "ICBHI_challenge_train_test.txt"
DIAGNOSIS_FILE = "ICBHI_Challenge_diagnosis.txt"
DEMOGRAPHICS_FILE = "ICBHI_Challenge_demographic_information.txt"
RECORDINGS_FOLDER = "ICBHI_final_database"
SYNTHETIC_MARKER = "SYNTHETIC_CORPUS.txt"
"""Marker file of a generated corpus: training runs record it, model cards say the data is synthetic."""
SYNTHETIC_NOTE = (
    "Synthetic ICBHI-format corpus written by respira.data.make_synthetic_icbhi; not real recordings."
)

# Patients per diagnosis in ICBHI 2017, used as sampling weights.
_DIAGNOSIS_WEIGHTS: dict[str, float] = {
    "Asthma": 1,
    "Bronchiectasis": 7,
    "Bronchiolitis": 6,
    "COPD": 64,
    "Healthy": 26,
    "LRTI": 2,
    "Pneumonia": 6,
    "URTI": 14,
}
_CHILD_PROBABILITY: dict[str, float] = {"Bronchiolitis": 1.0, "COPD": 0.0, "Asthma": 0.0}
_DEFAULT_CHILD_PROBABILITY = 0.4
_MOSTLY_NORMAL = frozenset({"Healthy", "URTI"})
# Per-cycle class shares (normal, crackle, wheeze, both) for healthy/URTI and for the other patients,
# chosen so that the corpus-wide mix comes out near LABEL_PROBABILITIES.
_HEALTHY_MIX = np.array([0.80, 0.10, 0.06, 0.04])
_DISEASED_MIX = np.array([0.355, 0.345, 0.165, 0.135])
_MIX_CONCENTRATION = 8.0
"""Dirichlet concentration of a recording's class mix around its patient's mix (lower: more clustered)."""

_DEVICE_HISS: dict[str, float] = {"AKGC417L": 0.03, "LittC2SE": 0.012, "Litt3200": 0.02, "Meditron": 0.025}
_WAV_SUBTYPE_24_BIT_MIN_RATE = 44100
_SPLIT_TRAIN_SHARE = 0.6
_MIN_SAMPLE_RATE = 2000


@dataclass(frozen=True)
class _Patient:
    patient_id: int
    diagnosis: str
    demographics: tuple[str, str, str, str, str]
    device: str
    mode: str


@dataclass
class _Recording:
    name: RecordingName
    patient: _Patient
    sample_rate: int
    subtype: str
    labels: np.ndarray
    split: str = "train"


# --------------------------------------------------------------------------------------------
# One recording
# --------------------------------------------------------------------------------------------


def _cycle_boundaries(rng: np.random.Generator, n_cycles: int) -> tuple[np.ndarray, float]:
    """Cycle edges in seconds (rounded to ms, contiguous, after a 0-0.3 s offset) and the tail length."""
    period = rng.uniform(1.9, 3.6)
    durations = np.clip(period * rng.uniform(0.8, 1.2, n_cycles), 1.5, 4.0)
    offset = rng.uniform(0.0, 0.3)
    boundaries = np.round(offset + np.concatenate([[0.0], np.cumsum(durations)]), 3)
    return boundaries, float(rng.uniform(0.1, 0.6))


def _synthesize(
    recording: _Recording, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[float, float, int, int]]]:
    """The audio (peak <= 0.9) and annotation rows of one recording."""
    sample_rate = recording.sample_rate
    n_cycles = len(recording.labels)
    boundaries, tail = _cycle_boundaries(rng, n_cycles)
    n_samples = int(np.ceil((boundaries[-1] + tail) * sample_rate))
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
    """Write a mono WAV file (the single point where audio reaches the disk)."""
    sf.write(path, audio, sample_rate, subtype=subtype, format="WAV")


# --------------------------------------------------------------------------------------------
# Corpus plan
# --------------------------------------------------------------------------------------------


def _number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _choose_children(rng: np.random.Generator, diagnoses: list[str], skip: int) -> np.ndarray:
    """Which patients are children: drawn by diagnosis, with at least one child and one adult.

    ``skip`` (the patient without demographics) does not count; a patient whose diagnosis rules out
    the missing age group (COPD child, bronchiolitis adult) is re-diagnosed with URTI, which occurs
    at every age.
    """
    probability = np.array([_CHILD_PROBABILITY.get(d, _DEFAULT_CHILD_PROBABILITY) for d in diagnoses])
    child = rng.random(len(diagnoses)) < probability
    candidates = [i for i in range(len(diagnoses)) if i != skip]
    for want in (True, False):
        if any(child[i] == want for i in candidates):
            continue
        allowed = [i for i in candidates if (probability[i] > 0 if want else probability[i] < 1)]
        pick = (allowed or candidates)[int(rng.integers(len(allowed or candidates)))]
        if not allowed:
            diagnoses[pick] = "URTI"
        child[pick] = want
    return child


def _demographics(rng: np.random.Generator, diagnosis: str, child: bool) -> tuple[str, str, str, str, str]:
    """Age, sex, adult BMI, child weight, child height as the demographic file writes them."""
    sex = "M" if rng.random() < 0.5 else "F"
    if child:
        age = rng.uniform(0.25, 1.0) if rng.random() < 0.3 else float(rng.integers(1, 17))
        height = 70 + 6.0 * age + rng.normal(0, 5)
        weight = max(4.0, 8.0 + 2.4 * age + rng.normal(0, 2))
        return (_number(age, 2), sex, "NA", _number(weight, 1), _number(height, 0))
    low_age = 50 if diagnosis == "COPD" else 18
    age = float(rng.integers(low_age, 89))
    return (_number(age, 0), sex, _number(rng.uniform(18.0, 35.0), 2), "NA", "NA")


def _plan_patients(rng: np.random.Generator, n_patients: int) -> list[_Patient]:
    names = list(DIAGNOSES)
    weights = np.array([_DIAGNOSIS_WEIGHTS.get(name, 1.0) for name in names], dtype=np.float64)
    drawn = rng.choice(len(names), size=n_patients, p=weights / weights.sum())
    diagnoses = [names[int(k)] for k in drawn]
    devices = list(DEVICES)
    device_order = rng.permutation(n_patients)  # round robin: every device once n_patients >= 4
    no_demographics = int(rng.integers(n_patients))  # like real patient 223
    children = _choose_children(rng, diagnoses, no_demographics)
    patients = []
    for i in range(n_patients):
        diagnosis = diagnoses[i]
        device = devices[int(device_order[i]) % len(devices)]
        if device == "AKGC417L":
            mode = "mc"
        elif device == "LittC2SE":
            mode = "mc" if rng.random() < 0.5 else "sc"
        else:
            mode = "sc"
        demographics = _demographics(rng, diagnosis, bool(children[i]))
        if i == no_demographics:
            demographics = ("NA",) * 5
        patients.append(_Patient(101 + i, diagnosis, demographics, device, mode))
    return patients


def _recording_counts(
    rng: np.random.Generator, n_patients: int, bounds: tuple[int, int], n_recordings: int | None
) -> np.ndarray:
    """Recordings per patient, drawn from ``bounds``; rescaled to sum to ``n_recordings`` if given."""
    counts = rng.integers(bounds[0], bounds[1] + 1, size=n_patients)
    if n_recordings is None:
        return counts
    extra = n_recordings - n_patients  # every patient keeps at least one recording
    share = extra * counts / counts.sum()
    base = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - base), kind="stable")
    base[order[: extra - int(base.sum())]] += 1
    return 1 + base


def _plan_recordings(
    rng: np.random.Generator,
    patients: list[_Patient],
    counts: np.ndarray,
    cycles: tuple[int, int],
    sample_rates: Sequence[int],
) -> list[_Recording]:
    locations = list(CHEST_LOCATIONS)
    names: list[tuple[RecordingName, _Patient]] = []
    for patient, count in zip(patients, counts, strict=True):
        order = rng.permutation(len(locations))
        sessions: dict[int, str] = {}
        for j in range(int(count)):
            session = j // len(locations)
            if session not in sessions:
                letter = "p" if rng.random() < 0.15 else "b"
                sessions[session] = f"{session + 1}{letter}{int(rng.integers(1, 6))}"
            location = locations[int(order[j % len(locations)])]
            name = RecordingName(
                patient.patient_id, sessions[session], location, patient.mode, patient.device
            )
            names.append((name, patient))
    n = len(names)
    rate_order = rng.permutation(n)  # round robin: every rate occurs once n >= len(sample_rates)
    rates = [int(sample_rates[int(rate_order[i]) % len(sample_rates)]) for i in range(n)]
    n_cycles = rng.integers(cycles[0], cycles[1] + 1, size=n)
    recordings = []
    high_rate_seen = 0
    for i, (name, patient) in enumerate(names):
        subtype = "PCM_16"
        if rates[i] >= _WAV_SUBTYPE_24_BIT_MIN_RATE:
            subtype = "PCM_24" if high_rate_seen % 2 == 0 else "PCM_16"
            high_rate_seen += 1
        mix = _HEALTHY_MIX if patient.diagnosis in _MOSTLY_NORMAL else _DISEASED_MIX
        probabilities = rng.dirichlet(_MIX_CONCENTRATION * mix)
        labels = rng.choice(len(CLASS_NAMES), size=int(n_cycles[i]), p=probabilities)
        recordings.append(_Recording(name, patient, rates[i], subtype, labels))
    return recordings


def _assign_split(rng: np.random.Generator, recordings: list[_Recording]) -> None:
    """About 60 % of the recordings to train, by patient, with one patient on both sides."""
    by_patient: dict[int, list[_Recording]] = {}
    for recording in recordings:
        by_patient.setdefault(recording.name.patient_id, []).append(recording)
    patient_ids = [int(p) for p in rng.permutation(sorted(by_patient))]
    target = _SPLIT_TRAIN_SHARE * len(recordings)
    train = 0
    straddler = next((p for p in patient_ids if len(by_patient[p]) >= 2), None)
    if straddler is not None:
        patient_ids.remove(straddler)
        own = by_patient[straddler]
        half = len(own) // 2
        for k, recording in enumerate(own):
            recording.split = "train" if k < half else "test"
        train += half
    sides: dict[str, list[int]] = {"train": [], "test": []}
    for patient_id in patient_ids:
        count = len(by_patient[patient_id])
        side = "train" if abs(train + count - target) <= abs(train - target) else "test"
        train += count if side == "train" else 0
        sides[side].append(patient_id)
    for side, other in (("train", "test"), ("test", "train")):
        if not sides[side] and straddler is None:  # keep both sides non-empty
            sides[side].append(sides[other].pop())
    for side, ids in sides.items():
        for patient_id in ids:
            for recording in by_patient[patient_id]:
                recording.split = side


def _cover_classes(rng: np.random.Generator, recordings: list[_Recording]) -> None:
    """Relabel a few cycles so that every class occurs in both train and test."""
    for side in ("train", "test"):
        slots = [(r, k) for r in recordings if r.split == side for k in range(len(r.labels))]
        if len(slots) < len(CLASS_NAMES):
            raise ValueError(
                f"the {side} split would hold only {len(slots)} cycles, too few for all "
                f"{len(CLASS_NAMES)} classes: raise n_patients or cycles_per_recording"
            )
        for missing in range(len(CLASS_NAMES)):
            labels = np.array([r.labels[k] for r, k in slots])
            counts = np.bincount(labels, minlength=len(CLASS_NAMES))
            if counts[missing]:
                continue
            donors = np.flatnonzero(labels == int(np.argmax(counts)))
            recording, k = slots[int(rng.choice(donors))]
            recording.labels[k] = missing


def _adjust_cycle_counts(
    rng: np.random.Generator, counts: np.ndarray, total: int, bounds: tuple[int, int], side: str
) -> np.ndarray:
    """Add or remove single cycles at random recordings (within ``bounds``) until they sum to ``total``."""
    low, high = bounds
    if not low * len(counts) <= total <= high * len(counts):
        raise ValueError(
            f"cannot give the {len(counts)} {side} recordings exactly {total} cycles with "
            f"cycles_per_recording={bounds}: widen the range or change n_patients"
        )
    counts = counts.copy()
    while (difference := total - int(counts.sum())) != 0:
        step = 1 if difference > 0 else -1
        eligible = np.flatnonzero(counts < high if step > 0 else counts > low)
        chosen = rng.choice(eligible, size=min(abs(difference), len(eligible)), replace=False)
        counts[chosen] += step
    return counts


def _match_published_counts(
    rng: np.random.Generator, recordings: list[_Recording], bounds: tuple[int, int]
) -> None:
    """Resize and relabel cycles so that each split has ICBHI's cycle and class counts exactly.

    A recording that grows repeats some of its own labels (keeping its class mix); then randomly
    chosen cycles of over-represented classes take the classes that are short.
    """
    for side, total in OFFICIAL_SPLIT_CYCLES.items():
        members = [r for r in recordings if r.split == side]
        sizes = _adjust_cycle_counts(rng, np.array([len(r.labels) for r in members]), total, bounds, side)
        for recording, size in zip(members, sizes, strict=True):
            grown = rng.choice(recording.labels, size=max(0, int(size) - len(recording.labels)))
            recording.labels = np.concatenate([recording.labels, grown])[: int(size)]
        labels = np.concatenate([r.labels for r in members])
        target = np.array([OFFICIAL_CLASS_COUNTS[side][name] for name in CLASS_NAMES])
        excess = np.bincount(labels, minlength=len(CLASS_NAMES)) - target
        donors = np.concatenate(
            [
                rng.choice(np.flatnonzero(labels == c), size=int(excess[c]), replace=False)
                for c in range(len(CLASS_NAMES))
                if excess[c] > 0
            ]
            or [np.zeros(0, dtype=np.int64)]
        )
        labels[donors] = np.repeat(np.arange(len(CLASS_NAMES)), np.maximum(-excess, 0))
        for recording, part in zip(members, np.split(labels, np.cumsum(sizes)[:-1]), strict=True):
            recording.labels = part


def _plan_corpus(
    seed: int,
    *,
    n_patients: int,
    recordings_per_patient: tuple[int, int],
    cycles_per_recording: tuple[int, int],
    sample_rates: Sequence[int],
    n_recordings: int | None,
    icbhi_counts: bool,
) -> tuple[list[_Patient], list[_Recording]]:
    rng = np.random.default_rng(seed)
    patients = _plan_patients(rng, n_patients)
    counts = _recording_counts(rng, n_patients, recordings_per_patient, n_recordings)
    recordings = _plan_recordings(rng, patients, counts, cycles_per_recording, sample_rates)
    _assign_split(rng, recordings)
    if icbhi_counts:
        _match_published_counts(rng, recordings, cycles_per_recording)
    else:
        _cover_classes(rng, recordings)
    return patients, recordings


def _check_arguments(
    n_patients: int,
    *,
    recordings_per_patient: tuple[int, int],
    cycles_per_recording: tuple[int, int],
    sample_rates: Sequence[int],
    n_recordings: int | None,
    icbhi_counts: bool,
) -> None:
    if n_patients < MIN_PATIENTS:
        raise ValueError(
            f"n_patients={n_patients}: at least {MIN_PATIENTS} patients are needed to put every class "
            "in both the train and the test split"
        )
    for what, (low, high) in (
        ("recordings_per_patient", recordings_per_patient),
        ("cycles_per_recording", cycles_per_recording),
    ):
        if not 1 <= low <= high:
            raise ValueError(f"{what}=({low}, {high}) should be (low, high) with 1 <= low <= high")
    if not sample_rates or any(int(rate) < _MIN_SAMPLE_RATE for rate in sample_rates):
        raise ValueError(
            f"sample_rates={tuple(sample_rates)} should be non-empty rates of at least {_MIN_SAMPLE_RATE} Hz"
        )
    if icbhi_counts and n_patients > NUM_RECORDINGS:
        raise ValueError(
            f"icbhi_counts=True makes {NUM_RECORDINGS} recordings: n_patients={n_patients} is too many"
        )
    if n_recordings is not None and n_recordings < n_patients:
        raise ValueError(
            f"n_recordings={n_recordings} is fewer than n_patients={n_patients} "
            "(every patient has at least one recording)"
        )
    if icbhi_counts and n_recordings not in (None, NUM_RECORDINGS):
        raise ValueError(
            f"icbhi_counts=True makes {NUM_RECORDINGS} recordings, not n_recordings={n_recordings}"
        )


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _write_text(path: Path, lines: list[str], newline: str) -> None:
    path.write_bytes("".join(line + newline for line in lines).encode("ascii"))


def _write_corpus(
    root: Path, patients: list[_Patient], recordings: list[_Recording], seed_sequence: np.random.SeedSequence
) -> None:
    folder = root / RECORDINGS_FOLDER
    folder.mkdir()
    # One generator per recording, derived from the seed and the recording's position in the plan.
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


def make_synthetic_icbhi(
    out_dir: str | Path,
    n_patients: int = 12,
    *,
    seed: int = 0,
    recordings_per_patient: tuple[int, int] = (1, 3),
    cycles_per_recording: tuple[int, int] = (4, 9),
    sample_rates: Sequence[int] = (4000, 10000, 44100),
    overwrite: bool = False,
    n_recordings: int | None = None,
    icbhi_counts: bool = False,
) -> Path:
    """Write a synthetic ICBHI-format corpus to ``out_dir`` and return ``Path(out_dir)``.

    Args:
        out_dir: folder to create; it receives ``ICBHI_final_database/`` (one ``.wav`` and ``.txt``
            per recording) and the split, diagnosis and demographic files of the official release.
        n_patients: number of patients (ids 101, 102, ...); at least 6.
        seed: everything (names, labels, audio) follows from it; the same arguments give
            byte-identical files.
        recordings_per_patient: inclusive range of recordings drawn per patient.
        cycles_per_recording: inclusive range of respiratory cycles per recording (1.5-4 s each).
        sample_rates: rates the recordings are spread over (round robin in a seeded order); rates of
            44.1 kHz and more alternate between 24- and 16-bit PCM, the others are 16-bit.
        overwrite: replace an existing non-empty ``out_dir`` instead of raising.
        n_recordings: if given, exactly this many recordings, spread over the patients in
            proportion to counts drawn from ``recordings_per_patient`` (each patient keeps at least
            one). Note that :func:`respira.data.read_icbhi_index` takes a corpus of exactly 920
            recordings for the complete database and checks the published counts: use
            ``icbhi_counts`` for that size.
        icbhi_counts: reproduce the published ICBHI counts exactly: 920 recordings, 6898 cycles,
            4142 train / 2756 test with the official class counts of each split (cycle counts stay
            within ``cycles_per_recording``). ``make_synthetic_icbhi(out, **FULL_SIZE)`` gives such
            a corpus with 126 patients, about 5.3 hours of audio.

    Raises:
        ValueError: for fewer than 6 patients, empty or inverted ranges, ``n_recordings`` below
            ``n_patients``, a corpus too small to hold every class on both sides of the split, or
            published counts that ``cycles_per_recording`` cannot reach.
        FileExistsError: ``out_dir`` exists, is not an empty folder, and ``overwrite`` is false.

    The corpus is written to a temporary sibling folder that replaces ``out_dir`` only once it is
    complete; on any error the temporary folder is removed and ``out_dir`` is left untouched.
    """
    out = Path(out_dir)
    _check_arguments(
        n_patients,
        recordings_per_patient=recordings_per_patient,
        cycles_per_recording=cycles_per_recording,
        sample_rates=sample_rates,
        n_recordings=n_recordings,
        icbhi_counts=icbhi_counts,
    )
    if icbhi_counts:
        n_recordings = NUM_RECORDINGS
    if is_occupied(out) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True to replace it")
    patients, recordings = _plan_corpus(
        seed,
        n_patients=n_patients,
        recordings_per_patient=recordings_per_patient,
        cycles_per_recording=cycles_per_recording,
        sample_rates=sample_rates,
        n_recordings=n_recordings,
        icbhi_counts=icbhi_counts,
    )
    filled = f"{out} was filled while the corpus was written; pass overwrite=True"
    with staged_folder(out, overwrite=overwrite, exists_message=filled) as staging:
        _write_corpus(staging, patients, recordings, np.random.SeedSequence(seed))
    return out

"""The plan of a synthetic corpus: patients, recordings, cycle labels and split, from one seeded generator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.corpus_files import (
    CHEST_LOCATIONS,
    DEVICES,
    DIAGNOSES,
    NUM_RECORDINGS,
    OFFICIAL_CLASS_COUNTS,
    OFFICIAL_SPLIT_CYCLES,
    RecordingName,
)
from ..models.respira.labels import CLASS_NAMES

MIN_PATIENTS = 6

_DIAGNOSIS_WEIGHTS = np.array([1, 7, 6, 64, 26, 2, 6, 14], dtype=np.float64)  # ICBHI's patients per DIAGNOSES
_CHILD_PROBABILITY: dict[str, float] = {"Bronchiolitis": 1.0, "COPD": 0.0, "Asthma": 0.0}
_DEFAULT_CHILD_PROBABILITY = 0.4
_MOSTLY_NORMAL = frozenset({"Healthy", "URTI"})
# Per-cycle class shares (normal, crackle, wheeze, both) for healthy/URTI and for the other patients,
# chosen so that the corpus-wide mix comes out near 50 / 27 / 13 / 10 % (ICBHI: 52.8 / 27.0 / 12.8 / 7.3 %).
_HEALTHY_MIX = np.array([0.80, 0.10, 0.06, 0.04])
_DISEASED_MIX = np.array([0.355, 0.345, 0.165, 0.135])
_MIX_CONCENTRATION = 8.0
"""Dirichlet concentration of a recording's class mix around its patient's mix (lower: more clustered)."""

_WAV_SUBTYPE_24_BIT_MIN_RATE = 44100
_SPLIT_TRAIN_SHARE = 0.6
_MIN_SAMPLE_RATE = 2000


@dataclass(frozen=True)
class Patient:
    """One patient of the plan: id, diagnosis, demographic fields as written, device and mode."""

    patient_id: int
    diagnosis: str
    demographics: tuple[str, str, str, str, str]
    device: str
    mode: str


@dataclass
class Recording:
    """One recording of the plan: its name, patient, rate, WAV subtype, cycle labels and split side."""

    name: RecordingName
    patient: Patient
    sample_rate: int
    subtype: str
    labels: np.ndarray
    split: str = "train"


def _number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _choose_children(rng: np.random.Generator, diagnoses: list[str], skip: int) -> np.ndarray:
    """Which patients are children: drawn by diagnosis, with at least one child and one adult."""
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


def _plan_patients(rng: np.random.Generator, n_patients: int) -> list[Patient]:
    drawn = rng.choice(len(DIAGNOSES), size=n_patients, p=_DIAGNOSIS_WEIGHTS / _DIAGNOSIS_WEIGHTS.sum())
    diagnoses = [DIAGNOSES[int(k)] for k in drawn]
    devices = list(DEVICES)
    device_order = rng.permutation(n_patients)  # round robin: every device once n_patients >= 4
    no_demographics = int(rng.integers(n_patients))  # like real patient 223
    children = _choose_children(rng, diagnoses, no_demographics)
    patients = []
    for i, diagnosis in enumerate(diagnoses):
        device = devices[int(device_order[i]) % len(devices)]
        multichannel = device == "AKGC417L" or (device == "LittC2SE" and rng.random() < 0.5)
        demographics = _demographics(rng, diagnosis, bool(children[i]))
        if i == no_demographics:
            demographics = ("NA",) * 5
        patients.append(Patient(101 + i, diagnosis, demographics, device, "mc" if multichannel else "sc"))
    return patients


def _recording_counts(
    rng: np.random.Generator, n_patients: int, bounds: tuple[int, int], icbhi_counts: bool
) -> np.ndarray:
    """Recordings per patient, drawn from ``bounds``; with ``icbhi_counts`` rescaled to sum to ICBHI's."""
    counts = rng.integers(bounds[0], bounds[1] + 1, size=n_patients)
    if not icbhi_counts:
        return counts
    extra = NUM_RECORDINGS - n_patients  # every patient keeps at least one recording
    share = extra * counts / counts.sum()
    base = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - base), kind="stable")
    base[order[: extra - int(base.sum())]] += 1
    return 1 + base


def _plan_recordings(
    rng: np.random.Generator,
    patients: list[Patient],
    counts: np.ndarray,
    cycles: tuple[int, int],
    sample_rates: Sequence[int],
) -> list[Recording]:
    locations = list(CHEST_LOCATIONS)
    names: list[tuple[RecordingName, Patient]] = []
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
        recordings.append(Recording(name, patient, rates[i], subtype, labels))
    return recordings


def _assign_split(rng: np.random.Generator, recordings: list[Recording]) -> None:
    """About 60 % of the recordings to train, by patient, with one patient on both sides."""
    by_patient: dict[int, list[Recording]] = {}
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


def _cover_classes(rng: np.random.Generator, recordings: list[Recording]) -> None:
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
    rng: np.random.Generator, recordings: list[Recording], bounds: tuple[int, int]
) -> None:
    """Resize and relabel cycles so that each split has ICBHI's cycle and class counts exactly."""
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


def plan_corpus(
    seed: int,
    *,
    n_patients: int,
    recordings_per_patient: tuple[int, int],
    cycles_per_recording: tuple[int, int],
    sample_rates: Sequence[int],
    icbhi_counts: bool,
) -> tuple[list[Patient], list[Recording]]:
    """The patients and recordings of a corpus; ``ValueError`` for arguments that cannot make one."""
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
    rng = np.random.default_rng(seed)
    patients = _plan_patients(rng, n_patients)
    counts = _recording_counts(rng, n_patients, recordings_per_patient, icbhi_counts)
    recordings = _plan_recordings(rng, patients, counts, cycles_per_recording, sample_rates)
    _assign_split(rng, recordings)
    if icbhi_counts:
        _match_published_counts(rng, recordings, cycles_per_recording)
    else:
        _cover_classes(rng, recordings)
    return patients, recordings

"""The KAUH lung-sound corpus (Fraiwan et al., Data in Brief 35, 2021) as a ``datasets`` builder: one
example per recording, all in one ``test`` split. Every recording exists once per stethoscope filter mode,
every mode must hold the same patients, and a recording carries all its labels in its name::

    {filter}P{patient}_{diagnosis},{sound},{location},{age},{sex}.wav
    BP12_Asthma,E W,P L L,50,F.wav      bell filter, patient 12, asthma, expiratory wheeze,
                                        posterior left lower, 50 years, female

The names were typed by hand; spelling is normalised, never rejected, except an unknown sound code
(:class:`KAUHNameError`: labels are never guessed). ``BRON`` is read as bronchiectasis, a judgement (every
``BRON`` recording has crackles). Sound codes: ``N`` normal, ``C`` crackles, ``W`` wheeze, ``B`` bronchial
breathing, ``I``/``E`` inspiratory/expiratory, qualifying the sound that follows. A name with more than
five fields loses its empty ones, then keeps its last three as location, age and sex, the trailing sound
codes before them as the sound, the rest as the diagnosis.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import datasets
import pandas as pd

from ..models.respira.labels import RECORDING_LABELS
from .corpus_files import (
    AUDIO_SUFFIXES,
    DataDir,
    FolderClaims,
    files_fingerprint,
    files_in,
    locate_folders,
    merged_fingerprint,
    walk_dirs,
)
from .errors import CorpusCountError, CorpusFormatError, LayoutNotFoundError
from .loaders import FolderBuilder, WholeRecordings, load_folder

FILTER_MODES: dict[str, str] = {"B": "bell", "D": "diaphragm", "E": "extended"}
"""Name prefix letter → filter mode of the 3M Littmann 3200 (each recording exists once per mode)."""

SOUND_ALIASES: dict[str, str] = {
    **dict.fromkeys(("n", "normal"), "N"),
    **dict.fromkeys(("c", "crep", "creps", "crepitation", "crepitations", "crackle", "crackles"), "C"),
    **dict.fromkeys(("w", "wheeze", "wheezes"), "W"),
    **dict.fromkeys(("b", "bronchial"), "B"),
    **{"i": "I", "e": "E"},
}
"""Lower-case spelling in a file name → normalised sound code."""

DIAGNOSES: dict[str, str] = {
    **dict.fromkeys(("n", "normal", "healthy"), "Healthy"),
    **{"asthma": "Asthma", "copd": "COPD", "heart failure": "Heart failure", "pneumonia": "Pneumonia"},
    **dict.fromkeys(("lung fibrosis", "pulmonary fibrosis"), "Lung fibrosis"),
    **dict.fromkeys(("bron", "bronchiectasis"), "Bronchiectasis"),
    **dict.fromkeys(("pleural effusion", "plueral effusion"), "Pleural effusion"),
}
"""Lower-case diagnosis spelling (spaces collapsed) → canonical name."""

LOCATION_CODES: frozenset[str] = frozenset("APLRUM")
"""Letters of a chest location: A/P anterior/posterior, L/R left/right, U/M/L upper/middle/lower."""

_PREFIX = re.compile(r"^\s*([BDE])\s*P\s*(\d+)\s*$", re.IGNORECASE)
_DIAGNOSIS_JOINERS = re.compile(r"\s*(?:\+|&|/|\band\b)\s*", re.IGNORECASE)
_SOUND_SEPARATORS = re.compile(r"[\s+&/.]+")
_MISSING = {"", "na", "n/a", "nan", "none", "?", "-"}
_SEX = {"m": "M", "male": "M", "f": "F", "female": "F"}
_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:y|yr|yrs|years?)?$", re.IGNORECASE)
_FIELDS = "{diagnosis},{sound},{location},{age},{sex}"


class KAUHNameError(ValueError):
    """A file name that cannot be read as a KAUH recording's labels (the message says which part)."""


def looks_like_kauh(stem: str) -> bool:
    """Whether a file stem starts like a KAUH recording (``BP12_``, ``dp 3_``...), valid or not."""
    prefix, separator, _ = stem.partition("_")
    return bool(separator) and _PREFIX.match(prefix) is not None


def normalise_diagnosis(text: str) -> str:
    """The canonical diagnosis of a name's diagnosis field (an unknown one kept, capitalised)."""
    parts = [" ".join(part.split()) for part in _DIAGNOSIS_JOINERS.split(text.replace("_", " "))]
    names: list[str] = []
    for part in parts:
        if not part:
            continue
        known = DIAGNOSES.get(part.lower())
        if known is None:
            known = part if part.isupper() and len(part) <= 5 else part[:1].upper() + part[1:].lower()
        if known not in names:
            names.append(known)
    return " + ".join(names)


def parse_sound(text: str) -> tuple[str, ...]:
    """The normalised codes of a sound field (``"I C E W"`` → ``("I", "C", "E", "W")``);
    :class:`KAUHNameError` for an unknown code, no sound, or ``N`` with an adventitious sound."""
    tokens = [token for token in _SOUND_SEPARATORS.split(text) if token]
    codes = []
    for token in tokens:
        code = SOUND_ALIASES.get(token.lower())
        if code is None:
            raise KAUHNameError(
                f"unknown sound code {token!r} in the sound field {text.strip()!r} (known: N normal, "
                "C or Crep crackles, W wheeze, B or Bronchial bronchial breathing, I/E inspiratory/"
                "expiratory)"
            )
        codes.append(code)
    sounds = {code for code in codes if code not in ("I", "E")}
    if not sounds:
        raise KAUHNameError(f"the sound field {text.strip()!r} names no sound (N, C, W or B)")
    if "N" in sounds and len(sounds) > 1:
        raise KAUHNameError(f"the sound field {text.strip()!r} is both normal (N) and adventitious")
    return tuple(codes)


def _parse_location(text: str) -> str:
    letters = [letter for token in text.split() for letter in token.upper()]
    unknown = sorted({letter for letter in letters if letter not in LOCATION_CODES})
    if unknown or not letters:
        raise KAUHNameError(
            f"chest location {text.strip()!r} is not made of A/P, L/R and U/M/L letters"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return " ".join(letters)


def _parse_age(text: str) -> float | None:
    text = text.strip()
    if text.lower() in _MISSING:
        return None
    match = _AGE.match(text)
    if match is None:
        raise KAUHNameError(f"age {text!r} is not a number of years")
    return float(match.group(1))


def _parse_sex(text: str) -> str | None:
    text = text.strip().lower()
    if text in _MISSING:
        return None
    if text not in _SEX:
        raise KAUHNameError(f"sex {text!r} is not M or F")
    return _SEX[text]


def _is_sound(text: str) -> bool:
    try:
        parse_sound(text)
    except KAUHNameError:
        return False
    return True


@dataclass(frozen=True)
class KAUHName:
    """The labels a KAUH file name carries, normalised."""

    stem: str
    filter_mode: str
    patient_id: int
    diagnosis: str | None
    sound: tuple[str, ...]
    chest_location: str
    age: float | None
    sex: str | None

    @property
    def crackle(self) -> int:
        return int("C" in self.sound)

    @property
    def wheeze(self) -> int:
        return int("W" in self.sound)

    @property
    def normal(self) -> int:
        return int("N" in self.sound)

    @classmethod
    def parse(cls, stem: str) -> KAUHName:
        """Parse a file stem (the name without ``.wav``); :class:`KAUHNameError` says what is wrong."""
        prefix, separator, rest = stem.partition("_")
        match = _PREFIX.match(prefix)
        if not separator or match is None:
            raise KAUHNameError(
                f"not named like a KAUH recording ({{B|D|E}}P{{patient}}_{_FIELDS}, e.g. "
                "BP12_Asthma,E W,P L L,50,F.wav)"
            )
        fields = [part.strip() for part in rest.replace("_", " ").split(",")]
        while len(fields) > 5 and "" in fields:  # a doubled or trailing comma
            fields.remove("")
        if len(fields) < 5:
            raise KAUHNameError(
                f"expected 5 comma-separated fields after {prefix.strip()}_ ({_FIELDS}), found "
                f"{len(fields)}: {fields}"
            )
        middle = fields[1:-3]
        first_sound = len(middle) - 1  # the last middle field is the sound; earlier sound fields join it
        while first_sound > 0 and _is_sound(middle[first_sound - 1]):
            first_sound -= 1
        for entry in middle[:first_sound]:
            if all(len(token) == 1 for token in _SOUND_SEPARATORS.split(entry) if token):
                parse_sound(entry)  # single letters are codes, not a diagnosis: name the unknown one
        diagnosis = " + ".join([fields[0], *middle[:first_sound]])
        sound = parse_sound(" ".join(middle[first_sound:]))
        return cls(
            stem=stem,
            filter_mode=FILTER_MODES[match.group(1).upper()],
            patient_id=int(match.group(2)),
            diagnosis=normalise_diagnosis(diagnosis) or None,
            sound=sound,
            chest_location=_parse_location(fields[-3]),
            age=_parse_age(fields[-2]),
            sex=_parse_sex(fields[-1]),
        )


FILTER_MODE_NAMES: tuple[str, ...] = tuple(FILTER_MODES.values())  # bell, diaphragm, extended


class KAUHWarning(UserWarning):
    """Something in a KAUH folder is left out or looks inconsistent; the build goes on."""


@dataclass(frozen=True)
class KAUHLayout:
    """Where the recordings of one KAUH corpus live (in one folder, or several: :attr:`parts`)."""

    root: Path
    recordings_dir: Path
    audio_files: dict[str, Path] = field(repr=False)
    parts: tuple[KAUHLayout, ...] = field(default=(), repr=False)
    """A corpus spanning several folders: each folder's own layout (the fields above merge them)."""

    @property
    def place(self) -> str:
        """Where its recordings are, as messages name it (each folder's recordings folder)."""
        return " and ".join(str(part.recordings_dir) for part in self.parts or (self,))

    def fingerprint(self) -> str:
        """A hash of every recording's name, size and modification time."""
        if self.parts:
            return merged_fingerprint(self.parts)
        return files_fingerprint(self.root, self.audio_files.values())


def locate_kauh(data_dir: DataDir) -> KAUHLayout:
    """Find the folder of KAUH recordings: ``data_dir`` or the first folder below it (3 levels) with them; or
    in each of a list of folders that together hold one corpus (no recording and no patient in two)."""
    return locate_folders(data_dir, "KAUH data_dir", _locate_folder, _merged)


def _locate_folder(root: Path) -> KAUHLayout:
    for folder in [root, *walk_dirs(root)]:
        audio = files_in(folder, AUDIO_SUFFIXES)  # not the xlsx annotation
        recordings = {stem: path for stem, path in audio.items() if looks_like_kauh(stem)}
        others = [path for stem, path in audio.items() if stem not in recordings]
        if recordings:
            if others:
                warnings.warn(
                    f"{len(others)} audio file(s) in {folder} are not named like KAUH recordings "
                    f"and are left out; first: {others[0].name}",
                    KAUHWarning,
                    stacklevel=2,
                )
            return KAUHLayout(root=root, recordings_dir=folder, audio_files=recordings)
    raise LayoutNotFoundError(
        f"no KAUH recordings (audio files named like 'BP12_Asthma,E W,P L L,50,F.wav') in {root} "
        "or in the folders below it"
    )


def _merged(parts: list[KAUHLayout]) -> KAUHLayout:
    """One layout of several folders'; a format error naming both files for a recording (a patient's
    filter mode), or a patient, that two folders hold."""
    claims = FolderClaims()
    for part in parts:
        for stem, path in part.audio_files.items():
            name = _parsed(stem, path)
            claims.claim(path, part.root, (name.filter_mode, name.patient_id), name.patient_id)
    audio = {stem: path for part in parts for stem, path in part.audio_files.items()}
    return KAUHLayout(parts[0].root, parts[0].recordings_dir, audio, parts=tuple(parts))


def _parsed(stem: str, path: Path) -> KAUHName:
    """``stem``'s labels; a format error naming ``path`` when it cannot be read."""
    try:
        return KAUHName.parse(stem)
    except KAUHNameError as error:
        raise CorpusFormatError(path, str(error)) from None


def read_kauh_index(data_dir: DataDir) -> pd.DataFrame:
    """One row per KAUH recording, from the file names alone."""
    index = KAUH.read_index(data_dir)
    index["sound"] = index["sound"].map(tuple)
    index["age"] = index["age"].astype("Float64")
    return index


def kauh_names(layout: KAUHLayout) -> list[KAUHName]:
    """The parsed name of every recording, by filter mode then patient, after the structure checks."""
    names: dict[tuple[str, int], KAUHName] = {}
    for stem, path in layout.audio_files.items():
        name = _parsed(stem, path)
        key = (name.filter_mode, name.patient_id)
        if key in names:
            raise CorpusFormatError(
                path,
                f"duplicate recording: {layout.audio_files[names[key].stem].name} is also the "
                f"{name.filter_mode} recording of patient {name.patient_id}; keep one of them",
            )
        names[key] = name
    _check_filter_modes(layout, list(names.values()))
    return [names[key] for key in sorted(names, key=lambda k: (FILTER_MODE_NAMES.index(k[0]), k[1]))]


def _recordings(layout: KAUHLayout) -> list[dict[str, Any]]:
    """The builder's task of each recording (:class:`~respira.data.loaders.FolderBuilder`)."""
    return [
        {
            "path": str(layout.audio_files[name.stem]),
            "segments": None,
            "columns": {
                "recording": name.stem,
                "patient_id": name.patient_id,
                "filter_mode": name.filter_mode,
                "diagnosis": name.diagnosis,
                "sound": list(name.sound),
                "crackle": name.crackle,
                "wheeze": name.wheeze,
                "normal": name.normal,
                "chest_location": name.chest_location,
                "age": name.age,
                "sex": name.sex,
            },
        }
        for name in kauh_names(layout)
    ]


def _check_filter_modes(layout: KAUHLayout, names: list[KAUHName]) -> None:
    """Every filter mode holds the same patients; differing labels are reported."""
    by_mode: dict[str, set[int]] = defaultdict(set)
    by_patient: dict[int, list[KAUHName]] = defaultdict(list)
    for name in names:
        by_mode[name.filter_mode].add(name.patient_id)
        by_patient[name.patient_id].append(name)
    modes = [mode for mode in FILTER_MODE_NAMES if mode in by_mode]
    patients = set().union(*by_mode.values())
    missing = [
        f"patient {patient} has no {mode} recording ({mode[0].upper()}P{patient}_...)"
        for patient in sorted(patients)
        for mode in modes
        if patient not in by_mode[mode]
    ]
    if missing:
        counts = ", ".join(f"{mode} {len(by_mode[mode])}" for mode in modes)
        raise CorpusCountError(
            f"{layout.place}: every KAUH recording exists once per filter mode, but the modes "
            f"hold different patients (recordings per mode: {counts}): "
            + "; ".join(missing[:5])
            + (f"; and {len(missing) - 5} more" if len(missing) > 5 else "")
        )
    for patient, recordings in sorted(by_patient.items()):
        labels = {(n.diagnosis, n.sound, n.chest_location, n.age, n.sex) for n in recordings}
        if len(labels) > 1:
            warnings.warn(
                f"the {len(recordings)} recordings of KAUH patient {patient} carry different labels: "
                + "; ".join(sorted(n.stem for n in recordings)),
                KAUHWarning,
                stacklevel=3,
            )


class KAUH(FolderBuilder, WholeRecordings, datasets.GeneratorBasedBuilder):
    """KAUH lung sounds from a local folder: one example per recording, all in a ``test`` split."""

    LOCATE = staticmethod(locate_kauh)
    layout: KAUHLayout

    COLUMNS: ClassVar[dict[str, Any]] = {
        "recording": datasets.Value("string"),
        "patient_id": datasets.Value("int32"),
        **{name: datasets.Value("string") for name in ("filter_mode", "diagnosis")},
        "sound": datasets.List(datasets.Value("string")),
        **{flag: datasets.Value("int8") for flag in RECORDING_LABELS},
        "chest_location": datasets.Value("string"),
        "age": datasets.Value("float64"),
        "sex": datasets.Value("string"),
    }

    RECORDINGS = staticmethod(_recordings)


def load_kauh(data_dir: DataDir, **options: Any) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Build (or load from cache) the KAUH dataset from a local folder, or a list of folders that together
    hold one corpus: one ``test`` split of recordings (``options``:
    :func:`~respira.data.loaders.load_folder`'s)."""
    return load_folder(KAUH, load_kauh, data_dir, **options)

"""A corpus's files: the folder helpers every corpus module uses, and the ICBHI 2017 Respiratory Sound
Database (Rocha et al., Physiol. Meas. 40, 2019) as released: its facts, recording names and layout (the
official ``ICBHI_final_database/`` beside the split, diagnosis and demographic files, or
``audio_and_txt_files/`` with ``patient_diagnosis.csv``).

A recording stem has five ``_``-separated fields, e.g. ``101_1b1_Al_sc_Meditron``: patient id, recording
index, chest location, acquisition mode and device. The device suffix of 91 recordings changed between
releases, so the official split file is matched on the first four fields.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import CorpusFormatError, LayoutNotFoundError

CHEST_LOCATIONS: dict[str, str] = {
    "Tc": "trachea", "Al": "anterior left", "Ar": "anterior right", "Pl": "posterior left",
    "Pr": "posterior right", "Ll": "lateral left", "Lr": "lateral right",
}  # fmt: skip
ACQUISITION_MODES: dict[str, str] = {"sc": "single channel", "mc": "multichannel"}
DEVICES: dict[str, str] = {
    "AKGC417L": "AKG C417L microphone",
    "LittC2SE": "3M Littmann Classic II SE stethoscope",
    "Litt3200": "3M Littmann 3200 electronic stethoscope",
    "Meditron": "WelchAllyn Meditron stethoscope",
}
DIAGNOSES: tuple[str, ...] = (
    "Asthma", "Bronchiectasis", "Bronchiolitis", "COPD", "Healthy", "LRTI", "Pneumonia", "URTI",
)  # fmt: skip

PRIMARY_CORPUS = "icbhi"
"""The corpus whose cycles make every run's validation and test splits (a recipe's ``data_dir``); other
corpora join its training split."""
NUM_RECORDINGS = 920
NUM_PATIENTS = 126
NUM_CYCLES = 6898
OFFICIAL_SPLIT_CYCLES: dict[str, int] = {"train": 4142, "test": 2756}
OFFICIAL_CLASS_COUNTS: dict[str, dict[str, int]] = {
    "train": {"normal": 2063, "crackle": 1215, "wheeze": 501, "both": 363},
    "test": {"normal": 1579, "crackle": 649, "wheeze": 385, "both": 143},
}

_RECORDING_INDEX = re.compile(r"^\d+[a-z]\d+$")


def _one_of(names: dict[str, str]) -> str:
    return f" (expected one of {', '.join(names)})"


@dataclass(frozen=True)
class RecordingName:
    """The five fields of an ICBHI recording file stem."""

    patient_id: int
    recording_index: str
    chest_location: str
    acquisition_mode: str
    device: str

    @classmethod
    def parse(cls, stem: str) -> RecordingName:
        """Parse a stem such as ``101_1b1_Al_sc_Meditron``; raise ``ValueError`` naming the bad field."""
        fields = stem.split("_")
        if len(fields) != 5:
            raise ValueError(
                f"recording name {stem!r} should have 5 '_'-separated fields "
                f"(patient_recording-index_chest-location_acquisition-mode_device), found {len(fields)}"
            )
        patient, index, location, mode, device = fields
        for valid, problem in (
            (patient.isdigit(), f"patient id {patient!r} is not a number"),
            (_RECORDING_INDEX.match(index), f"recording index {index!r} is not like '1b1'"),
            (location in CHEST_LOCATIONS, f"unknown chest location {location!r}{_one_of(CHEST_LOCATIONS)}"),
            (mode in ACQUISITION_MODES, f"unknown acquisition mode {mode!r}{_one_of(ACQUISITION_MODES)}"),
            (device in DEVICES, f"unknown device {device!r}{_one_of(DEVICES)}"),
        ):
            if not valid:
                raise ValueError(f"recording name {stem!r}: {problem}")
        return cls(int(patient), index, location, mode, device)

    @property
    def stem(self) -> str:
        return "_".join((*map(str, self.key), self.device))

    @property
    def key(self) -> tuple[int, str, str, str]:
        """The first four fields: how split entries are matched to files (the device suffix may differ)."""
        return (self.patient_id, self.recording_index, self.chest_location, self.acquisition_mode)


RECORDING_FOLDERS: tuple[str, ...] = ("ICBHI_final_database", "audio_and_txt_files")
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac")
"""The audio files every reader takes (a corpus's, ``screen``'s, ``suggest``'s): what respira's one decoder
(:mod:`respira.models.respira.audio_decoding`) is tested to read: WAV, FLAC, Ogg Vorbis, Opus and MP3 through
libsndfile, AAC (``.m4a``, ``.aac``) through torchcodec."""
SPLIT_FILES: tuple[str, ...] = ("ICBHI_challenge_train_test.txt",)
DIAGNOSIS_FILES: tuple[str, ...] = ("ICBHI_Challenge_diagnosis.txt", "patient_diagnosis.csv")
DEMOGRAPHIC_FILES: tuple[str, ...] = ("ICBHI_Challenge_demographic_information.txt", "demographic_info.txt")
SYNTHETIC_MARKER = "SYNTHETIC_CORPUS.txt"
"""Marker file at the root of a generated corpus (:mod:`respira.synthetic` writes it)."""
_SEARCH_DEPTH = 3


@dataclass(frozen=True)
class CorpusLayout:
    """Where each file of one ICBHI corpus lives."""

    root: Path
    recordings_dir: Path
    annotation_files: dict[str, Path] = field(repr=False)
    audio_files: dict[str, Path] = field(repr=False)
    split_file: Path | None
    diagnosis_file: Path | None
    demographics_file: Path | None
    parts: tuple[CorpusLayout, ...] = field(default=(), repr=False)
    """A corpus spanning several folders: each folder's own layout (the fields above merge them)."""

    @property
    def folders(self) -> tuple[CorpusLayout, ...]:
        """The layout of each folder: :attr:`parts`, or this one."""
        return self.parts or (self,)

    @property
    def place(self) -> str:
        """Where its recordings are, as messages name it (each folder's recordings folder)."""
        return " and ".join(str(part.recordings_dir) for part in self.folders)

    def metadata_files(self, kind: str) -> list[Path]:
        """Each folder's ``split``, ``diagnosis`` or ``demographics`` file, in folder order."""
        found = (getattr(part, f"{kind}_file") for part in self.folders)
        return [path for path in found if path is not None]

    def fingerprint(self) -> str:
        """A hash of every input file's name, size and modification time."""
        if self.parts:
            return merged_fingerprint(self.parts)
        files = [*self.annotation_files.values(), *self.audio_files.values()]
        metadata = (self.split_file, self.diagnosis_file, self.demographics_file)
        return files_fingerprint(self.root, files + [p for p in metadata if p is not None])


def files_fingerprint(root: Path, files: Iterable[Path]) -> str:
    """A hash of the names, sizes and modification times of ``files``: the data part of a cache key."""
    digest = hashlib.sha256()
    for path in sorted(files):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def locate_corpus(data_dir: DataDir) -> CorpusLayout:
    """Find the recordings folder and metadata files of an ICBHI corpus under ``data_dir``: one folder, or
    a list of folders that together hold one corpus (no recording and no patient in two of them)."""
    return locate_folders(data_dir, "ICBHI data_dir", _locate_folder, _merged)


def _merged(parts: list[CorpusLayout]) -> CorpusLayout:
    """One layout of several folders' (their files side by side); a format error naming the file for a
    recording, or a patient, that two folders hold."""
    recordings, audio = FolderClaims(), FolderClaims()
    for part in parts:
        for path in part.annotation_files.values():
            name = RecordingName.parse(path.stem)
            recordings.claim(path, part.root, name.key, name.patient_id)
        for stem, path in part.audio_files.items():
            audio.claim(path, part.root, stem)
    annotations = {stem: path for part in parts for stem, path in part.annotation_files.items()}
    audio_files = {stem: path for part in parts for stem, path in part.audio_files.items()}
    first = parts[0]
    metadata = (
        next((getattr(p, f"{kind}_file") for p in parts if getattr(p, f"{kind}_file")), None)
        for kind in ("split", "diagnosis", "demographics")
    )  # the first folder's that has one; index_from_layout reads every folder's
    return CorpusLayout(
        first.root, first.recordings_dir, annotations, audio_files, *metadata, parts=tuple(parts)
    )


def _locate_folder(root: Path) -> CorpusLayout:
    recordings_dir = next(
        (
            folder
            for folder in walk_dirs(root)
            if folder.name in RECORDING_FOLDERS
            and any(_looks_like_recording(p) for p in folder.glob("*.txt"))
        ),
        root,
    )
    annotation_files, audio_files = _list_recordings(recordings_dir)
    if not annotation_files:
        raise LayoutNotFoundError(
            f"no ICBHI annotation files (named like 101_1b1_Al_sc_Meditron.txt) in {root} or in an "
            f"{' or '.join(RECORDING_FOLDERS)} folder below it"
        )
    metadata = (
        _find_file(root, names, recordings_dir) for names in (SPLIT_FILES, DIAGNOSIS_FILES, DEMOGRAPHIC_FILES)
    )
    return CorpusLayout(root, recordings_dir, annotation_files, audio_files, *metadata)


def _looks_like_recording(path: Path) -> bool:
    """A file named like an ICBHI recording (5 fields, numeric patient), valid or not."""
    fields = path.stem.split("_")
    return len(fields) == 5 and fields[0].isdigit()


DataDir = str | os.PathLike | Sequence[str | os.PathLike]
"""A corpus's ``data_dir``: one folder, or a list of the folders one corpus spans."""


def data_dirs(data_dir: DataDir) -> list[str | os.PathLike]:
    """``data_dir`` as a list of folders (one for a path), as given."""
    if isinstance(data_dir, (str, os.PathLike)):
        return [data_dir]
    return list(data_dir)


def resolved_dirs(data_dir: DataDir) -> str | list[str]:
    """``data_dir``'s folder resolved, or the list of its folders resolved (a run records it so)."""
    folders = [str(Path(folder).expanduser().resolve()) for folder in data_dirs(data_dir)]
    return folders[0] if len(folders) == 1 else folders


def shown_dirs(data_dir: DataDir) -> str:
    """``data_dir`` as messages name it: the folder, or the folders separated by spaces."""
    return " ".join(map(str, data_dirs(data_dir)))


def corpus_roots(data_dir: DataDir, name: str) -> list[Path]:
    """Each folder of ``data_dir`` (:func:`corpus_root`); a one-line error for no folder or one given
    twice."""
    roots = [corpus_root(folder, name) for folder in data_dirs(data_dir)]
    if not roots:
        raise ValueError(f"{name}: no folder given")
    seen: dict[Path, Path] = {}
    for root in roots:
        if root.resolve() in seen:
            first = seen[root.resolve()]
            raise ValueError(f"{name} names the folder {str(root)!r} twice (as {str(first)!r})")
        seen[root.resolve()] = root
    return roots


def corpus_root(data_dir: DataDir, name: str) -> Path:
    """``data_dir`` as a path; a one-line error calling it ``name`` (``--data_dir``) if it is no folder, or
    several folders (where one is read: :func:`corpus_roots` reads several)."""
    folders = data_dirs(data_dir)
    if len(folders) != 1:
        raise ValueError(f"{name} takes one folder here, got {len(folders)} ({', '.join(map(str, folders))})")
    root = Path(folders[0]).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{name} {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{name} {str(root)!r} is not a folder")
    return root


Layout = TypeVar("Layout")


def locate_folders(
    data_dir: DataDir,
    name: str,
    locate: Callable[[Path], Layout],
    merge: Callable[[list[Layout]], Layout],
) -> Layout:
    """A corpus's layout of ``data_dir``: ``locate(folder)`` of its one folder, or ``merge`` of each folder's
    layout (the folders checked first by :func:`corpus_roots`, ``name`` naming them in its errors)."""
    folders = corpus_roots(data_dir, name)
    if len(folders) == 1:
        return locate(folders[0])
    return merge([locate(folder) for folder in folders])


class FolderClaims:
    """The recordings and patients of a corpus read from several folders, each claimed by one folder: a
    recording, or a patient, found in a second folder is a format error naming both files."""

    def __init__(self) -> None:
        self._recordings: dict[Hashable, Path] = {}
        self._patients: dict[Hashable, tuple[Path, Path]] = {}

    def claim(self, path: Path, folder: Path, recording: Hashable, patient: Hashable | None = None) -> None:
        """``path`` (recording ``recording`` of ``patient``; ``None``: unknown) found in ``folder``."""
        if recording in self._recordings:
            raise CorpusFormatError(
                path, f"the same recording as {self._recordings[recording]}: two folders hold it; keep one"
            )
        self._recordings[recording] = path
        if patient is None:
            return
        owner, first = self._patients.setdefault(patient, (folder, path))
        if owner != folder:
            raise CorpusFormatError(
                path,
                f"patient {patient} has recordings in two folders (also {first}): keep each patient's "
                "recordings in one folder",
            )


def merged_fingerprint(parts: Iterable[Any]) -> str:
    """The fingerprint of a layout spanning several folders: of each folder's layout's ``fingerprint()``."""
    joined = "\n".join(part.fingerprint() for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def walk_dirs(root: Path, depth: int = _SEARCH_DEPTH) -> list[Path]:
    """Folders below ``root`` up to ``depth`` levels, breadth first, in name order."""
    found, frontier = [], [root]
    for _ in range(depth):
        frontier = sorted(d for parent in frontier for d in parent.iterdir() if d.is_dir())
        found.extend(frontier)
    return found


def files_in(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """The files of ``folder`` with one of ``suffixes`` (stem → path), hidden ones (``._x``) left out."""
    if not folder.is_dir():
        return {}
    return {
        path.stem: path
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in suffixes
    }


def _list_recordings(folder: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    annotations: dict[str, Path] = {}
    audio: dict[str, Path] = {}
    keys: dict[tuple[int, str, str, str], Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not _looks_like_recording(path):
            continue
        if path.suffix.lower() in AUDIO_SUFFIXES:
            if path.stem in audio:
                raise CorpusFormatError(
                    path, f"duplicate recording: audio already found in {audio[path.stem]}"
                )
            audio[path.stem] = path
            continue
        if path.suffix != ".txt":
            continue
        try:
            name = RecordingName.parse(path.stem)
        except ValueError as error:
            raise CorpusFormatError(path, str(error)) from None
        if name.key in keys:
            raise CorpusFormatError(
                path,
                f"duplicate recording: {keys[name.key].name} is the same recording "
                "(patient, recording index, chest location and acquisition mode); keep one of them",
            )
        keys[name.key] = path
        annotations[path.stem] = path
    return annotations, audio


def _find_file(root: Path, names: tuple[str, ...], recordings_dir: Path) -> Path | None:
    """The first of ``names`` found in ``root``, the recordings folder, or folders below ``root``."""
    for folder in [root, recordings_dir, *walk_dirs(root)]:
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def is_synthetic_corpus(data_dir: DataDir | None) -> bool:
    """Whether ``data_dir`` holds a generated corpus (:data:`SYNTHETIC_MARKER` at the root of a folder)."""
    return data_dir is not None and any(
        (Path(folder).expanduser() / SYNTHETIC_MARKER).is_file() for folder in data_dirs(data_dir)
    )

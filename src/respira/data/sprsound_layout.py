"""Find an SPRSound corpus in a folder, pair its audio with its JSON annotations, and check its structure."""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .errors import SPRSoundCountError, SPRSoundError, SPRSoundFormatError
from .layout import AUDIO_SUFFIXES, files_fingerprint, walk_dirs
from .sprsound_files import SPRSoundAnnotation, SPRSoundName, read_annotation
from .text_files import PartialCorpusWarning

PARTS: dict[str, tuple[str, str]] = {
    "train": ("train_wav", "train_json"),
    "inter_test": ("test_wav", "test_json/inter_test_json"),
    "intra_test": ("test_wav", "test_json/intra_test_json"),
}
"""Official part → (audio folder, annotation folder), relative to the corpus folder."""
OFFICIAL_PARTS: tuple[str, ...] = tuple(PARTS)
COMPLETE_PATIENTS = 292
"""Children of the complete SPRSound 2022 release."""
_SEARCH_DEPTH = 3


class SPRSoundWarning(UserWarning):
    """Something in an SPRSound folder looks inconsistent with the published release; the build goes on."""


@dataclass(frozen=True)
class SPRSoundLayout:
    """Where the recordings of one SPRSound corpus live: those with both a ``.wav`` and a ``.json``."""

    root: Path
    corpus_dir: Path
    audio_files: dict[str, Path] = field(repr=False)
    annotation_files: dict[str, Path] = field(repr=False)
    official_parts: dict[str, str] = field(repr=False)

    def fingerprint(self) -> str:
        """A hash of every recording's and annotation's name, size and modification time."""
        return files_fingerprint(self.root, [*self.audio_files.values(), *self.annotation_files.values()])


class SPRSoundRecording(NamedTuple):
    """One recording: its parsed name and annotation, official part and files."""

    name: SPRSoundName
    annotation: SPRSoundAnnotation
    part: str
    audio: Path
    json: Path


def _files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """The files of ``folder`` with one of ``suffixes`` (stem → path), hidden ones (``._x``) left out."""
    if not folder.is_dir():
        return {}
    return {
        path.stem: path
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in suffixes
    }


def locate_sprsound(data_dir: str | Path) -> SPRSoundLayout:
    """Find an SPRSound corpus: ``data_dir`` or the first folder below it (3 levels) in the official layout.

    Unpaired ``.wav`` / ``.json`` files are left out with one
    :class:`~respira.data.text_files.PartialCorpusWarning`.
    """
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"SPRSound data_dir {str(root)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"SPRSound data_dir {str(root)!r} is not a folder")
    for folder in [root, *walk_dirs(root, _SEARCH_DEPTH)]:
        if any((folder / audio).is_dir() and (folder / notes).is_dir() for audio, notes in PARTS.values()):
            return _layout(root, folder)
    from .corpora import layout_hint

    raise SPRSoundError(
        f"no SPRSound layout (train_wav/ with train_json/, or test_wav/ with test_json/inter_test_json/ or "
        f"test_json/intra_test_json/) in {root} or in the folders below it{layout_hint(root, 'sprsound')}"
    )


def _layout(root: Path, corpus: Path) -> SPRSoundLayout:
    audio: dict[str, Path] = {}
    notes: dict[str, Path] = {}
    parts: dict[str, str] = {}
    without_audio: list[Path] = []
    for part, (audio_dir, notes_dir) in PARTS.items():
        wavs = _files(corpus / audio_dir, AUDIO_SUFFIXES)
        for stem, path in _files(corpus / notes_dir, (".json",)).items():
            if stem in notes:
                raise SPRSoundFormatError(
                    path, f"duplicate recording: {notes[stem]} annotates {stem} too; keep one of them"
                )
            if stem not in wavs:
                without_audio.append(path)
                continue
            audio[stem], notes[stem], parts[stem] = wavs[stem], path, part
    without_notes = [
        path
        for audio_dir in dict.fromkeys(audio_dir for audio_dir, _ in PARTS.values())
        for stem, path in _files(corpus / audio_dir, AUDIO_SUFFIXES).items()
        if audio.get(stem) != path
    ]
    if without_audio or without_notes:
        first = (without_notes or without_audio)[0]
        warnings.warn(
            f"{corpus}: {len(without_notes)} audio file(s) without their .json annotation and "
            f"{len(without_audio)} .json annotation(s) without their .wav are left out; first: "
            f"{first.relative_to(corpus)}",
            PartialCorpusWarning,
            stacklevel=3,
        )
    if not audio:
        raise SPRSoundError(f"{corpus}: no SPRSound recording with both its .wav and its .json annotation")
    return SPRSoundLayout(root, corpus, audio, notes, parts)


def sprsound_recordings(layout: SPRSoundLayout) -> list[SPRSoundRecording]:
    """Every recording's parsed name and annotation, by official part then name, structure checked."""
    recordings = []
    for stem, audio in layout.audio_files.items():
        try:
            name = SPRSoundName.parse(stem)
        except SPRSoundError as error:
            raise SPRSoundFormatError(audio, str(error)) from None
        notes = layout.annotation_files[stem]
        part = layout.official_parts[stem]
        recordings.append(SPRSoundRecording(name, read_annotation(notes), part, audio, notes))
    _check_patients(layout, recordings)
    return recordings


def _check_patients(layout: SPRSoundLayout, recordings: list[SPRSoundRecording]) -> None:
    """A patient of ``inter_test`` in another part is an error; more patients than the release, a warning."""
    parts: dict[int, dict[str, Path]] = defaultdict(dict)
    for recording in recordings:
        parts[recording.name.patient_id].setdefault(recording.part, recording.json)
    for patient, found in sorted(parts.items()):
        if "inter_test" in found and len(found) > 1:
            other = next(part for part in found if part != "inter_test")
            raise SPRSoundCountError(
                f"SPRSound patient {patient} has recordings in the official inter_test part "
                f"({found['inter_test'].relative_to(layout.corpus_dir)}) and in {other} "
                f"({found[other].relative_to(layout.corpus_dir)}): inter_test holds the patients absent from "
                "the training part of the release, so none can be in another part"
            )
    if len(parts) > COMPLETE_PATIENTS:
        warnings.warn(
            f"{layout.corpus_dir} holds {len(parts)} patients, more than the {COMPLETE_PATIENTS} of the "
            "published SPRSound 2022 release",
            SPRSoundWarning,
            stacklevel=3,
        )

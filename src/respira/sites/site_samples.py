"""A site's labelled recordings, read from a folder before any audio is decoded (``respira fit-site
--data_dir DIR --dataset labelled|kauh|sprsound|icbhi``).

Every corpus is read through its :class:`~respira.data.corpora.CorpusSpec`: a recording-labelled one
(``labelled``: a folder with ``labels.csv``; KAUH: labels in the file names; SPRSound: each recording's
record label) by its ``read_index``, one with annotated cycles (ICBHI) by its layout, a recording then
being crackle (wheeze) when any of its cycles is. Recordings marked too poor to judge (SPRSound's
``Poor Quality``) have no crackle or wheeze label and are left out, and said so; so are the rows of a
``labels.csv`` not yet labelled or judged too poor to label (:func:`respira.data.labels_csv.read_labels_csv`'s
one line).

The unit of every fold and bootstrap resample is the patient (the spec's patient column); a labelled
folder without a ``patient`` column makes each recording its own unit
(:attr:`SiteRecordings.units_are_patients` is then false and every report says so).
:func:`check_site_recordings` refuses, in one line, a sample that cannot be fitted and judged: fewer than
:data:`MIN_UNITS` units, or no normal or no abnormal recording.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..data.corpora import resolve, scored_corpus
from ..data.labels_csv import UnlabelledRowsWarning
from ..metrics.recording_level import unmeasurable
from .sample import LabelledRecording

__all__ = ["MIN_UNITS", "SiteRecordings", "check_site_recordings", "read_site_recordings"]

MIN_UNITS = 4
"""Fewest units (patients) a sample needs: nested cross-validation holds units out at two levels, and a
fold without both a normal and an abnormal unit scores nothing."""


@dataclass(frozen=True)
class SiteRecordings:
    """The labelled recordings of one site's folder, and how they were read."""

    recordings: tuple[LabelledRecording, ...]
    dataset: str
    """The corpus (``--dataset``) the folder was read as."""
    data_dir: Path
    units_are_patients: bool
    """``False`` when the folder names no patient: each recording is then its own unit."""
    left_out: int = 0
    """Recordings marked too poor to judge, left out (they carry no crackle or wheeze label)."""

    @property
    def units(self) -> int:
        """How many units (patients, or recordings without a patient column) the sample holds."""
        return len({recording.unit for recording in self.recordings})

    @property
    def unit_name(self) -> str:
        """``patients``, or ``recordings (each its own unit: no patient column)``."""
        return "patients" if self.units_are_patients else "recordings (each its own unit: no patient column)"


def read_site_recordings(data_dir: str | Path, dataset: str = "labelled") -> SiteRecordings:
    """Every labelled recording of ``data_dir`` read as ``dataset`` (see the module docstring); checked
    by :func:`check_site_recordings`. One-line errors for a folder that is not that corpus."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"--data_dir {data_dir} does not exist or is not a folder")
    spec = scored_corpus(dataset)
    if spec.labels == "cycle":
        sample = _from_cycles(root, dataset, spec.locate)
    else:
        if spec.read_index is None:
            raise ValueError(
                f"{spec.name} has no file index (its spec's read_index): fit-site cannot read it"
            )
        with warnings.catch_warnings():  # a partial folder (some patients of KAUH) is a sample, not an error
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", UnlabelledRowsWarning)  # rows left blank: said, in one line
            index = resolve(spec.read_index)(root)
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
            recording_id = _relative(path, root)
            unit = str(getattr(row, column)) if named else recording_id
            recordings.append(
                LabelledRecording(path, bool(row.crackle), bool(row.wheeze), unit, recording_id)
            )
        sample = SiteRecordings(tuple(recordings), dataset, root, named, left_out)
    check_site_recordings(sample)
    return sample


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _from_cycles(root: Path, dataset: str, locate: str) -> SiteRecordings:
    """A cycle-annotated corpus (ICBHI) as recordings: crackle (wheeze) when any cycle is; the patient is
    the first field of the name."""
    from ..data.text_files import read_annotations

    layout = resolve(locate)(root)
    stems = sorted(set(layout.audio_files) & set(layout.annotation_files))
    if not stems:
        raise ValueError(f"{root} has no recording with both audio and an annotation file")
    recordings = []
    for stem in stems:
        cycles = read_annotations(layout.annotation_files[stem])
        path = Path(layout.audio_files[stem])
        crackle, wheeze = any(c.crackle for c in cycles), any(c.wheeze for c in cycles)
        recordings.append(LabelledRecording(path, crackle, wheeze, stem.split("_")[0], _relative(path, root)))
    return SiteRecordings(tuple(recordings), dataset, root, units_are_patients=True)


def check_site_recordings(sample: SiteRecordings) -> None:
    """One-line ``ValueError`` for a sample fit-site cannot fit and judge: fewer than :data:`MIN_UNITS`
    units, or no normal or no abnormal recording (the score weighs specificity on the first and
    sensitivity on the second)."""
    where = f"--data_dir {sample.data_dir} ({sample.dataset})"
    if sample.units < MIN_UNITS:
        raise ValueError(
            f"{where} holds {sample.units} {sample.unit_name.split(' ')[0]}; fit-site needs at least "
            f"{MIN_UNITS} to fit and judge out of sample (patient-wise nested cross-validation)"
        )
    abnormal = sum(1 for r in sample.recordings if r.crackle or r.wheeze)
    normal = len(sample.recordings) - abnormal
    lacking = unmeasurable(normal, abnormal)
    if lacking is not None:
        raise ValueError(f"{where} has {lacking}; fit-site needs both")

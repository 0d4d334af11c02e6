"""The KAUH lung-sound corpus (Fraiwan et al., Data in Brief 35, 2021) as a ``datasets`` builder: one
example per recording, all in one ``test`` split, labels from the file names (:mod:`respira.data.kauh_names`).
Every recording exists once per stethoscope filter mode, and every mode must hold the same patients.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import datasets
import pandas as pd

from ..audio.decoding import DEFAULT_SAMPLING_RATE
from .errors import CorpusCountError, CorpusError, CorpusFormatError
from .kauh_names import FILTER_MODES, KAUHName, KAUHNameError, looks_like_kauh
from .layout import AUDIO_SUFFIXES, corpus_root, files_fingerprint, files_in, walk_dirs
from .loaders import FolderBuilder, WholeRecordings, load_folder

FILTER_MODE_NAMES: tuple[str, ...] = tuple(FILTER_MODES.values())  # bell, diaphragm, extended


class KAUHWarning(UserWarning):
    """Something in a KAUH folder is left out or looks inconsistent; the build goes on."""


@dataclass(frozen=True)
class KAUHLayout:
    """Where the recordings of one KAUH corpus live."""

    root: Path
    recordings_dir: Path
    audio_files: dict[str, Path] = field(repr=False)

    def fingerprint(self) -> str:
        """A hash of every recording's name, size and modification time."""
        return files_fingerprint(self.root, self.audio_files.values())


def locate_kauh(data_dir: str | Path) -> KAUHLayout:
    """Find the folder of KAUH recordings: ``data_dir`` or the first folder below it (3 levels) with them."""
    root = corpus_root(data_dir, "KAUH")
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
    from .corpora import layout_hint

    raise CorpusError(
        f"no KAUH recordings (audio files named like 'BP12_Asthma,E W,P L L,50,F.wav') in {root} "
        f"or in the folders below it{layout_hint(root, 'kauh')}"
    )


def read_kauh_index(data_dir: str | Path) -> pd.DataFrame:
    """One row per KAUH recording, from the file names alone."""
    layout = locate_kauh(data_dir)
    rows = [(*_metadata(name).values(), str(layout.audio_files[name.stem])) for name in kauh_names(layout)]
    index = pd.DataFrame.from_records(rows, columns=[*KAUH.COLUMNS, "path"])
    index["sound"] = index["sound"].map(tuple)
    index["age"] = index["age"].astype("Float64")
    return index


def kauh_names(layout: KAUHLayout) -> list[KAUHName]:
    """The parsed name of every recording, by filter mode then patient, after the structure checks."""
    names: dict[tuple[str, int], KAUHName] = {}
    for stem, path in layout.audio_files.items():
        try:
            name = KAUHName.parse(stem)
        except KAUHNameError as error:
            raise CorpusFormatError(path, str(error)) from None
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


def _metadata(name: KAUHName) -> dict[str, Any]:  # the example columns but audio
    return {
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
    }


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
            f"{layout.recordings_dir}: every KAUH recording exists once per filter mode, but the modes "
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

    CORPUS = "kauh"
    layout: KAUHLayout

    COLUMNS: ClassVar[dict[str, Any]] = {
        "recording": datasets.Value("string"),
        "patient_id": datasets.Value("int32"),
        **{name: datasets.Value("string") for name in ("filter_mode", "diagnosis")},
        "sound": datasets.List(datasets.Value("string")),
        **{flag: datasets.Value("int8") for flag in ("crackle", "wheeze", "normal")},
        "chest_location": datasets.Value("string"),
        "age": datasets.Value("float64"),
        "sex": datasets.Value("string"),
    }

    def _recordings(self) -> list[dict[str, Any]]:
        return [
            {"path": str(self.layout.audio_files[name.stem]), "metadata": _metadata(name)}
            for name in kauh_names(self.layout)
        ]


def load_kauh(
    data_dir: str | Path,
    *,
    config_name: str = "recordings",
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    cache_dir: str | Path | None = None,
    num_proc: int | None = None,
    streaming: bool = False,
    **options: Any,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Build (or load from cache) the KAUH dataset from a local folder: one ``test`` split of recordings."""
    return load_folder(
        KAUH, load_kauh, options, cache_dir=cache_dir, num_proc=num_proc, streaming=streaming,
        config_name=config_name, data_dir=data_dir, sampling_rate=sampling_rate,
    )  # fmt: skip

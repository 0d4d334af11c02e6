"""Facts about the ICBHI 2017 Respiratory Sound Database (Rocha et al., Physiol. Meas. 40, 2019): 920
recordings of 126 patients, 6898 respiratory cycles, each flagged for crackles and wheezes.

A recording stem has five ``_``-separated fields, e.g. ``101_1b1_Al_sc_Meditron``: patient id, recording
index, chest location, acquisition mode and device. The device suffix of 91 recordings changed between
releases, so the official split file is matched on the first four fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

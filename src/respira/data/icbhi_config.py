"""The ICBHI builder's options (:class:`ICBHIConfig`): every field is part of the dataset's cache key."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..run_record import SPLIT_STRATEGIES
from .folds import is_fold_strategy
from .loaders import AudioBuilderConfig
from .text_files import CLIP_TOLERANCE_SECONDS, STRATA_COLUMNS


@dataclass
class ICBHIConfig(AudioBuilderConfig):
    """Options of the ICBHI builder, besides the audio ones; every field is part of the cache key.

    Args:
        split_strategy: ``"official"`` (the challenge's file), ``"patient"`` (a patient-wise split),
            ``"patient_kfold"`` (:func:`~respira.data.folds.patient_kfold` folds) or
            ``"leave_one_device_out"`` (:func:`~respira.data.folds.device_folds`).
        validation_size: official split: share of train cycles moved to a patient-disjoint ``validation``.
        patient_split_fractions: train/validation/test fractions for ``split_strategy="patient"``.
        stratify_by: index column(s) the patient split is stratified by.
        num_folds: ``patient_kfold``: the number of folds.
        fold_stratify_by: ``patient_kfold``: a second column the folds are stratified by.
        seed: seed of the validation and patient splits and of the folds.
        clip_tolerance: seconds a cycle may run past its audio before the clipping is reported.
    """

    split_strategy: Literal["official", "patient", "patient_kfold", "leave_one_device_out"] = "official"
    validation_size: float = 0.0
    patient_split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    stratify_by: str = "chest_location"
    num_folds: int = 5
    fold_stratify_by: str | None = None
    seed: int = 0
    clip_tolerance: float = CLIP_TOLERANCE_SECONDS

    def validate(self) -> None:
        """Raise ``ValueError`` for an option value the builder cannot honour."""
        super().validate()
        if self.split_strategy not in SPLIT_STRATEGIES:
            raise ValueError(
                f"split_strategy must be one of {', '.join(SPLIT_STRATEGIES)}, got {self.split_strategy!r}"
            )
        if self.split_strategy == "patient_kfold" and (
            isinstance(self.num_folds, bool) or not isinstance(self.num_folds, int) or self.num_folds < 2
        ):
            raise ValueError(f"num_folds must be a whole number of at least 2, got {self.num_folds!r}")
        if is_fold_strategy(self.split_strategy) and self.validation_size:
            raise ValueError(
                f"with split_strategy={self.split_strategy!r} the validation split is carved from each "
                "fold's training folds: pass validation_size with fold= to load_icbhi, not to the builder"
            )
        if not 0 <= self.validation_size < 1:
            raise ValueError(f"validation_size must be in [0, 1), got {self.validation_size}")
        if self.split_strategy == "patient" and self.validation_size:
            raise ValueError(
                "validation_size applies to the official split; with split_strategy='patient' set "
                "patient_split_fractions (train, validation, test) instead"
            )
        self.patient_split_fractions = parse_split_fractions(self.patient_split_fractions)
        for name in ("stratify_by", "fold_stratify_by"):
            value = getattr(self, name)
            if value not in STRATA_COLUMNS and not (name == "fold_stratify_by" and value is None):
                raise ValueError(
                    f"{name} must be a categorical column of the index ({', '.join(STRATA_COLUMNS)}), "
                    f"got {value!r}"
                )


def parse_split_fractions(value: str | Sequence[float]) -> tuple[float, float, float]:
    """``(train, validation, test)`` from ``"0.6,0.2,0.2"`` or three numbers ≥ 0; one-line ``ValueError``."""
    parts = value.split(",") if isinstance(value, str) else value
    message = (
        "patient_split_fractions must be three numbers train,validation,test (e.g. 0.6,0.2,0.2), "
        f"got {value!r}"
    )
    try:
        fractions = tuple(float(part) for part in parts)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if len(fractions) != 3 or not all(math.isfinite(f) and f >= 0 for f in fractions):
        raise ValueError(message)
    return fractions

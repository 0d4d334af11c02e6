"""What a model folder ``respira fit-site`` wrote was fitted on, in the words every reader uses
(``respira detectors``, the model card), from its record (``site_fit.json``) alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SITE_FIT_FILE", "fitted_on"]

SITE_FIT_FILE = "site_fit.json"
"""What ``respira fit-site`` records of its fit in the folder it writes (sample, choice, nested CV)."""


def fitted_on(record: Any) -> str | None:
    """``icbhi-crackle-wheeze, fitted to kauh (56 patients)``: the base model and the site of a fit record
    (its ``site_name``, else its corpus for records written before fit-site named the site); ``None`` for
    anything that is not one."""
    if not isinstance(record, Mapping):
        return None
    try:
        base = str(record["base_model"]).split(" (")[0]
        units = "patients" if record["units_are_patients"] else "recordings"
        site = record.get("site_name") or record["dataset"]
        return f"{base}, fitted to {site} ({record['units']} {units})"
    except (KeyError, TypeError):
        return None

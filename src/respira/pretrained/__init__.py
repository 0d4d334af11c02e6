"""The detector that ships with respira, and what it says about the sites it serves.

``respira predict recording.wav``, ``respira app`` and :meth:`respira.Detector.from_pretrained` with no
model use :func:`default_detector_dir`: a model folder in Hugging Face Hub layout installed with the
package (package data, so it works offline from a wheel). It holds what an installed respira runs and what its
card is rendered from: weights (``model.safetensors``), ``config.json`` with its decision thresholds and
event settings, ``preprocessor_config.json``, ``model.onnx``, ``checksums.sha256``, its card
(``README.md``) and the files the runs that made it wrote (``respira_run.json``, ``metrics.json``,
``evaluation_*/metrics.json``, ``build_record.json``). Its config declares the model's code
(``auto_map``) without the files, which an installed respira never runs (it registers its own classes):
``respira export`` and ``respira push`` copy them (:mod:`respira.hub.remote_code`), so what they
publish loads with transformers alone (``trust_remote_code=True``). ``make detector`` rebuilds it from
``../shared`` (``scripts/build_detector.py``).

:func:`site_verdicts` reads the evaluations the folder records back (:mod:`respira.pretrained.sites`): per
site the detector was scored on, its score, interval and all-normal baseline, and whether it serves that
site (its interval lies above all-normal there). The card and the default output both say it from this one
function. The installed folder is read-only to every command (:func:`check_not_shipped`).
"""

from __future__ import annotations

from pathlib import Path

from .site_fit import SITE_FIT_FILE
from .sites import (
    BUILD_RECORD,
    CROSS_VALIDATION_FOLDER,
    SITE_FIT_PROTOCOL,
    LabelAuc,
    SiteVerdict,
    evaluation_digests,
    recorded_evaluations,
    site_verdicts,
    sites_line,
    why_not_claimed,
)

__all__ = [
    "BUILD_RECORD",
    "CROSS_VALIDATION_FOLDER",
    "DEFAULT_DETECTOR_NAME",
    "SITE_FIT_FILE",
    "SITE_FIT_PROTOCOL",
    "LabelAuc",
    "SiteVerdict",
    "check_not_shipped",
    "default_detector_dir",
    "evaluation_digests",
    "recorded_evaluations",
    "site_verdicts",
    "sites_line",
    "why_not_claimed",
]

DEFAULT_DETECTOR_NAME = "icbhi-crackle-wheeze"
"""The folder name of the shipped detector (and the repository name it is published under)."""


def default_detector_dir() -> Path:
    """The shipped detector's folder (inside the installed package).

    Raises :class:`FileNotFoundError` (one line) when it is missing, as in a source checkout whose
    package data was removed.
    """
    folder = Path(__file__).resolve().parent / DEFAULT_DETECTOR_NAME
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"respira's default detector is not installed ({folder} has no config.json): reinstall respira, "
            "rebuild it with `make detector`, or name a model"
        )
    return folder


def check_not_shipped(path: str | Path, what: str) -> None:
    """Refuse (one line) to write ``path`` when it is one of respira's installed shipped detector folders
    (the default or a site detector) or inside one: they are read-only to every command. ``what``: the
    write refused, for the message."""
    package = Path(__file__).resolve().parent
    try:
        inside = Path(path).expanduser().resolve().relative_to(package).parts
    except ValueError:
        return
    if not inside or not (package / inside[0] / "config.json").is_file():
        return
    shipped = package / inside[0]
    raise ValueError(
        f"{path} is respira's shipped detector folder ({shipped}), which no command changes: {what} "
        "elsewhere (--output_dir), or copy the folder first"
    )

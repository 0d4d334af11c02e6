"""The detectors that ship with respira (package data, offline from a wheel), and what they say about
the sites they serve.

:func:`default_detector_dir` is the model folder ``respira predict``, ``respira app`` and
``Detector.from_pretrained()`` run with no model (``make detector`` rebuilds it); :func:`site_verdicts`
reads back the evaluations a folder records, the one source of the card's and the CLI's site lines.
"""

from __future__ import annotations

from pathlib import Path

from .shipped import shipped_detectors
from .site_fit import SITE_FIT_FILE
from .site_verdict import CROSS_VALIDATION_FOLDER, SITE_FIT_PROTOCOL, SiteVerdict
from .sites import (
    BUILD_RECORD,
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
    """The shipped detector's folder (:class:`FileNotFoundError`, one line, when it is missing)."""
    folder = Path(__file__).resolve().parent / DEFAULT_DETECTOR_NAME
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"respira's default detector is not installed ({folder} has no config.json): reinstall respira, "
            "rebuild it with `make detector`, or name a model"
        )
    return folder


def check_not_shipped(path: str | Path, what: str) -> None:
    """Refuse (one line) to write ``what`` at ``path`` inside a shipped detector folder (read-only)."""
    target = Path(path).expanduser().resolve()
    for shipped in shipped_detectors().values():
        if target.is_relative_to(shipped):
            raise ValueError(
                f"{path} is respira's shipped detector folder ({shipped}), which no command changes: {what} "
                "elsewhere (--output_dir), or copy the folder first"
            )

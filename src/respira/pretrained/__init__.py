"""The detectors that ship with respira (package data, offline from a wheel): their folders, and the one
place a shipped folder is found (:mod:`.shipped`).

:func:`default_detector_dir` is the model folder ``respira predict``, ``respira app`` and
``Detector.from_pretrained()`` run with no model (``make detector`` rebuilds it); what a folder claims of
the sites it serves is read by :mod:`respira.records.sites`.
"""

from __future__ import annotations

from pathlib import Path

from .shipped import shipped_detectors

__all__ = ["DEFAULT_DETECTOR_NAME", "check_not_shipped", "default_detector_dir"]

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

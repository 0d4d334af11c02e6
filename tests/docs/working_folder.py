"""A page's working folder: the names its code blocks may use as a user would.

``recipes/`` (the repository's, a symlink), ``ICBHI_final_database/`` with the official split, diagnosis and
demographic files beside it, and ``recording.wav`` (one of its recordings): the synthetic corpus (a
hard-linked copy, so a block cannot change the session's corpus), or with ``data=shared`` ../shared's ICBHI
sample, ``kauh/`` and ``sprsound/`` (symlinks).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .doc_blocks import REPO

ICBHI_FILES = (
    "ICBHI_challenge_train_test.txt",
    "ICBHI_Challenge_diagnosis.txt",
    "ICBHI_Challenge_demographic_information.txt",
)


def _first_recording(folder: Path) -> Path:
    return min(folder.glob("*.wav"))


def synthetic_working_folder(folder: Path, corpus: Path) -> Path:
    """``folder`` set up with the synthetic corpus ``corpus`` (made by respira.synthetic)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipes").symlink_to(REPO / "recipes", target_is_directory=True)
    for entry in corpus.iterdir():  # ICBHI_final_database/, the official text files, the synthetic marker
        target = folder / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, copy_function=os.link)
        else:
            os.link(entry, target)
    os.link(_first_recording(corpus / "ICBHI_final_database"), folder / "recording.wav")
    return folder


def shared_working_folder(folder: Path, shared: Path) -> Path:
    """``folder`` set up with ../shared's corpora (read in place, through symlinks)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipes").symlink_to(REPO / "recipes", target_is_directory=True)
    icbhi = shared / "icbhi"
    (folder / "ICBHI_final_database").symlink_to(icbhi / "ICBHI_final_database", target_is_directory=True)
    for name in ICBHI_FILES:
        (folder / name).symlink_to(icbhi / name)
    for corpus in ("kauh", "sprsound"):
        (folder / corpus).symlink_to(shared / corpus, target_is_directory=True)
    (folder / "recording.wav").symlink_to(_first_recording(icbhi / "ICBHI_final_database"))
    return folder

"""The detectors that ship with respira, by name: every folder of this package with a ``config.json``
(``resolve_model_name`` looks names up here; ``respira detectors`` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..records.site_fit import SiteFitRecord
from ..records.sites import label_sites_words, site_verdicts, sites_line, trained_corpora

_PACKAGE = Path(__file__).resolve().parent


def shipped_detectors() -> dict[str, Path]:
    """Every shipped detector: folder name → folder, sorted by name (empty when none is installed)."""
    return {
        folder.name: folder
        for folder in sorted(_PACKAGE.iterdir())
        if folder.is_dir() and (folder / "config.json").is_file()
    }


def shipped_detector(name: str) -> Path | None:
    """The folder of the shipped detector called ``name``, or ``None`` when there is none."""
    return shipped_detectors().get(name)  # its keys are folder names: never a path, "." or ".."


@dataclass(frozen=True)
class ShippedDetector:
    """One shipped detector as ``respira detectors`` lists it."""

    name: str
    trained_on: str
    """Its training corpora, or a fitted folder's base model and site (``not recorded``)."""
    path: Path
    serves: str = ""
    """Per label, the sites it serves (:func:`respira.records.sites.label_sites_words`)."""


def _trained_on(folder: Path) -> str:
    """What ``folder`` was trained on: a fitted folder's base model and site, else its training corpora."""
    record, corpora = SiteFitRecord.load_if_present(folder), trained_corpora(folder)
    if record is not None and record.chosen_by and corpora:  # a build's head on its trained encoder
        return f"{', '.join(corpora)}; {record.fitted_on()}"
    if record is not None:
        return record.fitted_on()
    return "not recorded" if corpora is None else ", ".join(corpora)


def describe_detectors() -> list[ShippedDetector]:
    """Every shipped detector with what it was trained on and, per label, the sites it serves, by name."""
    found = []
    for name, path in shipped_detectors().items():
        verdicts = site_verdicts(path)
        serves = label_sites_words(verdicts) if verdicts else "no site recorded"
        found.append(ShippedDetector(name, _trained_on(path), path, serves))
    return found


def chosen_model(model: str | None) -> str:
    """The model a command with an optional ``MODEL`` runs, saying its :func:`model_line` on stderr."""
    import sys

    chosen, line = model_line(model)
    if line:
        print(line, file=sys.stderr)
    return chosen


def shipped_name(folder: str | Path) -> str | None:
    """The name of the shipped detector whose folder ``folder`` is (``None``: it is not one)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        return None
    return {found.resolve(): name for name, found in shipped_detectors().items()}.get(path.resolve())


def model_line(model: str | None) -> tuple[str, str]:
    """The model :func:`chosen_model` runs and the line said of it: which detector, and its sites."""
    from . import DEFAULT_DETECTOR_NAME, default_detector_dir

    named = Path(model or "").expanduser()
    if model is None:
        name, folder = DEFAULT_DETECTOR_NAME, default_detector_dir()
    elif (shipped := shipped_name(named)) is not None:  # the folder a shipped name was turned into
        name, folder = shipped, named
    elif not named.is_dir() and (found := shipped_detector(model)) is not None:
        name, folder = model, found
    else:
        sites = sites_line(named) if named.is_dir() else ""
        # a folder that records where it was scored (a copy of the shipped one, an export...)
        return model, f"model: {model}; it {sites}" if sites else ""
    sites = sites_line(folder)
    return str(folder), f"model: respira's shipped detector {name}{f'; it {sites}' if sites else ''}"


def base_model_name(model: str | Path) -> str:
    """What a fit's record calls its base model: respira's default detector by name, else ``model``."""
    from . import DEFAULT_DETECTOR_NAME

    shipped = shipped_name(model) == DEFAULT_DETECTOR_NAME
    return f"{DEFAULT_DETECTOR_NAME} (respira's shipped detector)" if shipped else str(model)

"""The corpora respira reads, one spec each: the single list that prepare, evaluate, train and cards use.

A :class:`CorpusSpec` says what code needs to know of a corpus without reading it: its loader (a
``datasets`` builder behind a ``load_*`` function), the granularity of its labels (``cycle``: annotated
respiratory cycles; ``recording``: one label per recording, learnt from bags of windows), the column
that groups examples that must stay on one side of every split (a patient), its metadata columns, the
facts and citation its cards state, and the roles its splits play by default. Commands list the corpora
from :data:`CORPORA` (``respira prepare --dataset``, ``respira evaluate --dataset``, a recipe's
``corpora``); adding a corpus starts here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CORPORA", "CorpusSpec", "corpus_names", "get_corpus"]


@dataclass(frozen=True)
class CorpusSpec:
    """What respira knows of a corpus before reading it (see the module docstring)."""

    name: str
    """The name commands and recipes use (``icbhi``, ``kauh``)."""
    title: str
    loader: str
    """``module:function`` of its ``load_*`` function (imported on use: ``datasets`` stays unloaded)."""
    labels: str
    """``cycle`` or ``recording``."""
    group_by: str
    """The column whose values never straddle a split (the patient)."""
    metadata_columns: tuple[str, ...]
    split_roles: tuple[str, ...]
    """The splits its builder makes by default: ``train``/``validation``/``test`` for a training corpus,
    ``test`` alone for one used to validate externally (KAUH, unless a recipe lists it in ``corpora``)."""
    citation_key: str
    """The BibTeX key of the paper to cite (the citation itself is the builder module's)."""

    def load(self) -> Callable[..., Any]:
        """The corpus's ``load_*`` function."""
        module, function = self.loader.split(":")
        return getattr(importlib.import_module(module), function)

    @property
    def citation(self) -> str:
        """The BibTeX entry of the corpus's paper (its builder's ``_CITATION``)."""
        return importlib.import_module(self.loader.split(":")[0])._CITATION

    @property
    def card_facts(self) -> Any:
        """What a dataset card says about it (:class:`respira.data.dataset_card.CorpusFacts`)."""
        from .dataset_card import CORPORA as FACTS

        return FACTS[self.name]


CORPORA: dict[str, CorpusSpec] = {
    "icbhi": CorpusSpec(
        name="icbhi",
        title="ICBHI 2017 Respiratory Sound Database",
        loader="respira.data.icbhi:load_icbhi",
        labels="cycle",
        group_by="patient_id",
        metadata_columns=(
            "recording", "patient_id", "chest_location", "acquisition_mode", "device", "diagnosis", "age",
            "sex",
        ),
        split_roles=("train", "validation", "test"),
        citation_key="rocha2019open",
    ),
    "kauh": CorpusSpec(
        name="kauh",
        title="KAUH lung sounds, King Abdullah University Hospital",
        loader="respira.data.kauh:load_kauh",
        labels="recording",
        group_by="patient_id",
        metadata_columns=(
            "recording", "patient_id", "filter_mode", "diagnosis", "chest_location", "age", "sex",
        ),
        split_roles=("test",),
        citation_key="fraiwan2021lungsounds",
    ),
}  # fmt: skip
"""Every corpus respira reads, by name."""


def corpus_names() -> tuple[str, ...]:
    """The names of :data:`CORPORA`, in order (``icbhi`` first)."""
    return tuple(CORPORA)


def get_corpus(name: str) -> CorpusSpec:
    """The spec of corpus ``name``; a one-line ``ValueError`` naming the known ones otherwise."""
    try:
        return CORPORA[name]
    except KeyError:
        raise ValueError(f"unknown corpus {name!r} (known: {', '.join(CORPORA)})") from None

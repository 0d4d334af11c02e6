"""Corpus specs (respira.data.corpora): the one list of corpora the commands and recipes read."""

from __future__ import annotations

import pytest

from respira.data import load_icbhi, load_kauh
from respira.data.corpora import CORPORA, corpus_names, get_corpus


def test_each_spec_resolves_its_loader_citation_and_card_facts() -> None:
    assert corpus_names() == ("icbhi", "kauh")
    assert get_corpus("icbhi").load() is load_icbhi and get_corpus("kauh").load() is load_kauh
    for spec in CORPORA.values():
        assert spec.citation_key in spec.citation
        assert spec.card_facts.name == spec.title
        assert spec.group_by in spec.metadata_columns
    assert (CORPORA["icbhi"].labels, CORPORA["kauh"].labels) == ("cycle", "recording")


def test_the_commands_offer_the_specs_corpora() -> None:
    from respira.commands import evaluate, prepare

    assert evaluate.DATASETS == prepare.CORPORA == corpus_names()


def test_an_unknown_corpus_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^unknown corpus 'kauhh' \(known: icbhi, kauh\)$"):
        get_corpus("kauhh")

"""Corpus specs (respira.data.corpora): the one list of corpora the commands and recipes read."""

from __future__ import annotations

import pytest

from respira.data import load_icbhi, load_kauh
from respira.data.corpora import CORPORA, corpus_names, get_corpus, register_corpus
from respira.data.icbhi import ICBHIConfig
from respira.data.kauh import KAUHConfig, read_kauh_index
from respira.data.layout import locate_corpus


def test_each_spec_resolves_its_loader_config_citation_and_card_facts() -> None:
    assert corpus_names() == ("icbhi", "kauh")
    icbhi, kauh = get_corpus("icbhi"), get_corpus("kauh")
    assert icbhi.load() is load_icbhi and kauh.load() is load_kauh
    assert icbhi.builder_config() is ICBHIConfig and kauh.builder_config() is KAUHConfig
    assert (icbhi.citation_key, kauh.citation_key) == ("rocha2019open", "fraiwan2021lungsounds")
    for spec in CORPORA.values():
        assert spec.card_facts is spec.facts and spec.name in spec.facts.tags
        assert spec.group_by in spec.metadata_columns
    assert (icbhi.labels, kauh.labels) == ("cycle", "recording")
    assert (icbhi.configs, kauh.configs) == (("cycles", "recordings"), ("recordings",))
    assert kauh.group_column == "filter_mode" and icbhi.group_column is None


def test_functions_named_as_module_paths_resolve() -> None:
    from respira.data.corpora import resolve

    assert resolve("respira.data.layout:locate_corpus") is locate_corpus
    assert resolve(get_corpus("kauh").read_index) is read_kauh_index
    assert resolve(len) is len


def test_an_unknown_corpus_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^unknown corpus 'kauhh' \(known: icbhi, kauh\)$"):
        get_corpus("kauhh")


def test_a_taken_name_or_unknown_labels_are_refused() -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="'kauh' is registered already"):
        register_corpus(get_corpus("kauh"))
    with pytest.raises(ValueError, match="labels must be 'cycle' or 'recording', not 'frame'"):
        register_corpus(replace(get_corpus("kauh"), name="other", labels="frame"))
    assert corpus_names() == ("icbhi", "kauh")

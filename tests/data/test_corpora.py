"""Corpus specs (respira.data.corpora): the one list of corpora the commands and recipes read."""

from __future__ import annotations

import pytest

from respira.data import load_icbhi, load_kauh, load_labelled, load_sprsound
from respira.data.corpora import CORPORA, corpus_names, get_corpus, register_corpus
from respira.data.corpus_files import locate_corpus
from respira.data.icbhi import ICBHIConfig
from respira.data.kauh import read_kauh_index
from respira.data.labelled import read_labelled_index
from respira.data.loaders import AudioBuilderConfig
from respira.data.sprsound import SPRSoundConfig, read_sprsound_index


def test_each_spec_holds_its_loader_config_citation_and_card_facts() -> None:
    assert corpus_names() == ("icbhi", "kauh", "sprsound", "labelled")
    icbhi, kauh, sprsound = get_corpus("icbhi"), get_corpus("kauh"), get_corpus("sprsound")
    assert icbhi.loader is load_icbhi and kauh.loader is load_kauh and sprsound.loader is load_sprsound
    assert icbhi.config_class is ICBHIConfig and kauh.config_class is AudioBuilderConfig
    assert sprsound.config_class is SPRSoundConfig
    assert icbhi.citation.startswith("@article{rocha2019open,") and "fraiwan2021lungsounds" in kauh.citation
    assert "zhang2022sprsound" in sprsound.citation and "10.1109/TBCAS.2022.3204910" in sprsound.citation
    for spec in CORPORA.values():
        assert spec.name in spec.facts.tags
    assert (icbhi.labels, kauh.labels, sprsound.labels) == ("cycle", "recording", "event")
    assert (icbhi.configs, kauh.configs) == (("cycles", "recordings"), ("recordings",))
    assert sprsound.configs == ("events", "recordings")
    assert kauh.group_column == "filter_mode" and icbhi.group_column is None
    assert sprsound.group_column == "official_part"
    assert sprsound.split_roles == ("train", "inter_test", "intra_test")
    assert sprsound.facts.license == "gpl-3.0" and "cite Zhang et al. (2022)" in sprsound.facts.license_text
    assert sprsound.scored  # per event and per recording, with its challenge scores
    labelled = get_corpus("labelled")
    assert labelled.loader is load_labelled and labelled.config_class is AudioBuilderConfig
    assert (labelled.labels, labelled.split_roles, labelled.group_column) == (
        "recording",
        ("test",),
        "device",
    )
    assert labelled.read_index is read_labelled_index and labelled.citation == ""


def test_specs_hold_their_corpus_modules_functions() -> None:
    """No ``"module:function"`` string: every function of a spec is the corpus module's own."""
    assert get_corpus("icbhi").locate is locate_corpus
    assert get_corpus("kauh").read_index is read_kauh_index
    assert get_corpus("sprsound").read_index is read_sprsound_index
    for spec in CORPORA.values():
        for name in ("loader", "locate", "read_index", "split_table", "split_definition", "reference_events"):
            assert getattr(spec, name) is None or callable(getattr(spec, name)), (spec.name, name)


def test_an_unknown_corpus_is_one_line() -> None:
    with pytest.raises(
        ValueError, match=r"^unknown corpus 'kauhh' \(known: icbhi, kauh, sprsound, labelled\)$"
    ):
        get_corpus("kauhh")


def test_a_taken_name_or_unknown_labels_are_refused() -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="'kauh' is registered already"):
        register_corpus(get_corpus("kauh"))
    with pytest.raises(ValueError, match="labels must be 'cycle', 'recording' or 'event', not 'frame'"):
        register_corpus(replace(get_corpus("kauh"), name="other", labels="frame"))
    assert corpus_names() == ("icbhi", "kauh", "sprsound", "labelled")


def test_a_folder_of_another_corpus_is_named_with_the_dataset_it_has(synthetic_corpus, tmp_path) -> None:
    from respira.data.errors import CorpusError

    with pytest.raises(CorpusError) as error:
        get_corpus("kauh").layout(synthetic_corpus)  # an ICBHI folder read as KAUH
    assert str(error.value).endswith("; it has the layout of ICBHI: --dataset icbhi")
    with pytest.raises(CorpusError) as error:  # its builder, loaded through the spec (prepare, evaluate)
        get_corpus("kauh").load()(synthetic_corpus)
    assert str(error.value).endswith("; it has the layout of ICBHI: --dataset icbhi")
    kauh = tmp_path / "kauh"
    kauh.mkdir()
    (kauh / "BP12_Asthma,E W,P L L,50,F.wav").write_bytes(b"")
    with pytest.raises(CorpusError) as error:
        get_corpus("icbhi").layout(kauh)
    assert str(error.value) == (
        f"no ICBHI annotation files (named like 101_1b1_Al_sc_Meditron.txt) in {kauh} or in an "
        "ICBHI_final_database or audio_and_txt_files folder below it; it has the layout of KAUH: "
        "--dataset kauh"
    )
    (kauh / "BP12_Asthma,E W,P L L,50,F.wav").unlink()
    with pytest.raises(CorpusError) as error:
        get_corpus("icbhi").layout(kauh)  # nobody's layout: no hint
    assert str(error.value).endswith("audio_and_txt_files folder below it")

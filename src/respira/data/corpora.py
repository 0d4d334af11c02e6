"""The corpora respira reads, one :class:`CorpusSpec` each: commands branch on a spec's fields, never on a
corpus's name (a new corpus: its builder and :func:`register_corpus`). Imports every corpus module."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import icbhi, kauh, labelled, sprsound
from .corpus_files import (
    DEVICES,
    NUM_CYCLES,
    NUM_PATIENTS,
    NUM_RECORDINGS,
    PRIMARY_CORPUS,
    DataDir,
    locate_corpus,
)
from .errors import LayoutNotFoundError
from .loaders import AudioBuilderConfig


@dataclass(frozen=True)
class CorpusFacts:
    """What a card says about a corpus, whatever was built from it."""

    description: str
    license: str
    license_text: str
    tags: tuple[str, ...]
    license_name: str | None = None
    license_link: str | None = None


@dataclass(frozen=True)
class CorpusSpec:
    """What respira knows of a corpus before reading it."""

    name: str
    """The name commands and recipes use (``icbhi``, ``kauh``)."""
    title: str
    loader: Callable[..., Any]
    """Its ``load_*`` function, returning a ``DatasetDict``."""
    config_class: type
    """Its ``datasets.BuilderConfig`` class: validates the options and names them (``respira prepare``)."""
    labels: str
    """``cycle`` (ICBHI: scored one by one), ``recording`` (KAUH: scored over windows) or ``event``
    (SPRSound: segments learnt like cycles)."""
    facts: CorpusFacts
    locate: Callable[..., Any]
    """``locate(data_dir)``: the corpus's layout of a folder, or of the list of folders it spans; or a
    one-line error (:class:`LayoutNotFoundError`)."""
    group_by: str = "patient_id"
    """The column whose values never straddle a split (the patient)."""
    split_roles: tuple[str, ...] = ("test",)
    """The splits its builder makes by default (``test`` alone for an external-validation corpus)."""
    citation: str = ""
    """The BibTeX entry of the paper to cite (the model and dataset cards)."""
    homepage: str = ""
    read_index: Callable[..., Any] | None = None
    """Recording-labelled corpora: ``read_index(folder)``: its recordings, from the listing."""
    configs: tuple[str, ...] = ("recordings",)
    """Its builder configs, the default first."""
    split_options: tuple[str, ...] = ()
    """Builder options that make its splits (ICBHI: ``validation_size``, ``split_strategy``, ``seed``)."""
    stored_name: str | None = None
    """The name of its config in a prepared folder (default: the builder config's)."""
    split_table: Callable[..., Any] | None = None
    """``split_table(dataset) -> (header, rows)`` of its dataset card."""
    split_definition: Callable[..., Any] | None = None
    """``split_definition(options, splits) -> sentences`` of its dataset card."""
    complete_counts: Mapping[str, int] | None = None
    """The recordings and cycles of the complete corpus, for cards to say whether a build is complete."""
    group_column: str | None = None
    """A column recording-level scores are also given per value of (KAUH: ``filter_mode``)."""
    reference_events: Callable[..., Any] | None = None
    """``reference_events(example) -> [(onset, offset, label)]`` of a ``recordings`` example, if timed."""
    training_device: str | None = None
    """``device`` of its windows in a multi-corpus split, formatted with their columns."""
    split_parts: bool = False
    """Whether its loader and ``locate`` take ``parts`` (some split_roles): those alone, each required."""

    @property
    def label(self) -> str:
        """How messages name it (``ICBHI``, ``KAUH``)."""
        return self.name.upper()

    @property
    def scored(self) -> bool:
        """Whether commands score a model on its labels: recording-labelled corpora and the primary one."""
        return self.labels in ("recording", "event") or self.name == PRIMARY_CORPUS

    def load(self) -> Callable[..., Any]:
        """Its :attr:`loader`, a folder without its layout refused naming whose layout it has."""
        return functools.partial(self._hinted, self.loader)

    def layout(self, data_dir: DataDir, *parts: Any) -> Any:
        """Its :attr:`locate` of ``data_dir``, a folder without its layout refused naming whose it has."""
        return self._hinted(self.locate, data_dir, *parts)

    def _hinted(self, function: Callable[..., Any], data_dir: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(data_dir, *args, **kwargs)
        except LayoutNotFoundError as error:
            for spec in CORPORA.values():  # whose layout the folder has, if another corpus's
                if spec.name == self.name:
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        spec.locate(data_dir)  # a partial folder still shows whose layout it has
                except Exception:  # not this corpus's layout either
                    continue
                raise LayoutNotFoundError(
                    f"{error}; it has the layout of {spec.label}: --dataset {spec.name}"
                ) from None
            raise

    def check_folder(self, data_dir: DataDir, splits: list[str] | None = None) -> None:
        """Locate the corpus in ``data_dir``, its ``splits`` alone if :attr:`split_parts`; nothing decoded."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.layout(data_dir, *([splits] if self.split_parts and splits else []))


_ICBHI_CITATION = """\
@article{rocha2019open,
  title   = {An open access database for the evaluation of respiratory sound classification algorithms},
  author  = {Rocha, B. M. and Filos, D. and Mendes, L. and others},
  journal = {Physiological Measurement},
  volume  = {40},
  number  = {3},
  pages   = {035001},
  year    = {2019}
}
"""
_KAUH_CITATION = """\
@article{fraiwan2021lungsounds,
  title   = {A dataset of lung sounds recorded from the chest wall using an electronic stethoscope},
  author  = {Fraiwan, Mohammad and Fraiwan, Luay and Khassawneh, Basheer and Ibnian, Ali},
  journal = {Data in Brief},
  volume  = {35},
  pages   = {106913},
  year    = {2021},
  doi     = {10.1016/j.dib.2021.106913}
}
"""
_SPRSOUND_CITATION = """\
@article{zhang2022sprsound,
  title   = {{SPRSound}: Open-Source {SJTU} Paediatric Respiratory Sound Database},
  author  = {Zhang, Q. and others},
  journal = {IEEE Transactions on Biomedical Circuits and Systems},
  volume  = {16},
  number  = {5},
  pages   = {867--881},
  year    = {2022},
  doi     = {10.1109/TBCAS.2022.3204910}
}
"""

CORPORA: dict[str, CorpusSpec] = {
    "icbhi": CorpusSpec(
        name="icbhi",
        title="ICBHI 2017 Respiratory Sound Database",
        loader=icbhi.load_icbhi,
        config_class=icbhi.ICBHIConfig,
        labels="cycle",
        split_roles=("train", "validation", "test"),
        citation=_ICBHI_CITATION,
        homepage="https://bhichallenge.med.auth.gr/ICBHI_2017_Challenge",
        facts=CorpusFacts(
            description=(
                f"The ICBHI 2017 challenge database (Rocha et al., 2019) holds {NUM_RECORDINGS} recordings "
                f"of {NUM_PATIENTS} patients (5.5 hours) made in Portugal and Greece, annotated by "
                f"respiratory experts into {NUM_CYCLES} respiratory cycles, each marked for crackles and "
                f"wheezes (classes normal, crackle, wheeze, both). Devices: {', '.join(DEVICES.values())}; "
                "original sample rates 4 kHz, 10 kHz or 44.1 kHz; chest locations trachea, anterior, "
                "posterior and lateral left/right."
            ),
            license="other",
            license_name="icbhi-2017-research-use",
            license_link="https://bhichallenge.med.auth.gr/",
            license_text=(
                "Its authors make the ICBHI 2017 database freely available for research "
                "(https://bhichallenge.med.auth.gr/). respira knows of no standard open licence attached to "
                "it: check the database's terms of use before you redistribute it, and cite Rocha et al. "
                "(2019)."
            ),
            tags=("audio", "respiratory-sounds", "lung-sounds", "icbhi", "medical"),
        ),
        locate=locate_corpus,
        configs=("cycles", "recordings"),
        split_options=("validation_size", "split_strategy", "patient_split_fractions", "seed"),
        reference_events=icbhi.icbhi_reference_events,
        split_table=icbhi.split_table,
        split_definition=icbhi.split_definition,
        complete_counts={"recordings": NUM_RECORDINGS, "cycles": NUM_CYCLES},
    ),
    "kauh": CorpusSpec(
        name="kauh",
        title="KAUH lung sounds, King Abdullah University Hospital",
        loader=kauh.load_kauh,
        config_class=AudioBuilderConfig,
        labels="recording",
        citation=_KAUH_CITATION,
        homepage="https://doi.org/10.1016/j.dib.2021.106913",
        facts=CorpusFacts(
            description=(
                "Lung sounds of adult patients and healthy subjects recorded at King Abdullah University "
                "Hospital, Jordan University of Science and Technology (Fraiwan et al., 2021) with a 3M "
                "Littmann 3200 electronic stethoscope at 4 kHz, 5 to 30 s per recording, each saved once per "
                "filter mode (bell, diaphragm, extended). Labels are per recording, from the file names: "
                "diagnosis, sound codes (crackles, wheeze, normal, bronchial), chest location, age and sex; "
                "no cycle annotations."
            ),
            license="unknown",
            license_text=(
                "The corpus is published by its authors on Mendeley Data with the Data in Brief article. "
                "respira could not verify its licence: check it there before you redistribute it, and cite "
                "Fraiwan et al. (2021)."
            ),
            tags=("audio", "respiratory-sounds", "lung-sounds", "kauh", "medical"),
        ),
        locate=kauh.locate_kauh,
        read_index=kauh.read_kauh_index,
        stored_name="kauh",
        group_column="filter_mode",
        training_device="Litt3200 {filter_mode}",
    ),
    "sprsound": CorpusSpec(
        name="sprsound",
        title="SPRSound, SJTU Paediatric Respiratory Sound Database",
        loader=sprsound.load_sprsound,
        config_class=sprsound.SPRSoundConfig,
        labels="event",
        split_roles=("train", "inter_test", "intra_test"),
        citation=_SPRSOUND_CITATION,
        homepage="https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound",
        facts=CorpusFacts(
            description=(
                "Respiratory sounds of children aged 1 month to 18 years recorded at Shanghai Children's "
                "Medical Center (Zhang et al., 2022; the SPRSound 2022 release has 292 children) with a "
                "Yunting model II stethoscope at 8 kHz, at four chest sites (left/right posterior and "
                "lateral). Each recording has a record label (Normal, CAS, DAS, CAS & DAS, Poor Quality) and "
                "annotated events with onset, offset and type (Normal, Fine Crackle, Coarse Crackle, Wheeze, "
                "Rhonchi, Stridor, Wheeze+Crackle) that need not tile it; event types map to the ICBHI "
                "classes (crackle: fine or coarse crackle; wheeze: wheeze, rhonchi or stridor; both: "
                "wheeze+crackle). Official parts: train, and a test part of inter-patient (patients absent "
                "from train) and intra-patient recordings."
            ),
            license="gpl-3.0",
            license_text=(
                "The copy of SPRSound this was built from carries the GNU General Public License v3.0 "
                "(GPL-3.0); check the licence of the release you use "
                "(https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound) before you redistribute it, and "
                "cite Zhang et al. (2022), IEEE TBioCAS 16(5), 867-881, doi 10.1109/TBCAS.2022.3204910."
            ),
            tags=("audio", "respiratory-sounds", "lung-sounds", "sprsound", "paediatric", "medical"),
        ),
        locate=sprsound.locate_sprsound,
        reference_events=sprsound.sprsound_reference_events,
        read_index=sprsound.read_sprsound_index,
        configs=("events", "recordings"),
        split_options=("split_strategy", "patient_split_fractions", "seed"),
        split_table=sprsound.split_table,
        split_definition=sprsound.split_definition,
        group_column="official_part",
        training_device="Yunting II",
        split_parts=True,
    ),
    "labelled": CorpusSpec(
        name="labelled",
        title="Labelled recordings (a folder with labels.csv)",
        loader=labelled.load_labelled,
        config_class=AudioBuilderConfig,
        labels="recording",
        facts=CorpusFacts(
            description=(
                "Recordings listed in a labels.csv (columns file, crackle, wheeze; optionally patient, "
                "device, location), one crackle and one wheeze flag per recording; no cycle or event "
                "annotations. Without a patient column every recording counts as its own patient."
            ),
            license="unknown",
            license_text=(
                "These are the user's own recordings: respira knows nothing of their licence or consent. "
                "Check both before you share them or anything built from them."
            ),
            tags=("audio", "respiratory-sounds", "lung-sounds", "labelled", "medical"),
        ),
        locate=labelled.locate_labelled,
        read_index=labelled.read_labelled_index,
        split_definition=labelled.split_definition,
        stored_name="labelled",
        group_column="device",
        training_device="{device}",
    ),
}  # fmt: skip
"""Every corpus respira reads, by name."""


def corpus_names() -> tuple[str, ...]:
    return tuple(CORPORA)


def get_corpus(name: str) -> CorpusSpec:
    """The spec of corpus ``name`` (a one-line ``ValueError`` otherwise)."""
    try:
        return CORPORA[name]
    except KeyError:
        raise ValueError(f"unknown corpus {name!r} (known: {', '.join(CORPORA)})") from None


def scored_corpus(name: str) -> CorpusSpec:
    """The spec of corpus ``name``; a one-line ``ValueError`` when it is not :attr:`CorpusSpec.scored`."""
    spec = get_corpus(name)
    if not spec.scored:
        raise ValueError(f"--dataset {spec.name}: only {PRIMARY_CORPUS}'s cycles are scored one by one")
    return spec


def register_corpus(spec: CorpusSpec) -> CorpusSpec:
    """Add ``spec`` to :data:`CORPORA`; a ``ValueError`` if its name is taken or its labels unknown."""
    if spec.name in CORPORA:
        raise ValueError(f"corpus {spec.name!r} is registered already")
    if spec.labels not in ("cycle", "recording", "event"):
        raise ValueError(
            f"corpus {spec.name!r}: labels must be 'cycle', 'recording' or 'event', not {spec.labels!r}"
        )
    CORPORA[spec.name] = spec
    return spec

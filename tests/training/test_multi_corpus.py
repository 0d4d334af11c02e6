"""Multi-corpus training (respira.data.multi_corpus): options, KAUH patient grouping in every
split, the
threshold units, SPRSound events joining as cycles, and tiny ``respira train`` runs on synthetic ICBHI +
KAUH-named files (+ hand-made SPRSound files)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from respira.cli import main
from respira.data import read_icbhi_index
from respira.data.kauh import read_kauh_index
from respira.data.multi_corpus import (
    BAG_COLUMN,
    PATIENT_OFFSET,
    add_corpora,
    check_corpora,
    parse_corpora,
    threshold_unit_column,
    threshold_units,
)
from respira.models.respira.labels import flags_to_classes
from respira.models.respira.windows import window_count
from respira.records.run import CorpusRecord, DataRecord, RunRecord
from respira.training.cross_validation import pool_groups

from ..conftest import SPRSOUND_TINY, two_corpus_record, write_kauh, write_sprsound
from .conftest import TINY_RECIPE


@pytest.fixture(scope="module")
def kauh_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_kauh(tmp_path_factory.mktemp("kauh") / "kauh")


# ------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("corpora", "dirs", "message"),
    [
        (
            "icbhi,kauhh",
            '{"kauhh": "x"}',
            "corpora: unknown corpus 'kauhh' (known: icbhi, kauh, sprsound, labelled)",
        ),
        ("icbhi,kauh", None, "corpora: kauh needs a folder: corpus_dirs: {kauh: <folder>}"),
        ("kauh", '{"kauh": "x"}', "corpora must include icbhi"),
        ("icbhi,kauh,kauh", '{"kauh": "x"}', "a corpus is listed twice"),
        (None, '{"kauh": "x"}', "corpus_dirs is set but corpora is not"),
        ("icbhi,kauh", "not json", "corpus_dirs must be a mapping of corpus: folder"),
    ],
)
def test_bad_corpus_options_are_one_line(corpora, dirs, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_corpora(corpora, dirs)


def test_a_recipe_list_and_a_mapping_are_accepted() -> None:
    assert parse_corpora(["kauh", "icbhi"], {"kauh": "somewhere"}) == ["icbhi", "kauh"]
    assert parse_corpora(None, None) == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--corpora", "icbhi,kauhh"], "corpora: unknown corpus 'kauhh'"),
        (["--corpora", "icbhi,kauh", "--corpus_dirs", '{"kauh": "MISSING"}'], "does not exist"),
        (["--corpora", "icbhi,kauh", "--corpus_dirs", '{"kauh": "KAUH"}', "--problem_type",
          "single_label_classification"], "set problem_type: multi_label_classification"),
        (["--corpora", "icbhi,kauh", "--corpus_dirs", '{"kauh": "KAUH"}', "--batch_sampler",
          "contrastive_tuple"], "batch_sampler=contrastive_tuple"),
    ],
)  # fmt: skip
def test_a_bad_corpus_option_fails_in_one_line_before_any_work(
    flags: list[str], message: str, synthetic_corpus: Path, kauh_folder: Path, tmp_path: Path, capsys
) -> None:
    flags = [
        str(tmp_path / "missing") if f == "MISSING" else f.replace("KAUH", str(kauh_folder)) for f in flags
    ]
    flags = [f.replace('"MISSING"', json.dumps(str(tmp_path / "missing"))) for f in flags]
    output = tmp_path / "run"
    code = main(
        ["train", "--encoder", "cnn", "--problem_type", "multi_label_classification", "--data_dir",
         str(synthetic_corpus), *flags, "--output_dir", str(output)]
    )  # fmt: skip
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert len(error.splitlines()) == 1 and message in error, error
    assert not output.exists()


# ------------------------------------------------------------------------------------ patient grouping
def _assert_patients_on_one_side(patients: np.ndarray, sides: np.ndarray) -> None:
    for patient in np.unique(patients):
        assert len(set(sides[patients == patient].tolist())) == 1, f"patient {patient} is split"


def _kauh_pool(index) -> datasets.Dataset:
    """KAUH recordings as a training pool would hold them (patient ids shifted, four-class labels)."""
    labels = flags_to_classes(index[["crackle", "wheeze"]].to_numpy())
    return datasets.Dataset.from_dict(
        {"patient_id": (index["patient_id"] + PATIENT_OFFSET).tolist(), "label": labels.tolist()}
    )


def _check_grouping(index) -> None:
    assert set(index.groupby("patient_id")["filter_mode"].nunique()) == {3}
    patients = index["patient_id"].to_numpy()
    for folds in (2, 3, 4):
        _assert_patients_on_one_side(patients, pool_groups(_kauh_pool(index), folds, seed=1))


def test_kauh_folds_and_cross_fit_groups_keep_a_patients_three_recordings_together_real(
    shared_kauh: Path,
) -> None:
    index = read_kauh_index(shared_kauh)
    assert len(index) == 3 * index["patient_id"].nunique()
    _check_grouping(index)


def test_kauh_folds_and_cross_fit_groups_keep_a_patients_three_recordings_together_synthetic(
    kauh_folder: Path,
) -> None:
    _check_grouping(read_kauh_index(kauh_folder))


def test_kauh_windows_join_training_only_as_whole_bags(
    synthetic_corpus: Path, kauh_folder: Path, dataset_cache: Path
) -> None:
    from respira.data.run_splits import load_splits

    record = two_corpus_record(synthetic_corpus, "kauh", kauh_folder)
    splits = load_splits(record, cache_dir=dataset_cache)
    assert set(splits["validation"]["corpus"]) == set(splits["test"]["corpus"]) == {"icbhi"}
    train = splits["train"]
    kauh = train.filter(lambda row: row["corpus"] == "kauh")
    index = read_kauh_index(kauh_folder)
    durations = [sf.info(path).frames for path in index["path"]]
    assert len(kauh) == sum(window_count(frames, 4000, 2000) for frames in durations)
    patients, bags = np.asarray(kauh["patient_id"]), np.asarray(kauh[BAG_COLUMN])
    assert set(patients - PATIENT_OFFSET) == set(index["patient_id"])
    assert len(np.unique(bags)) == len(index)  # one bag per recording
    _assert_patients_on_one_side(bags, patients)  # a bag belongs to one patient
    pool = datasets.concatenate_datasets([train, splits["validation"]])
    _assert_patients_on_one_side(np.asarray(pool["patient_id"]), pool_groups(pool, 3, seed=0))
    assert add_corpora(splits, record) is splits  # adding the corpora again changes nothing


# -------------------------------------------------------------------------------------- threshold units
def test_threshold_units_score_a_bag_once_by_its_largest_window() -> None:
    pool = datasets.Dataset.from_dict({"label": [0, 1, 1, 1, 2, 2], BAG_COLUMN: [-1, -1, 4, 4, 9, 9]})
    probabilities = np.array([[0.1, 0.2], [0.7, 0.1], [0.2, 0.3], [0.6, 0.1], [0.1, 0.8], [0.3, 0.4]])
    flags, scored = threshold_units(pool, probabilities)
    assert flags.tolist() == [[0, 0], [1, 0], [1, 0], [0, 1]]
    assert scored.tolist() == [[0.1, 0.2], [0.7, 0.1], [0.6, 0.3], [0.3, 0.8]]
    # a unit's domain: each cycle's own, then each bag's (the order of the units)
    pool = pool.add_column("device", ["A", "B", "K", "K", "M", "M"])
    assert threshold_unit_column(pool, "device").tolist() == ["A", "B", "K", "M"]
    plain = datasets.Dataset.from_dict({"label": [0, 1], "device": ["A", "B"]})
    assert threshold_unit_column(plain, "device").tolist() == ["A", "B"]


# ------------------------------------------------------------------------------------- event corpora
@pytest.fixture(scope="module")
def sprsound_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sprsound(tmp_path_factory.mktemp("sprsound") / "sprsound")


# the hand-made corpus's event types as ICBHI classes: this test's own map
EVENT_CLASS = {"Normal": "normal", "Fine Crackle": "crackle", "Coarse Crackle": "crackle", "Wheeze": "wheeze",
               "Rhonchi": "wheeze", "Stridor": "wheeze", "Wheeze+Crackle": "both"}  # fmt: skip


def test_sprsound_events_join_training_as_cycles_of_their_own_patients(
    synthetic_corpus: Path, sprsound_folder: Path, tmp_path: Path
) -> None:
    from collections import Counter

    from respira.data.run_splits import load_splits
    from respira.models.respira.labels import CLASS_NAMES

    single = {"window_seconds": 1.0, "hop_seconds": 0.5, "problem_type": "single_label_classification"}
    dirs = {"sprsound": str(sprsound_folder)}
    assert check_corpora(["icbhi", "sprsound"], dirs, **single) == ["icbhi", "sprsound"]  # no bags
    record = DataRecord(
        data_dir=str(synthetic_corpus),
        sampling_rate=4000,
        validation_size=0.25,
        corpora=[
            CorpusRecord("icbhi", str(synthetic_corpus)),
            CorpusRecord("sprsound", dirs["sprsound"], "event"),
        ],
    )
    splits = load_splits(record, cache_dir=tmp_path / "cache")
    events = splits["train"].filter(lambda row: row["corpus"] == "sprsound")
    expected = Counter(EVENT_CLASS[kind] for *_, spans, _ in SPRSOUND_TINY for *_, kind in spans)
    assert Counter(CLASS_NAMES[label] for label in events["label"]) == expected  # every part trains
    assert set(events[BAG_COLUMN]) == {-1} and set(events["device"]) == {"Yunting II"}
    patients = {int(stem.split("_")[0]) for _, stem, _, spans, _ in SPRSOUND_TINY if spans}
    assert set(np.asarray(events["patient_id"]) - PATIENT_OFFSET) == patients  # sprsound is corpus 1
    # each event named by (recording, its number in the recording's JSON, from 1), as a cycle is
    numbered = Counter(zip(events["recording"], events["cycle_index"], strict=True))
    per_recording = {stem: len(spans) for _, stem, _, spans, _ in SPRSOUND_TINY if spans}
    assert numbered == {(stem, i): 1 for stem, n in per_recording.items() for i in range(1, n + 1)}
    for name in ("validation", "test"):
        assert set(splits[name]["corpus"]) == {"icbhi"}


# ------------------------------------------------------------------------------------------ end to end
def _train_on_both(
    synthetic_corpus: Path, kauh_folder: Path, cache: Path, tmp_path: Path, capsys, **options: Any
) -> Path:
    """``respira train`` a tiny frozen multi-label model on synthetic ICBHI + KAUH-named files (its datasets
    built in ``cache``)."""
    recipe = tmp_path / "recipe.yaml"
    options = {
        **TINY_RECIPE,
        "projector_dim": None,
        "problem_type": "multi_label_classification",
        "sampling_rate": 4000,
        "freeze_encoder": True,
        "cache_embeddings": True,
        "corpora": ["icbhi", "kauh"],
        "corpus_dirs": {"kauh": str(kauh_folder)},
        "corpus_window_seconds": 1.0,
        "corpus_hop_seconds": 0.5,
        "per_device_train_batch_size": 16,
        **options,
    }
    recipe.write_text(yaml.safe_dump(options))
    output = tmp_path / "run"
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err if capsys else code
    return output


@pytest.fixture(scope="module")
def three_sites_run(
    synthetic_corpus: Path,
    kauh_folder: Path,
    sprsound_folder: Path,
    dataset_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A run on ICBHI, KAUH and SPRSound with the flagship settings: augmented views embedded once per
    identified row (recording, cycle_index; SPRSound's events are numbered by their event_index),
    thresholds for the worst corpus, cross-fitted over the three sites."""
    options = {
        "corpora": ["icbhi", "kauh", "sprsound"],
        "corpus_dirs": {"kauh": str(kauh_folder), "sprsound": str(sprsound_folder)},
        "augmentation": {"gain": {"db": [-6, 6]}},
        "augmented_views": 1,
        "threshold_source": "cross_fit",
        "threshold_folds": 2,
        "threshold_aggregation": "worst_domain",
        "group_by_key": "corpus",
    }
    return _train_on_both(
        synthetic_corpus, kauh_folder, dataset_cache, tmp_path_factory.mktemp("three_sites"), None, **options
    )


def test_a_tiny_run_trains_on_three_sites(three_sites_run: Path) -> None:
    record = RunRecord.load(three_sites_run)
    corpora = {corpus.name: corpus for corpus in record.data.corpora}
    assert list(corpora) == ["icbhi", "kauh", "sprsound"]
    sprsound = corpora["sprsound"]
    events = sum(len(spans) for *_, spans, _ in SPRSOUND_TINY)
    assert (sprsound.labels, sprsound.examples) == ("event", events)
    assert sum(corpus.examples for corpus in corpora.values()) == record.data.split_sizes["train"].cycles
    card = " ".join((three_sites_run / "README.md").read_text().split())
    assert f"sprsound (event labels: 5 patients, 7 recordings, {events} events)" in card


def test_the_flagship_settings_train_on_three_sites(three_sites_run: Path) -> None:
    config = json.loads((three_sites_run / "config.json").read_text())
    assert len(config["decision_thresholds"]) == 2


def test_a_tiny_run_trains_on_both_corpora_and_says_so(
    synthetic_corpus: Path, kauh_folder: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    options = {"threshold_source": "cross_fit", "threshold_folds": 2}
    output = _train_on_both(synthetic_corpus, kauh_folder, dataset_cache, tmp_path, capsys, **options)
    record = RunRecord.load(output)
    corpora = {corpus.name: corpus for corpus in record.data.corpora}
    assert list(corpora) == ["icbhi", "kauh"]
    kauh = corpora["kauh"]
    assert (kauh.labels, kauh.patients, kauh.recordings) == ("recording", 6, 18)
    assert corpora["icbhi"].labels == "cycle" and corpora["icbhi"].examples > 0
    assert corpora["icbhi"].examples + kauh.examples == record.data.split_sizes["train"].cycles
    assert record.training.hyperparameters["mil_weight"] == 1.0
    card = " ".join((output / "README.md").read_text().split())
    assert "Training corpora:** icbhi (cycle labels:" in card
    assert "kauh (recording labels: 6 patients, 18 recordings" in card
    assert "Also trained on:** KAUH lung sounds, King Abdullah University Hospital, recording-" in card
    assert "@article{fraiwan2021lungsounds," in card  # the corpus spec's citation
    assert "| multiple-instance loss weight (recording bags) | `1` |" in card
    thresholds = json.loads((output / "config.json").read_text())["decision_thresholds"]
    assert thresholds is not None
    # respira evaluate rebuilds the run's ICBHI test split, and scores KAUH per recording at its thresholds
    # (20 bootstrap resamples: no interval is read here)
    cache = ["--cache_dir", str(dataset_cache)]
    assert main(["evaluate", str(output), *cache, "--output_dir", str(tmp_path / "icbhi")]) == 0
    metrics = json.loads((tmp_path / "icbhi" / "metrics.json").read_text())
    assert metrics["icbhi_score"] == pytest.approx(
        json.loads((output / "metrics.json").read_text())["test_icbhi_score"]
    )
    code = main(
        ["evaluate", str(output), "--dataset", "kauh", "--data_dir", str(kauh_folder), *cache,
         "--window", "1", "--hop", "0.5", "--bootstrap", "20", "--output_dir", str(tmp_path / "kauh")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    kauh_metrics = json.loads((tmp_path / "kauh" / "metrics.json").read_text())
    assert kauh_metrics["num_recordings"] == 18
    assert [kauh_metrics["thresholds"]["crackle"], kauh_metrics["thresholds"]["wheeze"]] == thresholds


def test_k_fold_runs_train_every_fold_on_the_other_corpus_and_test_each_cycle_once(
    synthetic_corpus: Path, kauh_folder: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    options = {"split_strategy": "patient_kfold", "num_folds": 2}
    output = _train_on_both(synthetic_corpus, kauh_folder, dataset_cache, tmp_path, capsys, **options)
    predictions = pd.read_csv(output / "out_of_fold_predictions.csv")
    cycles = len(read_icbhi_index(synthetic_corpus))
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["out_of_fold"]["cycles"] == cycles
    assert len(predictions) == cycles and not predictions.duplicated(["recording", "cycle_index"]).any()
    assert not predictions["recording"].str.contains("Asthma").any()  # no KAUH window is ever tested
    windows = sum(
        window_count(sf.info(path).frames, 4000, 2000) for path in read_kauh_index(kauh_folder)["path"]
    )
    record = RunRecord.load(output)
    kauh = {corpus.name: corpus for corpus in record.data.corpora}["kauh"]
    assert kauh.examples == windows  # every fold trained on them

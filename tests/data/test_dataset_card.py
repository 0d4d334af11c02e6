"""`respira prepare --output_dir`: a folder that `datasets.load_dataset` loads, with a dataset card whose
front matter and tables agree with counts derived here from the corpus files themselves."""

from __future__ import annotations

import collections
import re
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
from huggingface_hub import DatasetCard

from respira.cli import main
from respira.data.dataset_folder import dataset_card
from respira.models.respira.labels import CLASS_NAMES


def _corpus_counts(corpus: Path) -> dict[str, dict[str, object]]:
    """Cycles, class counts and patients per official split, read from the split and annotation files."""
    splits = {}
    for line in (corpus / "ICBHI_challenge_train_test.txt").read_text().splitlines():
        name, split = line.split()
        splits[name] = split
    counts: dict[str, dict[str, object]] = {
        split: {"cycles": 0, "classes": collections.Counter(), "patients": set()}
        for split in ("train", "test")
    }
    for annotation in sorted((corpus / "ICBHI_final_database").glob("*.txt")):
        entry = counts[splits[annotation.stem]]
        entry["patients"].add(annotation.stem.split("_")[0])
        for line in annotation.read_text().splitlines():
            _, _, crackle, wheeze = line.split()
            entry["cycles"] += 1
            entry["classes"][CLASS_NAMES[int(crackle) + 2 * int(wheeze)]] += 1
    return counts


@pytest.fixture(scope="module")
def prepared(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prepared")
    code = main(
        ["prepare", "--data_dir", str(synthetic_corpus), "--sampling_rate", "4000", "--output_dir",
         str(root / "icbhi"), "--cache_dir", str(root / "cache")]
    )  # fmt: skip
    assert code == 0
    return root / "icbhi"


def test_card_front_matter_agrees_with_the_corpus_files(prepared: Path, synthetic_corpus: Path) -> None:
    expected = _corpus_counts(synthetic_corpus)
    data = DatasetCard.load(prepared / "README.md").data.to_dict()
    info = data["dataset_info"]
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == {
        s: e["cycles"] for s, e in expected.items()
    }
    assert info["config_name"] == "cycles"
    assert info["download_size"] == sum(p.stat().st_size for p in prepared.rglob("*.parquet"))
    (config,) = data["configs"]
    assert config == {
        "config_name": "cycles",
        "data_files": [
            {"split": split, "path": [f"cycles/{split}-00000-of-00001.parquet"]}
            for split in ("train", "test")
        ],
        "default": True,
    }
    assert sorted(str(p.relative_to(prepared)) for p in prepared.rglob("*.parquet")) == sorted(
        path for entry in config["data_files"] for path in entry["path"]
    )
    features = datasets.Features._from_yaml_list(info["features"])
    assert features["audio"] == datasets.Audio(sampling_rate=4000)
    assert features["label"].names == list(CLASS_NAMES)
    assert data["respira"]["cycles"] == {
        "corpus": "icbhi", "config": "cycles", "synthetic": True, "sampling_rate": 4000,
        "split_strategy": "official",
        "validation_size": 0.0, "patient_split_fractions": [0.6, 0.2, 0.2], "stratify_by": "chest_location",
        "num_folds": 5, "fold_stratify_by": None, "seed": 0, "lowpass_cutoff": None, "lowpass_order": 4,
        "audio_subtype": "FLOAT",
        "clip_tolerance": 0.05,
    }  # fmt: skip
    assert data["license"] == "other" and data["license_link"] == "https://bhichallenge.med.auth.gr/"
    assert data["task_categories"] == ["audio-classification"]
    assert "synthetic" in data["tags"] and data["pretty_name"].startswith("Synthetic ICBHI-format corpus")


def test_card_body_states_the_counts_split_licence_and_citation(
    prepared: Path, synthetic_corpus: Path
) -> None:
    text = (prepared / "README.md").read_text(encoding="utf-8")
    for split, entry in _corpus_counts(synthetic_corpus).items():
        classes = " | ".join(str(entry["classes"][name]) for name in CLASS_NAMES)
        patients = len(entry["patients"])
        row = rf"\| {split} \| {entry['cycles']} \| {re.escape(classes)} \| [0-9.]+ \| {patients} \|"
        assert re.search(row, text), row  # minutes between the classes and the patients
    assert "**Synthetic data.**" in text
    assert "the challenge's official split" in text and "`validation`" not in text
    assert "resampled once with soxr (HQ) to 4000 Hz and not filtered" in text
    assert "freely available for research" in text and "check the database's terms of use" in text
    assert "@article{rocha2019open," in text
    assert re.search(r'load_dataset\("path/to/this/folder"\)', text)


def test_the_folder_loads_with_the_same_splits_counts_and_features(
    prepared: Path, synthetic_corpus: Path, tmp_path: Path
) -> None:
    expected = _corpus_counts(synthetic_corpus)
    loaded = datasets.load_dataset(str(prepared), cache_dir=str(tmp_path / "hf"))
    card_features = datasets.Features._from_yaml_list(
        DatasetCard.load(prepared / "README.md").data["dataset_info"]["features"]
    )
    assert list(loaded) == ["train", "test"]
    for split, part in loaded.items():
        assert len(part) == expected[split]["cycles"]
        assert part.features == card_features
        labels = np.bincount(part["label"], minlength=len(CLASS_NAMES))
        assert dict(zip(CLASS_NAMES, labels.tolist(), strict=True)) == {
            name: expected[split]["classes"][name] for name in CLASS_NAMES
        }
        audio = part[0]["audio"].get_all_samples()
        assert audio.sample_rate == 4000
        assert audio.data.shape[-1] == round(part[0]["end"] * 4000) - round(part[0]["start"] * 4000)


def test_a_patient_split_card_says_so(synthetic_corpus: Path, tmp_path: Path) -> None:
    from respira.data import load_icbhi

    dataset = load_icbhi(synthetic_corpus, split_strategy="patient", sampling_rate=4000, cache_dir=tmp_path)
    options = {"sampling_rate": 4000, "split_strategy": "patient", "patient_split_fractions": [0.6, 0.2, 0.2],
               "stratify_by": "chest_location", "seed": 0, "lowpass_cutoff": 2000.0,
               "lowpass_order": 4}  # fmt: skip
    layout = {split: [f"cycles/{split}.parquet"] for split in dataset}
    card = dataset_card(dataset, corpus="icbhi", config_name="cycles", data_files=layout, options=options)
    assert "A patient-wise split (train, validation, test; fractions 0.6/0.2/0.2)" in card.text
    assert "low-passed at 2000 Hz (zero-phase Butterworth, order 4)" in card.text
    assert "**Synthetic data.**" not in card.text
    assert card.data.pretty_name == "ICBHI 2017 Respiratory Sound Database (cycles, 4 kHz)"


def test_kauh_card_counts_recordings_from_the_file_names(shared_kauh: Path, tmp_path: Path) -> None:
    names = sorted(p.stem for p in shared_kauh.rglob("*.wav"))
    modes = collections.Counter(name.strip()[0].upper() for name in names)
    patients = {int(re.match(r"\s*[BDE]P(\d+)", name, re.IGNORECASE).group(1)) for name in names}
    code = main(
        ["prepare", "--dataset", "kauh", "--data_dir", str(shared_kauh), "--sampling_rate", "4000",
         "--output_dir", str(tmp_path / "kauh"), "--cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0
    card = DatasetCard.load(tmp_path / "kauh" / "README.md")
    assert card.data["dataset_info"]["splits"] == [
        {
            "name": "test",
            "num_bytes": card.data["dataset_info"]["splits"][0]["num_bytes"],
            "num_examples": len(names),
        }
    ]
    assert card.data["license"] == "unknown" and "could not verify its licence" in card.text
    modes_cell = f"bell {modes['B']}, diaphragm {modes['D']}, extended {modes['E']}"
    assert f"| test | {len(names)} | {len(patients)} |" in card.text and modes_cell in card.text
    assert "@article{fraiwan2021lungsounds," in card.text
    loaded = datasets.load_dataset(str(tmp_path / "kauh"), cache_dir=str(tmp_path / "hf"))["test"]
    assert len(loaded) == len(names) and loaded.features["audio"].sampling_rate == 4000


def test_the_card_states_the_numbers_of_the_build(prepared: Path, synthetic_corpus: Path) -> None:
    """A partial build says what it holds; the complete corpus's facts are labelled as such."""
    text = (prepared / "README.md").read_text(encoding="utf-8")
    annotations = sorted((synthetic_corpus / "ICBHI_final_database").glob("*.txt"))
    cycles = sum(len(p.read_text().splitlines()) for p in annotations)
    patients = {p.stem.split("_")[0] for p in annotations}
    assert (
        f"This build holds {len(annotations)} recordings of {len(patients)} patients, {cycles} annotated "
        "respiratory cycles (the complete database has 920 recordings and 6898 cycles)." in text
    )
    assert "**The corpus** (facts of the complete corpus, not of this build): The ICBHI 2017" in text


def test_configs_are_added_beside_the_others_and_replaced_alone(
    prepared: Path, synthetic_corpus: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "icbhi"
    shutil.copytree(prepared, folder)
    cycles_files = {p.name: p.read_bytes() for p in (folder / "cycles").iterdir()}
    base = ["prepare", "--data_dir", str(synthetic_corpus), "--sampling_rate", "4000",
            "--output_dir", str(folder),
            "--cache_dir", str(tmp_path / "cache")]  # fmt: skip
    assert main([*base, "--config", "recordings"]) == 0  # a new config: no --overwrite needed
    assert "other configs kept: cycles" in capsys.readouterr().out
    assert main([*base, "--config", "recordings"]) == 2  # the same config again: refused ...
    assert "already holds the config 'recordings'; pass --overwrite" in capsys.readouterr().err
    assert (
        main([*base, "--config", "recordings", "--validation_size", "0.25", "--overwrite"]) == 0
    )  # ... or replaced
    assert {p.name: p.read_bytes() for p in (folder / "cycles").iterdir()} == cycles_files
    data = DatasetCard.load(folder / "README.md").data.to_dict()
    assert [(c["config_name"], c.get("default", False)) for c in data["configs"]] == [
        ("cycles", True),
        ("recordings", False),
    ]
    assert set(data["respira"]) == {"cycles", "recordings"}
    assert data["respira"]["recordings"]["validation_size"] == 0.25
    assert data["respira"]["cycles"]["validation_size"] == 0.0
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert "## Configs" in text and "| `cycles` (default) | ICBHI 2017 Respiratory Sound Database |" in text
    assert 'load_dataset("path/to/this/folder", "recordings")' in text
    (folder / "README.md").write_text(text + "\nthe user's note\n", encoding="utf-8")  # a card edited by hand
    for flags in ([], ["--overwrite"]):  # refused alike, never "pass --overwrite": it would not work
        assert main([*base, "--config", "recordings", *flags]) == 2
        error = capsys.readouterr().err
        assert f"{folder / 'README.md'} was changed since respira wrote it: move it away" in error, error
    assert (folder / "README.md").read_text(encoding="utf-8").endswith("the user's note\n")
    (folder / "README.md").write_text(text, encoding="utf-8")
    cycles = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf"))
    recordings = datasets.load_dataset(str(folder), "recordings", cache_dir=str(tmp_path / "hf"))
    assert list(cycles) == ["train", "test"] and list(recordings) == ["train", "validation", "test"]
    assert sum(len(p) for p in recordings.values()) == len(
        list((synthetic_corpus / "ICBHI_final_database").glob("*.txt"))
    )
    assert sum(len(p) for p in cycles.values()) == sum(
        len(c) for part in recordings.values() for c in part["cycles"]
    )

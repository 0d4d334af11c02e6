"""A folder of one's own labelled recordings (respira.data.labelled): its index and builder, and every command
that takes a corpus (prepare, evaluate, fit-site, train's corpora) run on a hand-made
folder. Expected counts and labels are derived here from :data:`ROWS`, the table the folder is written
from, by this test's own reading of the spellings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf
import yaml

from respira.cli import main
from respira.data import load_labelled
from respira.data.labelled import read_labelled_index
from respira.data.labels_csv import UnlabelledRowsWarning
from respira.models.respira.labels import MULTI_LABEL

from ..conftest import THRESHOLDS, save_tiny_model
from ..training.conftest import TINY_RECIPE

RATE = 4000
# (file, crackle, wheeze, patient, device, location, seconds), as written in labels.csv
ROWS = (
    ("a.wav", "1", "0", "ward-7", "Litt 3200", "posterior left", 3.0),
    ("b.wav", "no", "yes", "ward-7", "Litt 3200", "", 2.5),
    ("deep/c.flac", "0", "0", "ward-9", "", "trachea", 2.0),
    ("d.wav", "TRUE", "1", "12", "Meditron", "anterior right", 3.5),
    ("e.wav", "0", "false", "13", "Meditron", "", 2.0),
)
FLAG = {"0": 0, "1": 1, "no": 0, "yes": 1, "true": 1, "false": 0}
PATIENTS = list(dict.fromkeys(row[3] for row in ROWS))


def _flags(row: tuple) -> tuple[int, int]:
    return FLAG[row[1].lower()], FLAG[row[2].lower()]


def write_labelled(
    folder: Path, rows: tuple = ROWS, *, columns: str = "file,crackle,wheeze,patient,device,location"
) -> Path:
    """Noise files of ``rows`` and their ``labels.csv`` (only ``columns``) in ``folder``."""
    rng = np.random.default_rng(0)
    for file, *_, seconds in rows:
        path = folder / file
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.05 * rng.standard_normal(round(seconds * RATE))).astype(np.float32), RATE)
    names = columns.split(",")
    every = ("file", "crackle", "wheeze", "patient", "device", "location")
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow([row[every.index(name)] for name in names])
    return folder


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return write_labelled(tmp_path / "site")


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labelled(tmp_path_factory.mktemp("labelled") / "site")


# -------------------------------------------------------------------------------------- index, builder
def test_the_index_reads_each_row_and_numbers_the_patients(site: Path) -> None:
    index = read_labelled_index(site)
    assert index["recording"].tolist() == [row[0] for row in ROWS]
    assert index["path"].tolist() == [str((site / row[0]).resolve()) for row in ROWS]
    assert list(zip(index["crackle"], index["wheeze"], strict=True)) == [_flags(row) for row in ROWS]
    assert index["normal"].tolist() == [int(_flags(row) == (0, 0)) for row in ROWS]
    names = {(0, 0): "normal", (1, 0): "crackle", (0, 1): "wheeze", (1, 1): "both"}
    assert index["label"].tolist() == [names[_flags(row)] for row in ROWS]
    assert index["patient"].tolist() == [row[3] for row in ROWS]
    assert index["patient_id"].tolist() == [PATIENTS.index(row[3]) + 1 for row in ROWS]
    for column, place in (("device", 4), ("chest_location", 5)):  # empty cells: not known
        assert index[column].fillna("").tolist() == [row[place] for row in ROWS]
        assert index[column].isna().tolist() == [not row[place] for row in ROWS]


def test_without_a_patient_column_each_recording_is_its_own_patient(tmp_path: Path) -> None:
    folder = write_labelled(tmp_path / "site", columns="file,crackle,wheeze")
    index = read_labelled_index(folder)
    assert index["patient_id"].tolist() == list(range(1, len(ROWS) + 1))
    assert index["patient"].isna().all() and index["device"].isna().all()


def test_the_builder_decodes_every_listed_file_at_the_rate_asked(site: Path, tmp_path: Path) -> None:
    (site / "not_listed.wav").write_bytes((site / "a.wav").read_bytes())
    built = load_labelled(site, sampling_rate=8000, cache_dir=tmp_path / "cache")
    assert list(built) == ["test"]
    test = built["test"]
    assert test["recording"] == [row[0] for row in ROWS]  # the unlisted file is not read
    assert test.features["label"].names == ["normal", "crackle", "wheeze", "both"]
    assert [test.features["label"].int2str(v) for v in test["label"]] == read_labelled_index(site)[
        "label"
    ].tolist()
    for example, row in zip(test.cast_column("audio", datasets.Audio(decode=False)), ROWS, strict=True):
        samples, rate = sf.read(io.BytesIO(example["audio"]["bytes"]))
        assert rate == 8000 and len(samples) == round(row[-1] * 8000)


# ------------------------------------------------------------------------------------------- commands
def test_prepare_writes_its_dataset_and_card(site: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "prepared"
    assert (
        main(["prepare", "--dataset", "labelled", "--data_dir", str(site), "--output_dir", str(output)]) == 0
    )
    printed = capsys.readouterr().out
    assert "LABELLED 'recordings' dataset ready" in printed
    card = (output / "README.md").read_text()
    assert "Recordings listed in a labels.csv" in card and "## Citation" not in card  # none to cite
    assert "`test`: every recording listed in labels.csv" in card and "never used to train" not in card
    crackles = sum(_flags(row)[0] for row in ROWS)
    wheezes = sum(_flags(row)[1] for row in ROWS)
    normal = sum(_flags(row) == (0, 0) for row in ROWS)
    assert f"| test | {len(ROWS)} | {len(PATIENTS)} | {crackles} | {wheezes} | {normal} |" in card
    reloaded = datasets.load_dataset(str(output), "labelled", cache_dir=str(tmp_path / "pq"))
    assert reloaded["test"]["patient"] == [row[3] for row in ROWS]


def test_evaluate_scores_it_per_recording_and_per_device(shared_site: Path, tmp_path: Path, capsys) -> None:
    model = save_tiny_model(tmp_path / "model")
    report = tmp_path / "report"
    arguments = ["evaluate", str(model), "--dataset", "labelled", "--data_dir", str(shared_site)]
    assert (
        main([*arguments, "--output_dir", str(report), "--bootstrap", "5", "--window", "1", "--hop", "1"])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"on LABELLED ({len(ROWS)} recordings, {len(PATIENTS)} patients)" in printed
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["group_column"] == "device"
    assert set(metrics["groups"]) == {"overall", "Litt 3200", "Meditron"}  # the row without one: overall
    # issue 49: the all-normal figure beside each ICBHI-style score, in % as everywhere
    assert "all-normal %" in printed
    styled = [line for line in printed.splitlines() if "ICBHI-style" in line]
    for line, scores in zip(styled, metrics["groups"].values(), strict=True):
        baseline = f"{100 * scores['icbhi']['baseline_all_normal_icbhi_score']:.1f}"
        assert f"  {baseline}" in line.split("]", 1)[-1], line
    assert metrics["groups"]["overall"]["crackle"]["positives"] == sum(_flags(row)[0] for row in ROWS)
    assert metrics["groups"]["Meditron"]["wheeze"]["positives"] == sum(
        _flags(row)[1] for row in ROWS if row[4] == "Meditron"
    )
    with (report / "recording_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["recording"] for row in rows] == [row[0] for row in ROWS]
    assert [row["patient"] for row in rows] == [row[3] for row in ROWS]  # labels.csv's names, not 1, 2, 3


def test_evaluate_without_devices_scores_it_overall(tmp_path: Path, capsys) -> None:
    folder = write_labelled(tmp_path / "site", columns="file,crackle,wheeze,patient")
    model = save_tiny_model(tmp_path / "model")
    arguments = [
        "evaluate",
        str(model),
        "--dataset",
        "labelled",
        "--data_dir",
        str(folder),
        "--bootstrap",
        "5",
    ]
    assert main([*arguments, "--output_dir", str(tmp_path / "report"), "--window", "1", "--hop", "1"]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["group_column"] is None and set(metrics["groups"]) == {"overall"}


def test_evaluate_reads_the_labelled_rows_and_says_how_many_were_left_blank_or_too_poor(
    tmp_path: Path, capsys
) -> None:
    blank = (("f.wav", "", "", "14", "", "", 1.0), ("g.wav", " ", "", "15", "", "", 1.0))
    poor = (("h.wav", "", "", "16", "", "", 1.0),)  # judged too poor to label: an answer, not left blank
    folder = write_labelled(tmp_path / "site", (*ROWS, *blank, *poor), columns="file,crackle,wheeze,patient")
    lines = (folder / "labels.csv").read_text().splitlines()
    quality = ["quality", *([""] * (len(lines) - 2)), "poor"]
    (folder / "labels.csv").write_text(
        "".join(f"{line},{cell}\n" for line, cell in zip(lines, quality, strict=True))
    )
    model = save_tiny_model(tmp_path / "model")
    arguments = ["evaluate", str(model), "--dataset", "labelled", "--data_dir", str(folder)]
    arguments += ["--bootstrap", "5"]
    with pytest.warns(UnlabelledRowsWarning) as caught:  # the CLI prints each warning once, one line
        code = main([*arguments, "--output_dir", str(tmp_path / "report"), "--window", "1", "--hop", "1"])
    assert code == 0
    assert {str(w.message) for w in caught if w.category is UnlabelledRowsWarning} == {
        f"{folder / 'labels.csv'}: 5 labelled, 2 left blank (not yet labelled), 1 judged too poor to label; "
        "reading the 5 labelled"
    }
    with (tmp_path / "report" / "recording_predictions.csv").open() as handle:
        assert [row["recording"] for row in csv.DictReader(handle)] == [row[0] for row in ROWS]


def test_a_bad_row_is_refused_in_one_line_and_nothing_is_written(
    site: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import respira.hub.loading

    model = save_tiny_model(tmp_path / "model", problem_type=MULTI_LABEL, decision_thresholds=THRESHOLDS)
    capsys.readouterr()  # save_pretrained's progress bar
    text = (site / "labels.csv").read_text().splitlines()
    (site / "labels.csv").write_text("\n".join([*text, text[1]]) + "\n")  # the first row again
    message = f"labels.csv:{len(text) + 1}: file 'a.wav' is listed twice (first on line 2)"
    output = tmp_path / "out"
    common = [str(model), "--dataset", "labelled", "--data_dir", str(site), "--output_dir", str(output)]
    for command in ("fit-site", "evaluate"):  # evaluate reads labels.csv before it loads the model
        assert main([command, *common]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and message in error, error
        assert not output.exists()
        monkeypatch.setattr(respira.hub.loading, "load_model", lambda *a, **k: pytest.fail("loaded"))


def test_fit_site_re_tunes_thresholds_on_its_recordings(
    shared_site: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import respira.hub.export

    # the ONNX graph, a placeholder: its export is checked in tests/sites/test_fit_site.py
    monkeypatch.setattr(respira.hub.export, "export_onnx", lambda _, path, **__: Path(path).write_bytes(b"x"))
    model = save_tiny_model(tmp_path / "model", problem_type=MULTI_LABEL, decision_thresholds=THRESHOLDS)
    output = tmp_path / "calibrated"
    code = main(
        ["fit-site", str(model), "--data_dir", str(shared_site), "--output_dir", str(output),
         "--candidates", "as_is", "thresholds", "--outer_folds", "2", "--apply_anyway"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    record = json.loads((output / "site_fit.json").read_text())
    assert (record["recordings"], record["units"]) == (len(ROWS), len(PATIENTS))
    assert record["candidates"] == ["as_is", "thresholds"]


def test_train_takes_it_in_corpora_as_bags_of_windows(
    shared_site: Path, synthetic_corpus: Path, tmp_path: Path, capsys
) -> None:
    from respira.records.run import RunRecord

    recipe = tmp_path / "recipe.yaml"
    options = {
        **TINY_RECIPE,
        "projector_dim": None,
        "problem_type": MULTI_LABEL,
        "sampling_rate": 4000,
        "freeze_encoder": True,
        "cache_embeddings": True,
        "corpora": ["icbhi", "labelled"],
        "corpus_dirs": {"labelled": str(shared_site)},
        "corpus_window_seconds": 1.0,
        "corpus_hop_seconds": 0.5,
        "per_device_train_batch_size": 16,
    }
    recipe.write_text(yaml.safe_dump(options))
    output = tmp_path / "run"
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    corpora = {corpus.name: corpus for corpus in RunRecord.load(output).data.corpora}
    labelled = corpora["labelled"]
    windows = sum(int((seconds - 1.0) / 0.5) + 1 for *_, seconds in ROWS)
    assert (labelled.labels, labelled.patients, labelled.recordings) == (
        "recording",
        len(PATIENTS),
        len(ROWS),
    )
    assert labelled.examples == windows
    card = (output / "README.md").read_text()
    assert "```bibtex\n\n```" not in card  # no empty citation for a corpus with none
    assert (
        f"labelled (recording labels: {len(PATIENTS)} patients, {len(ROWS)} recordings, {windows} windows)"
        in (" ".join(card.split()))
    )


def test_its_windows_join_training_as_bags_named_by_their_device(
    shared_site: Path, synthetic_corpus: Path, tmp_path: Path
) -> None:
    from respira.data.multi_corpus import BAG_COLUMN, PATIENT_OFFSET
    from respira.data.run_splits import load_splits

    from ..conftest import two_corpus_record

    splits = load_splits(two_corpus_record(synthetic_corpus, "labelled", shared_site), cache_dir=tmp_path)
    assert set(splits["test"]["corpus"]) == {"icbhi"}
    windows = splits["train"].filter(lambda row: row["corpus"] == "labelled")
    assert len(set(windows[BAG_COLUMN])) == len(ROWS)  # one bag per recording
    by_recording = dict(zip(windows["recording"], windows["device"], strict=True))
    assert by_recording == {row[0]: row[4] or "labelled" for row in ROWS}  # no device: the corpus's name
    patients = dict(
        zip(windows["recording"], np.asarray(windows["patient_id"]) - PATIENT_OFFSET, strict=True)
    )
    assert patients == {row[0]: PATIENTS.index(row[3]) + 1 for row in ROWS}

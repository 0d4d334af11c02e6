"""``respira suggest`` and :func:`respira.suggest` end to end (respira.sites.suggest): the list
written in order with its reasons, labelled rows kept and used, a second round from the cache without the
model, and bad input refused in one line before any model is loaded, nothing written."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import respira
import respira.inference.detector
from respira.cli import main
from respira.sites.scores import recording_probabilities
from respira.sites.suggest import CACHE_FOLDER, suggest_units
from respira.utils.files import staged_folder

from ..conftest import SHARED_DIR
from .conftest import make_sample
from .test_site_folder import tiny_site_model

RATE = 16000


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    tiny_site_model(folder)
    return folder


def write_archive(folder: Path, rows: list[tuple[str, str, str, str]] | None, files: int = 8) -> Path:
    """``files`` noise recordings ``r0.wav``...; ``rows`` (file, crackle, wheeze, patient): its labels.csv."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(files):
        audio = (0.05 * (1 + number) * rng.standard_normal(RATE + 800 * number)).astype(np.float32)
        sf.write(folder / f"r{number}.wav", audio, RATE)
    if rows is not None:
        with (folder / "labels.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "crackle", "wheeze", "patient"])
            writer.writerows(rows)
    return folder


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


ROWS = [(f"r{n}.wav", "", "", f"p{n // 2}") for n in range(8)]  # 4 patients, two recordings each


def test_it_lists_the_next_patients_in_order_keeps_the_labelled_and_reads_the_cache_next_round(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    rows = [("r0.wav", "1", "0", "p0"), ("r1.wav", "0", "0", "p0"), *ROWS[2:]]  # p0 labelled
    archive = write_archive(tmp_path / "archive", rows)
    before = (archive / "labels.csv").read_bytes()
    output = tmp_path / "next.csv"
    command = ["suggest", str(model), "--data_dir", str(archive), "--budget", "2", "--output", str(output)]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert (
        f"wrote {output}: the 2 patients to label next" in printed
        and "1 patients already labelled" in printed
    )
    written = read_rows(output)
    assert list(written[0]) == ["file", "crackle", "wheeze", "patient", "reason"]
    suggested, rest = written[:4], written[4:]  # the chosen first, then every other recording
    assert all(r["reason"] and r["crackle"] == r["wheeze"] == "" for r in suggested)
    patients = list(dict.fromkeys(r["patient"] for r in suggested))
    assert len(patients) == 2 and "p0" not in patients
    assert [r["patient"] for r in suggested] == [patients[0]] * 2 + [patients[1]] * 2  # a patient's together
    assert [(r["file"], r["crackle"], r["wheeze"]) for r in rest[:2]] == [
        ("archive/r0.wav", "1", "0"),
        ("archive/r1.wav", "0", "0"),
    ]
    assert {r["patient"] for r in rest[2:]} == {"p1", "p2", "p3"} - set(patients)
    assert all(r["reason"] == "" for r in rest[2:]) and len(rest) == 4
    assert (archive / "labels.csv").read_bytes() == before  # the user's file untouched
    assert (tmp_path / CACHE_FOLDER).is_dir()

    # the loop: labels written into the archive's own labels.csv, suggest run on it again and again
    labelled = {r["file"].removeprefix("archive/"): ("0", "1") for r in suggested}
    (archive / "labels.csv").write_text(
        "file,crackle,wheeze,patient\n"
        + "".join(
            f"{f},{c},{w},{p}\n" for f, c, w, p in ((f, *labelled.get(f, (c, w)), p) for f, c, w, p in rows)
        )
    )
    own = archive / "labels.csv"
    last = ({"p1", "p2", "p3"} - set(patients)).pop()
    first = respira.suggest(str(model), data_dir=str(archive), budget=1, output=str(own))
    assert first.embedded == 8 and (archive / CACHE_FOLDER).is_dir()  # the cache lies beside the output
    monkeypatch.setattr(
        respira.inference.detector.Detector, "from_pretrained", lambda *a, **k: pytest.fail("model loaded")
    )
    result = respira.suggest(str(model), data_dir=str(archive), budget=1, output=str(own))
    assert result.embedded == 0 and result.cached == 8 and result.labelled_units == 3
    assert [s.unit for s in result.suggestions] == [last]
    again = read_rows(own)
    assert [r["file"] for r in again[2:]] == [f"r{n}.wav" for n in range(8) if f"p{n // 2}" != last]
    assert [(r["crackle"], r["reason"] != "") for r in again[:2]] == [("", True), ("", True)]
    assert [r["reason"] for r in again[:2]] == [result.suggestions[0].reason] * 2


def test_without_labels_csv_each_recording_is_its_own_unit(model: Path, tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive", None, files=5)
    result = respira.suggest(str(model), data_dir=str(archive), budget=3, output=str(archive / "labels.csv"))
    written = read_rows(archive / "labels.csv")
    assert list(written[0]) == ["file", "crackle", "wheeze", "reason"]
    assert [r["file"] for r in written[:3]] == [s.unit for s in result.suggestions]
    assert sorted(r["file"] for r in written) == [f"r{n}.wav" for n in range(5)]  # every recording listed
    assert [bool(r["reason"]) for r in written] == [True] * 3 + [False] * 2
    assert not result.units_are_patients and not result.patients_named


def test_symlinked_recordings_keep_the_archives_names(model: Path, tmp_path: Path) -> None:
    """An archive of symlinks (to recordings whose names say more) is written back under its own names."""
    store = write_archive(tmp_path / "store", None, files=4)
    archive = tmp_path / "archive"
    archive.mkdir()
    for number in range(4):
        (archive / f"P{number}.wav").symlink_to(store / f"r{number}.wav")
    (archive / "labels.csv").write_text(
        "file,crackle,wheeze,patient\n" + "".join(f"P{n}.wav,,,p{n}\n" for n in range(4))
    )
    respira.suggest(str(model), data_dir=str(archive), budget=2, output=str(archive / "labels.csv"))
    assert sorted(r["file"] for r in read_rows(archive / "labels.csv")) == [f"P{n}.wav" for n in range(4)]
    respira.suggest(
        str(model), data_dir=str(archive), budget=1, output=str(tmp_path / "next.csv"), overwrite=True
    )
    assert sorted(r["file"] for r in read_rows(tmp_path / "next.csv")) == [
        f"archive/P{n}.wav" for n in range(4)
    ]


@pytest.mark.parametrize(
    ("setup", "arguments", "message"),
    [
        ("empty", [], "holds no audio file (looked for .wav"),
        ("no folder", [], "archive' does not exist"),
        ("missing", [], "labels.csv:3: file 'gone.wav' does not exist"),
        ("twice", [], "labels.csv:4: file 'r0.wav' is listed twice (first on line 2)"),
        ("blank patient", [], "labels.csv:3: file 'r1.wav' has no patient"),
        ("unlisted", [], "file 'r7.wav' is in the archive but not in labels.csv: its patient is unknown"),
        ("plain", ["--budget", "5"], "--budget 5 is more than the 4 patients not yet labelled in"),
        ("plain", ["--budget", "-1"], "--budget must be a whole number >= 0, got -1"),
        (
            "plain",
            ["--patient_pattern", "r(\\d"],
            "--patient_pattern 'r(\\d' is not a regular expression: ",
        ),
        (
            "plain",
            ["--patient_pattern", "r\\d"],
            "--patient_pattern 'r\\d' has no group: put the patient in",
        ),
        ("plain", ["--patient_pattern", "x(\\d)"], "does not match the file name 'r0.wav' (r0.wav)"),
        (
            "plain",
            ["--patient_pattern", "r(\\d)"],
            "labels.csv:2: patient 'p0', but --patient_pattern 'r(\\d)' gives",
        ),
        ("none", ["--patient_pattern", "r(\\d)"], "does not match the file name 'notes.wav' (sub/notes.wav)"),
        ("output exists", [], "exists; pass --overwrite to replace it"),
        ("half", [], "labels.csv:2: wheeze is blank but not the other"),
    ],
)
def test_bad_input_is_one_line_before_any_model_and_nothing_is_written(
    model: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, setup: str, arguments: list[str],
    message: str,
) -> None:  # fmt: skip
    monkeypatch.setattr(
        respira.inference.detector.Detector, "from_pretrained", lambda *a, **k: pytest.fail("model loaded")
    )
    rows = {
        "missing": [ROWS[0], ("gone.wav", "", "", "p9"), *ROWS[1:]],
        "twice": [*ROWS[:2], ROWS[0], *ROWS[2:]],
        "blank patient": [ROWS[0], ("r1.wav", "", "", ""), *ROWS[2:]],
        "unlisted": ROWS[:7],
        "half": [("r0.wav", "1", "", "p0"), *ROWS[1:]],
    }.get(setup, ROWS)
    archive = tmp_path / "archive"
    if setup == "empty":
        archive.mkdir()
        (archive / "notes.txt").write_text("no audio")
    elif setup == "none":  # no labels.csv: the pattern names every file's patient, or names the file
        write_archive(archive, None)
        (archive / "sub").mkdir()
        shutil.copy(archive / "r0.wav", archive / "sub" / "notes.wav")
    elif setup != "no folder":
        write_archive(archive, rows)
    output = tmp_path / "out" / "labels.csv"
    output.parent.mkdir()
    if setup == "output exists":
        output.write_text("mine")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    command = ["suggest", str(model), "--data_dir", str(archive), "--output", str(output), "--budget", "2"]
    assert main([*command, *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, no cache
    if setup == "output exists":
        assert output.read_text() == "mine"


@pytest.mark.skipif(not (SHARED_DIR / "kauh").is_dir(), reason="../shared/kauh is not on this machine")
def test_a_real_archive_gives_real_patients(tmp_path: Path) -> None:
    from respira.data.kauh import read_kauh_index

    index = read_kauh_index(SHARED_DIR / "kauh").head(4)  # 4 patients: 2 suggested, 2 not
    archive = tmp_path / "archive"
    archive.mkdir()
    with (archive / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "crackle", "wheeze", "patient"])
        for row in index.itertuples():
            shutil.copy(row.path, archive / Path(row.path).name)
            writer.writerow([Path(row.path).name, "", "", row.patient_id])
    result = respira.suggest(data_dir=str(archive), budget=2, output=str(tmp_path / "next.csv"))
    assert len(result.suggestions) == 2 and result.units_are_patients
    patients = {str(p) for p in index["patient_id"]}
    assert set(result.recordings) <= patients and all(result.recordings.values())
    named = {Path(row.path).name: str(row.patient_id) for row in index.itertuples()}
    assert all(named[Path(f).name] == unit for unit, files in result.recordings.items() for f in files)


def test_the_cache_runs_the_model_only_on_new_or_changed_recordings(model: Path, tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive", None, files=4)
    output = tmp_path / "next.csv"
    options = {"data_dir": str(archive), "budget": 2, "output": str(output), "overwrite": True}
    assert respira.suggest(str(model), **options).embedded == 4
    sf.write(archive / "r1.wav", np.zeros(RATE, dtype=np.float32), RATE)  # changed
    shutil.copy(archive / "r0.wav", archive / "r9.wav")  # new
    (archive / "r3.wav").unlink()  # gone
    result = respira.suggest(str(model), **options)
    assert (result.embedded, result.cached) == (2, 2)
    assert {name for files in result.recordings.values() for name in files} <= {
        f"archive/r{n}.wav" for n in (0, 1, 2, 9)
    }


def test_a_recording_judged_too_poor_is_answered_never_suggested_again_and_kept(
    model: Path, tmp_path: Path
) -> None:
    """``quality`` poor (the labelling page's P) is an answer: a patient whose recordings are all answered
    is not suggested, a poor recording of a patient still open is not listed again for labelling, and
    the answer is written back as it was."""
    archive = write_archive(tmp_path / "archive", None)
    answers = ["1,0,", "0,0,", ",,poor", ",,poor", ",,poor", ",,", ",,", ",,"]  # p1 all poor, p2 half
    (archive / "labels.csv").write_text(
        "file,patient,crackle,wheeze,quality\n"
        + "".join(f"r{n}.wav,p{n // 2},{answer}\n" for n, answer in enumerate(answers))
    )
    own = archive / "labels.csv"
    with pytest.raises(ValueError, match=r"--budget 3 is more than the 2 patients not yet labelled"):
        respira.suggest(str(model), data_dir=str(archive), budget=3, output=str(own))
    result = respira.suggest(str(model), data_dir=str(archive), budget=2, output=str(own))
    assert sorted(s.unit for s in result.suggestions) == ["p2", "p3"]
    assert {unit: len(files) for unit, files in result.recordings.items()} == {"p2": 1, "p3": 2}
    written = read_rows(own)
    assert list(written[0]) == ["file", "crackle", "wheeze", "patient", "quality", "reason"]
    assert sorted(r["file"] for r in written[:3]) == ["r5.wav", "r6.wav", "r7.wav"]  # the chosen first
    assert all(r["reason"] and r["quality"] == "" for r in written[:3])
    assert [(r["file"], r["crackle"], r["wheeze"], r["quality"]) for r in written[3:]] == [
        ("r0.wav", "1", "0", ""),
        ("r1.wav", "0", "0", ""),
        ("r2.wav", "", "", "poor"),
        ("r3.wav", "", "", "poor"),
        ("r4.wav", "", "", "poor"),
    ]


def test_the_units_the_model_is_least_sure_of_come_first_each_once_and_never_a_labelled_one() -> None:
    sample = make_sample(units=12)
    labelled = {"p0": True, "p3": False}
    chosen = suggest_units(sample, 5, labelled=labelled)
    probabilities = recording_probabilities(
        sample.base_logits, sample.recording, len(sample.recordings), sample.aggregation, sample.top_k
    )
    logits = np.log(probabilities / (1 - probabilities))
    distance = np.abs(logits - np.log(np.asarray(sample.base_thresholds) / 0.5)).min(axis=1)  # thresholds 0.5
    doubt: dict[str, float] = {}
    for unit, value in zip(sample.units, distance, strict=True):
        doubt[unit] = min(doubt.get(unit, np.inf), float(value))
    units = [s.unit for s in chosen]
    assert len(set(units)) == 5 and not set(units) & set(labelled)
    expected = sorted(value for unit, value in doubt.items() if unit not in labelled)[:5]
    assert [doubt[unit] for unit in units] == pytest.approx(expected)
    assert all(s.reason.startswith("the model is unsure: the model calls it ") for s in chosen)


def test_the_progress_line_says_what_the_model_reads_and_of_how_many_patients(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], progress_bars_on: None
) -> None:
    """Issue 73: "embedding the labelled recordings (84 recordings)" was printed where none was labelled;
    the line says which recordings the model reads, of how many patients, how many are labelled and cached."""
    rows = [("r0.wav", "1", "0", "p0"), ("r1.wav", "0", "0", "p0"), *ROWS[2:]]  # p0 labelled, 3 not
    archive = write_archive(tmp_path / "archive", rows)
    options = ["--data_dir", str(archive), "--budget", "1", "--output", str(tmp_path / "next.csv")]
    assert main(["suggest", str(model), *options]) == 0
    stages = [line for line in capsys.readouterr().err.splitlines() if line.startswith("embedding")]
    assert stages == [
        "embedding the archive's recordings not yet in the cache, of 4 patients; 2 of them labelled, 0 from "
        "the cache (8 recordings)"
    ]
    sf.write(archive / "r7.wav", np.zeros(RATE, dtype=np.float32), RATE)  # one changed: the rest cached
    assert main(["suggest", str(model), *options, "--overwrite"]) == 0
    stages = [line for line in capsys.readouterr().err.splitlines() if line.startswith("embedding")]
    assert stages == [
        "embedding the archive's recordings not yet in the cache, of 1 patient; 0 of them labelled, 7 from "
        "the cache (1 recording)"
    ]


def test_it_does_not_write_a_labels_file_a_labelling_page_holds(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One writer of labels.csv at a time: refused before the model runs, the file as it was."""
    from respira.data.labels_csv import LabelsBusyError, hold_labels

    monkeypatch.setattr(
        respira.inference.detector.Detector, "from_pretrained", lambda *a, **k: pytest.fail("model loaded")
    )
    archive = write_archive(tmp_path / "archive", ROWS)
    own = archive / "labels.csv"
    before = own.read_text()
    held = hold_labels(own)
    try:
        with pytest.raises(LabelsBusyError, match=rf"^{own} is being written by another process \(pid "):
            respira.suggest(str(model), data_dir=str(archive), budget=1, output=str(own))
    finally:
        held.release()
    assert own.read_text() == before


KAUH_PATTERN = r"[BDE]P(\d+)"


def kauh_answer(file: str) -> str:
    """The page's answer for a KAUH-named recording: its sound codes read from the name."""
    codes = Path(file).name.split("_", 1)[1].split(",")[1].split()
    crackle, wheeze = any(c in ("C", "Crep") for c in codes), "W" in codes
    return {(0, 0): "normal", (1, 0): "crackle", (0, 1): "wheeze", (1, 1): "both"}[(crackle, wheeze)]


def label_batch(model: Path, labels: Path) -> dict:
    """Answer every recording the page shows, through the session's API, as a clinician would; then what
    the page says next."""
    from respira.app.labelling import LabelSession

    session = LabelSession(labels, respira.Detector.from_pretrained(model), model=str(model), minimum_units=4)
    try:
        while (shown := session.state()["recording"]) is not None:
            session.answer(shown["index"], kauh_answer(shown["file"]))
        return {"progress": session.progress(), "done": session.done()}
    finally:
        session.close()


def run_page_command(command: str, *extra: str) -> int:
    import shlex

    words = shlex.split(command)
    assert words[:1] == ["respira"], command
    return main([*words[1:], *extra])


@pytest.fixture
def fold_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every fold assignment fit-site makes (outer, inner, learning-curve draws) and every bootstrap's
    units, recorded as (each recording's unit, its fold or draw)."""
    from respira.sites import choice, out_of_sample

    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def folds(sample, *args, **kwargs):
        assigned = choice_folds(sample, *args, **kwargs)
        seen.append((np.asarray(sample.units), np.asarray(assigned)))
        return assigned

    def draw(sample, *args, **kwargs):
        inside = draw_units(sample, *args, **kwargs)
        if inside is not None:
            seen.append((np.asarray(sample.units), np.asarray(inside)))
        return inside

    def intervals(labels, units, *args, **kwargs):  # the bootstrap resamples these units
        seen.append((np.asarray(units), np.zeros(len(units))))
        return bootstrap(labels, units, *args, **kwargs)

    choice_folds, draw_units = choice.unit_folds, out_of_sample._draw
    bootstrap = out_of_sample.scores_with_intervals
    monkeypatch.setattr(out_of_sample, "scores_with_intervals", intervals)
    monkeypatch.setattr(choice, "unit_folds", folds)
    monkeypatch.setattr(out_of_sample, "unit_folds", folds)
    monkeypatch.setattr(out_of_sample, "_draw", draw)
    return seen


def test_a_kauh_like_folder_keeps_its_patients_through_suggest_label_and_fit_site(
    model: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, fold_spy: list
) -> None:
    """Issue 82: three recordings per patient (KAUH's filter modes) named by --patient_pattern: suggest
    writes the patient column and lists every recording, the page counts patients, its next commands run
    as printed on every round (fit-site's output beside the folder, --overwrite of its own fit), and no
    fold, draw or bootstrap of fit-site splits a patient."""
    import respira.hub.export
    from respira.records.site_fit import SITE_FIT_FILE

    from ..conftest import write_kauh

    monkeypatch.setattr(
        respira.hub.export, "export_onnx", lambda model, path, **_: Path(path).write_bytes(b"x")
    )
    archive = write_kauh(tmp_path / "kauh", patients=8)
    labels = archive / "labels.csv"
    assert main(["suggest", str(model), "--data_dir", str(archive), "--budget", "2", "--output", str(labels),
                 "--patient_pattern", KAUH_PATTERN]) == 0  # fmt: skip
    said = capsys.readouterr()
    assert (
        "the 2 patients to label next first" in said.out
        and "then the archive's other 18 recordings" in said.out
    )
    assert "own patient" not in said.out + said.err
    written = read_rows(labels)
    assert len(written) == 24 and all(
        r["patient"] == re.search(KAUH_PATTERN, r["file"]).group(1) for r in written
    )
    assert [bool(r["reason"]) for r in written] == [True] * 6 + [False] * 18
    assert [r["patient"] for r in written[:6]] == [written[0]["patient"]] * 3 + [written[3]["patient"]] * 3

    rounds, fitted = 0, []
    while True:
        page = label_batch(model, labels)
        assert page["progress"]["recordings"] == 24 and page["progress"]["units"] == 8  # the folder's
        assert " of 8 patients labelled (" in page["progress"]["line"], page["progress"]["line"]
        command = page["done"]["next"]
        if command.startswith("respira fit-site"):
            output = Path(shlex_word(command, "--output_dir"))
            assert archive.resolve() not in output.resolve().parents  # never inside the recordings' folder
            code = run_page_command(command, "--outer_folds", "3", "--apply_anyway", "--candidates", "as_is",
                                    "thresholds")  # fmt: skip
            assert code == 0, capsys.readouterr().err
            fitted.append(command)
            if len(fitted) == 2:
                break
            command = f"respira suggest {model} --data_dir {archive} --budget 1 --output {labels}"
        assert run_page_command(command) == 0, capsys.readouterr().err
        rounds += 1
        assert rounds < 8
    assert "--overwrite" not in fitted[0] and fitted[1].endswith("--overwrite")  # its own earlier fit
    printed = capsys.readouterr().out
    record = json.loads((output / SITE_FIT_FILE).read_text())
    assert record["units_are_patients"] and record["recordings"] == 3 * record["units"]
    assert f"nested cross-validation over {record['units']} patients" in printed
    assert "own unit" not in printed + (output / "README.md").read_text()
    patients = {r["patient"] for r in read_rows(labels)}
    assert fold_spy and all(set(units) <= patients for units, _ in fold_spy)
    assert any(not folds.any() for _, folds in fold_spy)  # the bootstraps' units: patients, as above
    for units, folds in fold_spy:  # each patient wholly in one fold (or one side of a draw)
        assert all(len(set(folds[units == unit].tolist())) == 1 for unit in set(units)), (units, folds)


def shlex_word(command: str, option: str) -> str:
    import shlex

    words = shlex.split(command)
    return words[words.index(option) + 1]


def test_a_folder_without_patients_says_so_once_and_the_page_leads_to_naming_them(
    model: Path, tmp_path: Path, capsys
) -> None:
    """Without a patient column or --patient_pattern: suggest says once that each recording counts as its
    own patient and no output claims patient-wise anything; the page does not offer fit-site (which
    refuses the folder) but the suggest command that names the patients, which keeps every answer."""
    from ..conftest import write_kauh

    archive = write_kauh(tmp_path / "kauh", patients=4)
    labels = archive / "labels.csv"
    command = ["suggest", str(model), "--data_dir", str(archive), "--budget", "5", "--output", str(labels)]
    assert main(command) == 0
    said = capsys.readouterr()
    assert said.err.count("each recording counts as its own patient") == 1, said.err
    assert "the 5 recordings to label next first" in said.out
    for claim in ("patient-wise", "patient-bootstrap", "serves"):
        assert claim not in said.out + said.err
    assert len(read_rows(labels)) == 12 and "patient" not in read_rows(labels)[0]
    page = label_batch(model, labels)
    progress = page["progress"]
    assert progress["line"].startswith("5 of 12 recordings labelled (5 of 12 recordings answered)")
    assert "each recording's patient (labels.csv has no patient column)" in progress["lacking"]
    assert not progress["minimum_reached"]
    assert (
        main(["fit-site", str(model), "--data_dir", str(archive), "--output_dir", str(tmp_path / "x")]) == 2
    )
    assert "names no patient" in capsys.readouterr().err
    assert "--patient_pattern 'REGEX'" in page["done"]["next"] and "REGEX" in page["done"]["text"]
    answers = {r["file"]: (r["crackle"], r["wheeze"]) for r in read_rows(labels)}
    assert run_page_command(page["done"]["next"].replace("REGEX", KAUH_PATTERN)) == 0
    said = capsys.readouterr()
    assert "every one of the archive's 12 recordings, each with its patient, none suggested" in said.out
    named = read_rows(labels)
    assert {r["file"]: (r["crackle"], r["wheeze"]) for r in named} == answers  # every answer kept
    assert all(r["patient"] == re.search(KAUH_PATTERN, r["file"]).group(1) for r in named)
    assert "own patient" not in said.err


def test_the_page_counts_the_folders_audio_and_its_next_command_runs_while_a_normal_is_missing(
    model: Path, tmp_path: Path
) -> None:
    """Issue 82: the page counted the listed rows ("Every recording is answered" with 68 never listed);
    and with enough patients but no normal one it must still offer the next batch, a command that runs."""
    from respira.app.labelling import LabelSession

    archive = write_archive(tmp_path / "archive", None)
    (archive / "labels.csv").write_text(
        "file,crackle,wheeze,reason\nr0.wav,,,unsure\nr1.wav,1,0,\nr2.wav,,,\n"
    )
    detector = respira.Detector.from_pretrained(model)
    session = LabelSession(archive / "labels.csv", detector, model=str(model), minimum_units=4)
    try:
        session.answer(0, "wheeze")
        progress, done = session.progress(), session.done()
    finally:
        session.close()
    assert (progress["recordings"], progress["recordings_done"], progress["units"]) == (8, 2, 8)
    assert "(2 of 8 recordings answered; 5 of the folder not in labels.csv)" in progress["line"]
    assert done["text"].startswith("The suggested batch is done; 6 other recordings were not suggested.")

    rows = [(f"r{n}.wav", "1" if n % 2 else "", "0" if n % 2 else "", f"p{n // 2}") for n in range(8)]
    write_archive(archive, rows)  # 4 patients, each with a crackle: no normal recording yet
    session = LabelSession(archive / "labels.csv", detector, model=str(model), minimum_units=4)
    output = tmp_path / "archive-site-model"
    try:
        progress, done = session.progress(), session.done()
        assert progress["fit_site"].endswith(f"--output_dir {output}")
        with staged_folder(output, overwrite=False) as staging:  # a fit written while the page runs
            (staging / "site_fit.json").write_text("{}")
        assert session.progress()["fit_site"].endswith(f"--output_dir {output} --overwrite")
        (output / "mine.txt").write_text("a file of the user's: --overwrite would refuse")
        os.utime(output, ns=(1, 1))
        assert session.progress()["fit_site"].endswith(f"--output_dir {output}-2")
    finally:
        session.close()
    assert progress["units_done"] == 4 and progress["lacking"] == ["no normal recording yet"]
    assert (
        done["next"]
        == f"respira suggest {model} --data_dir {archive} --budget 1 --output {archive / 'labels.csv'}"
    )
    assert run_page_command(done["next"]) == 0


# ------------------------------------------------------------------------ an archive of several folders
def _archive_in_two(root: Path) -> tuple[Path, Path, Path]:
    """:func:`write_archive`'s eight recordings without labels.csv in ``whole``, and cut in two: ``A``
    (r0-r3) and ``B`` (r4-r7)."""
    whole = write_archive(root / "whole", None)
    first, second = Path(shutil.copytree(whole, root / "A")), root / "B"
    second.mkdir()
    for number in range(4, 8):
        (first / f"r{number}.wav").rename(second / f"r{number}.wav")
    return whole, first, second


def test_an_archive_of_several_folders_is_suggested_as_the_one_and_read_again_next_round(
    model: Path, tmp_path: Path, capsys
) -> None:
    whole, first, second = _archive_in_two(tmp_path)
    common = ["--budget", "2", "--patient_pattern", r"r(\d)"]
    assert (
        main(
            ["suggest", str(model), "--data_dir", str(whole), "--output", str(whole / "labels.csv"), *common]
        )
        == 0
    )
    output = first / "labels.csv"
    assert (
        main(["suggest", str(model), "--data_dir", str(first), str(second), "--output", str(output), *common])
        == 0
    )
    assert f"wrote {output}: the 2 patients to label next" in capsys.readouterr().out
    one, both = read_rows(whole / "labels.csv"), read_rows(output)
    assert [(r["patient"], r["reason"]) for r in both] == [(r["patient"], r["reason"]) for r in one]
    assert {r["file"] for r in both} == {f"r{n}.wav" for n in range(4)} | {
        f"../B/r{n}.wav" for n in range(4, 8)
    }
    answered = [  # r0-r5 labelled, crackle every other one, r6 and r7 left blank
        {**row, "crackle": str(int(row["patient"]) % 2), "wheeze": "0"} if row["patient"] < "6" else row
        for row in both
    ]
    with output.open("w", newline="") as handle:  # the page's answers
        writer = csv.DictWriter(handle, list(both[0]))
        writer.writeheader()
        writer.writerows(answered)
    command = ["suggest", str(model), "--data_dir", str(first), str(second), "--output", str(output)]
    assert main([*command, "--budget", "1"]) == 0  # the next round reads A's labels.csv, B's files in it
    again = read_rows(output)
    assert len(again) == 8 and sorted(r["file"] for r in again) == sorted(r["file"] for r in both)
    assert "the model's view of all 8 recordings read from the cache" in capsys.readouterr().out
    from respira.sites.site_sample import read_site_recordings

    sample = read_site_recordings(first, "labelled")  # fit-site reads the first folder, B's files too
    assert {Path(r.path).parent.name for r in sample.recordings} == {"A", "B"}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("labels in B", "an archive of several folders keeps its labels.csv in the first"),
        ("a patient in both", "patient r has recordings in two folders (also"),
        ("nested", "the same recording as"),
    ],
)
def test_several_folders_that_share_a_recording_or_patient_or_hold_two_labels_files_are_one_line(
    model: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, setup: str, message: str
) -> None:
    monkeypatch.setattr(
        respira.inference.detector.Detector, "from_pretrained", lambda *a, **k: pytest.fail("model loaded")
    )
    _, first, second = _archive_in_two(tmp_path)
    pattern = r"(r)" if setup == "a patient in both" else r"r(\d)"
    if setup == "labels in B":
        (second / "labels.csv").write_text("file,crackle,wheeze\nr4.wav,,\n")
    folders = [str(first), str(first / "inner")] if setup == "nested" else [str(first), str(second)]
    if setup == "nested":
        (first / "inner").mkdir()
        (first / "r0.wav").rename(first / "inner" / "r0.wav")
    output = tmp_path / "out.csv"
    command = ["suggest", str(model), "--data_dir", *folders, "--output", str(output), "--budget", "1"]
    assert main([*command, "--patient_pattern", pattern]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error
    assert not output.exists()
    if setup != "labels in B":
        assert str(first) in error and (setup == "nested" or str(second) in error)


@pytest.mark.skipif(not (SHARED_DIR / "kauh").is_dir(), reason="../shared/kauh is not on this machine")
def test_real_kauh_in_two_folders_is_listed_with_its_patients(model: Path, tmp_path: Path, capsys) -> None:
    from respira.data.kauh import read_kauh_index

    from ..data.test_corpora_in_several_folders import PATIENT_OF, cut_in_two

    first, second = cut_in_two(SHARED_DIR / "kauh", tmp_path, PATIENT_OF["kauh"], link=True)
    output = first / "labels.csv"
    command = ["suggest", str(model), "--data_dir", str(first), str(second), "--output", str(output)]
    command += ["--budget", "0"]
    assert main([*command, "--patient_pattern", r"[BDE]P(\d+)"]) == 0
    rows, index = read_rows(output), read_kauh_index(SHARED_DIR / "kauh")
    assert len(rows) == len(index) and {r["patient"] for r in rows} == {str(p) for p in index["patient_id"]}
    capsys.readouterr()
    moved = next(second.iterdir())  # one recording of a patient of B's beside A's
    (first / moved.name).symlink_to(moved.resolve())
    output.unlink()
    assert main([*command, "--patient_pattern", r"[BDE]P(\d+)"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "has recordings in two folders" in error

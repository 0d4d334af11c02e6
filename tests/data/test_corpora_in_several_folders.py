"""KAUH, SPRSound and labelled folders in several folders (``data_dir=[A, B]``), as ICBHI
(tests/data/test_several_folders.py): read as the one folder they were cut from, every reader taking the
list (index, builder, prepare, evaluate, bench, fit-site's sample, a recipe's corpus_dirs), a recording or a
patient in two folders refused naming both files, patients grouped across folders, a file that does not
decode named before any work. Real KAUH and SPRSound are cut in two by symlinks (nothing copied)."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from respira.data import CorpusFormatError, load_kauh, load_labelled, load_sprsound
from respira.data.corpora import CORPORA
from respira.data.kauh import KAUHName, read_kauh_index
from respira.data.labelled import read_labelled_index
from respira.data.sprsound import read_sprsound_events, read_sprsound_index

from ..conftest import SHARED_DIR, write_kauh, write_sprsound
from .test_labelled import ROWS, write_labelled

pytestmark = pytest.mark.filterwarnings("ignore::respira.data.PartialCorpusWarning")


def _kauh_patient(stem: str) -> int:
    return KAUHName.parse(stem).patient_id


def _sprsound_patient(stem: str) -> int:
    return int(stem.split("_", maxsplit=1)[0])


PATIENT_OF: dict[str, Callable[[str], int]] = {"kauh": _kauh_patient, "sprsound": _sprsound_patient}


def cut_in_two(
    source: Path, root: Path, patient_of: Callable[[str], int], *, link: bool
) -> tuple[Path, Path]:
    """``source``'s files in two folders ``A`` and ``B`` (the later half of the patients), each at its path
    below ``source``: symlinks (``link``, for ../shared) or copies."""
    files = [path for path in sorted(source.rglob("*")) if path.is_file() and not path.name.startswith(".")]
    patients = sorted({patient_of(path.stem) for path in files})
    moved = set(patients[len(patients) // 2 :])
    for path in files:
        target = root / ("B" if patient_of(path.stem) in moved else "A") / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if link:
            target.symlink_to(path.resolve())
        else:
            shutil.copy(path, target)
    return root / "A", root / "B"


def _labelled_in_two(root: Path) -> tuple[Path, Path]:
    """:data:`ROWS` written in one labelled folder ``whole`` and cut in two by patient (``A``, ``B``)."""
    whole = write_labelled(root / "whole")
    first = write_labelled(root / "A", ROWS[:3])  # patients ward-7 and ward-9
    second = write_labelled(root / "B", ROWS[3:])  # patients 12 and 13
    for row in ROWS:  # the very files of the one folder
        shutil.copy(whole / row[0], (first if row in ROWS[:3] else second) / row[0])
    return first, second


def _synthetic(name: str, root: Path) -> tuple[Path, Path, Path]:
    """A synthetic corpus ``name`` in one folder, and cut in two by patient."""
    if name == "labelled":
        return root / "whole", *_labelled_in_two(root)
    whole = write_kauh(root / "whole") if name == "kauh" else write_sprsound(root / "whole")
    return whole, *cut_in_two(whole, root / "cut", PATIENT_OF[name], link=False)


READ_INDEX = {"kauh": read_kauh_index, "sprsound": read_sprsound_index, "labelled": read_labelled_index}
LOAD = {"kauh": load_kauh, "sprsound": load_sprsound, "labelled": load_labelled}


def _same_rows(both: pd.DataFrame, whole: pd.DataFrame) -> None:
    """Equal but for the paths, in any order."""
    key = "recording"
    left = both.drop(columns="path").sort_values(key).reset_index(drop=True)
    right = whole.drop(columns="path").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)


@pytest.mark.parametrize("name", ["kauh", "sprsound", "labelled"])
def test_two_folders_read_and_build_as_the_folder_they_were_cut_from(name: str, tmp_path: Path) -> None:
    whole, first, second = _synthetic(name, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorpusFormatError)
        both = READ_INDEX[name]([first, second])
    _same_rows(both, READ_INDEX[name](whole))
    patients = [set(READ_INDEX[name](folder)["patient_id"]) for folder in (first, second)]
    assert patients[0].isdisjoint(patients[1]) or name == "labelled"  # labelled numbers each folder's
    config = "recordings"
    built = LOAD[name]([first, second], config_name=config, sampling_rate=4000, cache_dir=tmp_path / "c2")
    one = LOAD[name](whole, config_name=config, sampling_rate=4000, cache_dir=tmp_path / "c1")
    assert set(built) == set(one)
    for split in one:
        columns = [c for c in one[split].column_names if c != "audio"]
        _same_rows(
            built[split].select_columns(columns).to_pandas().assign(path=""),
            one[split].select_columns(columns).to_pandas().assign(path=""),
        )


def test_sprsound_events_and_parts_span_the_folders(tmp_path: Path) -> None:
    whole, first, second = _synthetic("sprsound", tmp_path)
    events = read_sprsound_events([first, second])
    _same_rows(events.sort_values(["recording", "event_index"]), read_sprsound_events(whole))
    every = load_sprsound([first, second], sampling_rate=4000, cache_dir=tmp_path / "c")
    built = load_sprsound([first, second], parts=["inter_test"], sampling_rate=4000, cache_dir=tmp_path / "c")
    assert set(every) == {"train", "inter_test", "intra_test"}
    assert set(built) == {
        "inter_test"
    }  # every inter_test patient is in B, the part is found there; its own cache
    assert set(built["inter_test"]["patient_id"]) == {104, 105}
    shutil.rmtree(second / "test_json" / "inter_test_json")
    with pytest.raises(ValueError, match=r"have no SPRSound inter_test part"):
        load_sprsound([first, second], parts=["inter_test"], cache_dir=tmp_path / "c")


def test_sprsound_patient_split_groups_patients_across_folders(tmp_path: Path) -> None:
    _, first, second = _synthetic("sprsound", tmp_path)
    built = load_sprsound(
        [first, second], split_strategy="patient", sampling_rate=4000, cache_dir=tmp_path / "c"
    )
    where: dict[int, str] = {}
    for split, part in built.items():
        for patient in set(part["patient_id"]):
            assert where.setdefault(patient, split) == split, (
                f"patient {patient} in {split} and {where[patient]}"
            )
    assert set(where) == {101, 102, 103, 104, 105}


# ------------------------------------------------------------------------ bad input, before any work
def _one_line_naming(error: pytest.ExceptionInfo, *files: Path | str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for file in files:
        assert str(file) in message, (file, message)


def test_the_same_kauh_recording_or_patient_in_two_folders_is_refused(tmp_path: Path) -> None:
    _, first, second = _synthetic("kauh", tmp_path)
    moved = sorted(second.glob("BP*"))[0]
    shutil.copy(moved, first / moved.name)
    with pytest.raises(CorpusFormatError, match="the same recording as") as error:
        read_kauh_index([first, second])
    _one_line_naming(error, first / moved.name, moved)
    (first / moved.name).unlink()
    shutil.move(moved, first / moved.name)  # the bell recording of a patient whose others are in B
    with pytest.raises(CorpusFormatError, match=r"patient \d+ has recordings in two folders") as error:
        load_kauh([first, second], cache_dir=tmp_path / "c")
    _one_line_naming(error, first / moved.name)
    assert not list((tmp_path / "c").rglob("*.arrow"))


def test_the_same_sprsound_recording_or_patient_in_two_folders_is_refused(tmp_path: Path) -> None:
    _, first, second = _synthetic("sprsound", tmp_path)
    stem = "103_12_1_p1_31"
    for folder in ("train_wav", "train_json"):
        (first / folder).mkdir(exist_ok=True)
        for path in (second / folder).glob(f"{stem}.*"):
            shutil.copy(path, first / folder / path.name)
    with pytest.raises(CorpusFormatError, match="the same recording as") as error:
        read_sprsound_index([first, second])
    _one_line_naming(error, first / "train_wav" / f"{stem}.wav", second / "train_wav" / f"{stem}.wav")
    for path in (second / "train_wav" / f"{stem}.wav", second / "train_json" / f"{stem}.json"):
        path.unlink()  # patient 103's first recording in A, its second in B
    with pytest.raises(CorpusFormatError, match="patient 103 has recordings in two folders") as error:
        load_sprsound([first, second], cache_dir=tmp_path / "c")
    _one_line_naming(error, first / "train_wav" / f"{stem}.wav")


def test_the_same_labelled_recording_or_patient_in_two_folders_is_refused(tmp_path: Path) -> None:
    first, second = _labelled_in_two(tmp_path)
    labels = second / "labels.csv"
    original = labels.read_text()
    labels.write_text(original + "../A/a.wav,1,0,12,,\n")  # A's a.wav listed by B too
    with pytest.raises(CorpusFormatError, match="the same recording as") as error:
        read_labelled_index([first, second])
    _one_line_naming(error, f"{labels}:4", f"{first / 'labels.csv'}:2")
    labels.write_text(original.replace(",12,", ",ward-9,"))  # a patient of A's
    with pytest.raises(CorpusFormatError, match="patient ward-9 has recordings in two folders") as error:
        load_labelled([first, second], cache_dir=tmp_path / "c")
    _one_line_naming(error, f"{labels}:2", f"{first / 'labels.csv'}:4")
    shutil.copy(second / "d.wav", second / "a.wav")
    labels.write_text(original.replace("d.wav", "a.wav"))  # another recording of A's name
    with pytest.raises(CorpusFormatError, match=r"file 'a\.wav' names another recording in") as error:
        read_labelled_index([first, second])
    _one_line_naming(error, f"{labels}:2", f"{first / 'labels.csv'}:2")


def _cut_short(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


@pytest.mark.parametrize("name", ["kauh", "sprsound", "labelled"])
def test_a_file_that_does_not_decode_is_named_before_any_recording_is_cut(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from respira.data import loaders

    _, first, second = _synthetic(name, tmp_path)
    wav = max(path for path in second.rglob("*.wav"))
    flac = wav.with_suffix(".flac")
    samples, rate = sf.read(wav, dtype="int16")
    sf.write(flac, samples, rate, subtype="PCM_16")
    wav.unlink()
    if name == "labelled":
        labels = second / "labels.csv"
        labels.write_text(labels.read_text().replace(wav.name, flac.name))
    _cut_short(flac)
    cut: list[str] = []
    original = loaders.recording_samples
    monkeypatch.setattr(
        loaders, "recording_samples", lambda path, config: cut.append(path) or original(path, config)
    )
    with pytest.raises(CorpusFormatError, match="cannot be decoded") as error:
        LOAD[name]([first, second], config_name="recordings", sampling_rate=4000, cache_dir=tmp_path / "c")
    assert str(error.value).startswith(f"{flac}: ") and "\n" not in str(error.value)
    assert cut == []
    assert not list((tmp_path / "c").rglob("*.arrow"))


@pytest.mark.parametrize("name", ["kauh", "sprsound", "labelled"])
def test_a_folder_named_twice_or_missing_is_one_line(name: str, tmp_path: Path) -> None:
    _, first, second = _synthetic(name, tmp_path)
    with pytest.raises(ValueError, match=r"names the folder .* twice"):
        READ_INDEX[name]([first, second, first / "."])
    with pytest.raises(FileNotFoundError, match="nowhere' does not exist"):
        READ_INDEX[name]([first, second / "nowhere"])


# ------------------------------------------------------------------------ every command that reads them
@pytest.mark.parametrize("name", ["kauh", "sprsound", "labelled"])
def test_prepare_takes_several_folders(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import datasets

    from respira.cli import main

    whole, first, second = _synthetic(name, tmp_path)
    out = tmp_path / "prepared"
    argv = ["prepare", "--dataset", name, "--data_dir", str(first), str(second), "--sampling_rate", "4000"]
    assert main([*argv, "--output_dir", str(out), "--cache_dir", str(tmp_path / "cache")]) == 0
    config = CORPORA[name].stored_name or CORPORA[name].configs[0]
    saved = datasets.load_dataset(str(out), config)
    one = LOAD[name](whole, sampling_rate=4000, cache_dir=tmp_path / "c1")
    assert {split: len(part) for split, part in saved.items()} == {s: len(p) for s, p in one.items()}


@pytest.mark.parametrize("name", ["kauh", "sprsound", "labelled"])
def test_evaluate_scores_several_folders_as_the_one(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import json

    from respira.cli import main

    from ..conftest import save_tiny_model

    whole, first, second = _synthetic(name, tmp_path)
    model = save_tiny_model(tmp_path / "model")
    common = ["--bootstrap", "5", "--window", "1", "--hop", "1", "--split", "all"]
    scores = []
    for folders in ([str(whole)], [str(first), str(second)]):
        report = tmp_path / f"report{len(folders)}"
        argv = [
            "evaluate",
            str(model),
            "--dataset",
            name,
            "--data_dir",
            *folders,
            "--output_dir",
            str(report),
        ]
        assert main([*argv, *common]) == 0, capsys.readouterr().err
        metrics = json.loads((report / "metrics.json").read_text())
        scores.append({key: value for key, value in metrics.items() if key not in ("files", "output_dir")})
    assert scores[0] == scores[1]


@pytest.mark.parametrize("name", ["kauh", "labelled"])
def test_fit_site_and_bench_read_the_sample_of_several_folders(name: str, tmp_path: Path) -> None:
    from respira.encoder_bench.tasks import read_sites
    from respira.sites.site_sample import read_site_recordings

    whole, first, second = _synthetic(name, tmp_path)
    sample = read_site_recordings([first, second], name)
    one = read_site_recordings(whole, name)
    assert sorted(r.recording_id for r in sample.recordings) == sorted(r.recording_id for r in one.recordings)
    assert sample.units == one.units and sample.data_dir == (first, second)
    units = {r.unit for r in sample.recordings if r.path.resolve().is_relative_to(second.resolve())}
    others = {r.unit for r in sample.recordings if r.path.resolve().is_relative_to(first.resolve())}
    assert units and others and units.isdisjoint(others)
    site = f"{name}=" if name == "kauh" else "clinic="
    (read,) = read_sites([f"{site}{first},{second}"])
    assert read.recordings.units == one.units


def test_a_recipe_lists_a_corpus_in_several_folders(synthetic_corpus: Path, tmp_path: Path) -> None:
    from respira.data.multi_corpus import check_corpora
    from respira.data.run_splits import load_splits
    from respira.models.respira.labels import MULTI_LABEL
    from respira.records.run import CorpusRecord, DataRecord

    whole, first, second = _synthetic("kauh", tmp_path)
    folders = [str(first), str(second)]
    names = check_corpora(
        ["icbhi", "kauh"], {"kauh": folders}, window_seconds=1.0, hop_seconds=0.5, problem_type=MULTI_LABEL
    )
    assert names == ["icbhi", "kauh"]
    with pytest.raises(ValueError, match=r"corpus_dirs: kauh: .*the same recording as"):
        shutil.copy(next(second.glob("BP*")), first)
        check_corpora(
            "icbhi,kauh", {"kauh": folders}, window_seconds=1.0, hop_seconds=0.5, problem_type=MULTI_LABEL
        )
    for path in first.glob("BP*"):
        if (second / path.name).exists():
            path.unlink()
    record = DataRecord(
        data_dir=str(synthetic_corpus),
        sampling_rate=4000,
        validation_size=0.25,
        corpora=[CorpusRecord("icbhi", str(synthetic_corpus)), CorpusRecord("kauh", folders, "recording")],
        corpus_window_seconds=1.0,
        corpus_hop_seconds=0.5,
    )
    recipe = tmp_path / "recipe.yaml"  # a recipe's corpus_dirs lists the folders; the run records them
    recipe.write_text(
        f"data_dir: {synthetic_corpus}\ncorpora: [icbhi, kauh]\ncorpus_dirs: {{kauh: [{first}, {second}]}}\n"
        f"problem_type: {MULTI_LABEL}\n"
    )
    from respira.training.data import data_record
    from respira.training.recipe import parse_recipe

    recorded = data_record(parse_recipe(recipe)[1], 4000).corpora[1]
    assert recorded.name == "kauh" and recorded.data_dir == [str(first.resolve()), str(second.resolve())]
    train = load_splits(record, cache_dir=tmp_path / "cache")["train"]
    kauh = train.filter(lambda row: row["corpus"] == "kauh")
    assert len(set(kauh["bag"])) == len(read_kauh_index(whole))


# ------------------------------------------------------------------------ ../shared cut in two
def _shared(name: str) -> Path:
    path = SHARED_DIR / name
    if not path.is_dir():
        pytest.skip(f"real {name} data not found at {path} (../shared is only present on project machines)")
    return path


@pytest.mark.real_data
@pytest.mark.parametrize("name", ["kauh", "sprsound"])
def test_real_corpus_cut_in_two_reads_as_the_whole(name: str, tmp_path: Path) -> None:
    source = _shared(name)
    first, second = cut_in_two(source, tmp_path, PATIENT_OF[name], link=True)
    whole = READ_INDEX[name](source)
    both = READ_INDEX[name]([first, second])
    _same_rows(both, whole)
    assert {Path(p).resolve() for p in both["path"]} == {Path(p).resolve() for p in whole["path"]}
    halves = [set(READ_INDEX[name](folder)["patient_id"]) for folder in (first, second)]
    assert halves[0].isdisjoint(halves[1]) and halves[0] | halves[1] == set(whole["patient_id"])
    from respira.sites.site_sample import read_site_recordings

    sample = read_site_recordings([first, second], name)
    assert sample.units == read_site_recordings(source, name).units
    from respira.encoder_bench.tasks import read_sites

    (site,) = read_sites([f"{name}={first},{second}"])  # bench: every file's header read before any work
    assert sorted(r.recording_id for r in site.recordings.recordings) == sorted(
        r.recording_id for r in sample.recordings
    )

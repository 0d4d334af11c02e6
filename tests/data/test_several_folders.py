"""One ICBHI corpus in several folders (``data_dir=[A, B]``): read as the one folder it was cut from, its
metadata files merged, its patients never in two folds, and a recording or patient in two folders refused."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from respira.data import CorpusFormatError, load_icbhi, read_icbhi_index
from respira.data.corpus_files import locate_corpus

pytestmark = pytest.mark.filterwarnings("ignore::respira.data.PartialCorpusWarning")  # a folder alone
METADATA = (
    "ICBHI_challenge_train_test.txt",
    "ICBHI_Challenge_diagnosis.txt",
    "ICBHI_Challenge_demographic_information.txt",
)


def split_by_patient(corpus: Path, root: Path, moved: set[int] | None = None) -> tuple[Path, Path]:
    """``corpus`` cut in two folders ``A`` (``.wav``) and ``B`` (the ``moved`` patients, default the later
    half, as lossless ``.flac``), each with every metadata file."""
    first, second = root / "A", root / "B"
    shutil.copytree(corpus, first)
    (second / "ICBHI_final_database").mkdir(parents=True)
    for name in METADATA:
        shutil.copy(corpus / name, second / name)
    recordings = sorted((first / "ICBHI_final_database").glob("*.txt"))
    patients = sorted({int(path.name.split("_")[0]) for path in recordings})
    moved = set(patients[len(patients) // 2 :]) if moved is None else moved
    for annotation in recordings:
        if int(annotation.name.split("_")[0]) not in moved:
            continue
        wav = annotation.with_suffix(".wav")
        samples, rate = sf.read(wav, dtype="int32")
        subtype = sf.info(wav).subtype
        sf.write(second / "ICBHI_final_database" / f"{wav.stem}.flac", samples, rate, subtype=subtype)
        annotation.rename(second / "ICBHI_final_database" / annotation.name)
        wav.unlink()
    return first, second


@pytest.fixture
def two_folders(synthetic_corpus: Path, tmp_path: Path) -> tuple[Path, Path]:
    return split_by_patient(synthetic_corpus, tmp_path)


def test_two_folders_read_as_the_corpus_they_were_cut_from(
    synthetic_corpus: Path, two_folders: tuple[Path, Path]
) -> None:
    first, second = two_folders
    assert list((second / "ICBHI_final_database").glob("*.flac"))
    whole = read_icbhi_index(synthetic_corpus)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # together they hold every recording their split files name
        both = read_icbhi_index([first, second])
    assert both.drop(columns="annotation_line").equals(whole.drop(columns="annotation_line"))
    assert set(read_icbhi_index(second)["patient_id"]).isdisjoint(read_icbhi_index(first)["patient_id"])


def test_a_build_of_two_folders_equals_the_build_of_one(
    synthetic_corpus: Path, two_folders: tuple[Path, Path], tmp_path: Path
) -> None:
    whole = load_icbhi(synthetic_corpus, sampling_rate=4000, cache_dir=tmp_path / "one")
    both = load_icbhi(list(two_folders), sampling_rate=4000, cache_dir=tmp_path / "two")
    assert set(both) == set(whole) == {"train", "test"}
    for split in whole:
        key = ["recording", "cycle_index", "label", "official_split", "diagnosis", "age"]
        assert (
            both[split].select_columns(key).to_pandas().equals(whole[split].select_columns(key).to_pandas())
        )
        for a, b in zip(whole[split].select(range(5)), both[split].select(range(5)), strict=True):
            np.testing.assert_array_equal(
                a["audio"].get_all_samples().data, b["audio"].get_all_samples().data
            )


def test_the_builder_takes_the_list_of_folders(two_folders: tuple[Path, Path], tmp_path: Path) -> None:
    from respira.data import ICBHI

    first, second = two_folders
    builder = ICBHI(
        data_dir=[second, first], config_name="recordings", sampling_rate=4000, cache_dir=str(tmp_path)
    )
    assert (
        str(first.resolve()) in builder.config.data_dir and str(second.resolve()) in builder.config.data_dir
    )
    builder.download_and_prepare()
    recordings = {r for part in builder.as_dataset().values() for r in part["recording"]}
    assert recordings == set(read_icbhi_index([first, second])["recording"])


def test_the_metadata_of_any_folder_serves_every_folder(two_folders: tuple[Path, Path]) -> None:
    first, second = two_folders
    for name in METADATA:
        (second / name).unlink()  # B's recordings: their split, diagnosis and demographics from A's files
    index = read_icbhi_index([first, second])
    assert index["official_split"].notna().all() and index["diagnosis"].notna().all()
    for name in METADATA:  # and the other way round
        shutil.move(first / name, second / name)
    assert read_icbhi_index([first, second]).equals(index)


def test_folders_whose_metadata_disagree_name_the_file(two_folders: tuple[Path, Path]) -> None:
    first, second = two_folders
    diagnosis = second / "ICBHI_Challenge_diagnosis.txt"
    patient = diagnosis.read_text().splitlines()[0].split()[0]
    diagnosis.write_text(diagnosis.read_text().replace(f"{patient}\t", f"{patient}\tURTI-", 1))
    with pytest.raises(CorpusFormatError, match=rf"^{diagnosis}: patient {patient}: .* in {first}"):
        read_icbhi_index([first, second])
    split = second / "ICBHI_challenge_train_test.txt"
    shutil.copy(first / diagnosis.name, diagnosis)
    text = split.read_text()
    flipped = (
        text.replace("\ttest", "\tTMP", 1).replace("\ttrain", "\ttest", 1).replace("\tTMP", "\ttrain", 1)
    )
    split.write_text(flipped)
    with pytest.raises(CorpusFormatError, match=rf"^{split}:\d+: recording .* in {first}"):
        read_icbhi_index([first, second])


def test_the_same_recording_in_two_folders_is_refused_naming_both(two_folders: tuple[Path, Path]) -> None:
    first, second = two_folders
    kept = sorted((second / "ICBHI_final_database").glob("*.txt"))[0]
    shutil.copy(kept, first / "ICBHI_final_database" / kept.name)
    shutil.copy(kept.with_suffix(".flac"), first / "ICBHI_final_database" / kept.with_suffix(".flac").name)
    with pytest.raises(CorpusFormatError, match="the same recording as") as error:
        locate_corpus([first, second])
    assert kept.name in str(error.value) and "\n" not in str(error.value)
    assert str(first) in str(error.value) and str(second) in str(error.value)


def test_a_patient_in_two_folders_is_refused_naming_the_file(synthetic_corpus: Path, tmp_path: Path) -> None:
    first, second = split_by_patient(synthetic_corpus, tmp_path, moved=set())
    recordings = sorted((first / "ICBHI_final_database").glob("*.txt"))
    patient = next(p for p in {r.name.split("_")[0] for r in recordings} if
                   sum(r.name.startswith(f"{p}_") for r in recordings) > 1)  # fmt: skip
    moved = next(r for r in recordings if r.name.startswith(f"{patient}_"))
    moved.rename(second / "ICBHI_final_database" / moved.name)
    with pytest.raises(CorpusFormatError, match=rf"patient {patient} has recordings in two folders"):
        read_icbhi_index([first, second])


def test_a_folder_named_twice_or_missing_is_one_line(two_folders: tuple[Path, Path]) -> None:
    first, second = two_folders
    with pytest.raises(ValueError, match=r"names the folder .* twice"):
        locate_corpus([first, second, first / "."])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        locate_corpus([first, second / "nowhere"])


@pytest.mark.parametrize("strategy", ["patient_kfold", "patient"])
def test_patients_of_several_folders_are_grouped_across_them(
    two_folders: tuple[Path, Path], tmp_path: Path, strategy: str
) -> None:
    first, second = two_folders
    options = {"num_folds": 3} if strategy == "patient_kfold" else {}
    built = load_icbhi(
        [first, second], split_strategy=strategy, sampling_rate=4000, cache_dir=tmp_path / "c", **options
    )
    where = {}
    for split, part in built.items():
        for patient in set(part["patient_id"]):
            assert where.setdefault(patient, split) == split, (
                f"patient {patient} in {split} and {where[patient]}"
            )
    held = [set(part["patient_id"]) for name, part in built.items() if name != "train"]
    from_second = set(read_icbhi_index(second)["patient_id"])
    assert any(patients & from_second for patients in held)
    assert any(patients - from_second for patients in held)  # each fold or split draws on both folders


def _official_sizes(corpus: Path) -> dict[str, int]:
    return read_icbhi_index(corpus)["official_split"].value_counts().to_dict()


def test_prepare_takes_several_folders(
    synthetic_corpus: Path, two_folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import datasets

    from respira.cli import main

    folders = [str(folder) for folder in two_folders]
    out = tmp_path / "prepared"
    argv = ["prepare", "--data_dir", *folders, "--sampling_rate", "4000", "--output_dir", str(out)]
    assert main([*argv, "--cache_dir", str(tmp_path / "cache")]) == 0
    saved = datasets.load_dataset(str(out))
    assert {split: len(part) for split, part in saved.items()} == _official_sizes(synthetic_corpus)
    assert set(saved["train"]["patient_id"]) | set(saved["test"]["patient_id"]) == set(
        read_icbhi_index(synthetic_corpus)["patient_id"]
    )


def test_a_recipe_trains_on_several_folders(
    synthetic_corpus: Path, two_folders: tuple[Path, Path], tmp_path: Path
) -> None:
    import respira
    from respira.records.run import RunRecord
    from respira.training.recipe import parse_recipe

    from ..training.conftest import TINY_RECIPE

    folders = [str(folder) for folder in two_folders]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"data_dir: {json.dumps(folders)}\n")
    assert parse_recipe(recipe)[1].data_dir == folders  # a recipe's list, and the flag's several values
    assert parse_recipe(None, ["--data_dir", *folders])[1].data_dir == folders
    run = respira.train({**TINY_RECIPE, "data_dir": folders, "output_dir": str(tmp_path / "run")})
    record = RunRecord.load(run.output_dir)
    assert record.data.data_dir == folders
    whole = load_icbhi(synthetic_corpus, validation_size=0.25, cache_dir=tmp_path / "whole")
    assert {name: size.cycles for name, size in record.data.split_sizes.items()} == {
        name: len(part) for name, part in whole.items()
    }
    report = respira.evaluate(run, output_dir=str(tmp_path / "report"))  # the run's folders, rebuilt
    assert report.metrics["num_examples"] == len(whole["test"])
    given = respira.evaluate(run, data_dir=folders, split="all", output_dir=str(tmp_path / "all"))
    assert given.metrics["num_examples"] == sum(len(part) for part in whole.values())


def test_bench_reads_a_corpus_of_several_folders(
    synthetic_corpus: Path, two_folders: tuple[Path, Path]
) -> None:
    from respira.encoder_bench.tasks import read_sites

    first, second = two_folders
    (site,) = read_sites([f"icbhi={first},{second}"])
    (whole,) = read_sites([f"icbhi={synthetic_corpus}"])
    assert site.name == whole.name == "ICBHI"
    stems = sorted(Path(r.path).stem for r in site.recordings.recordings)
    assert stems == sorted(Path(r.path).stem for r in whole.recordings.recordings)
    assert {Path(r.path).suffix for r in site.recordings.recordings} == {".wav", ".flac"}
    assert site.cycles is not None and len(site.cycles) == len(whole.cycles)
    with pytest.raises(ValueError, match=r"nowhere.* is not a folder"):
        read_sites([f"icbhi={first},{second / 'nowhere'}"])


# ------------------------------------------------------------------------ bad input, before any work
def _cut_short(flac: Path) -> None:
    flac.write_bytes(flac.read_bytes()[: len(flac.read_bytes()) * 2 // 3])


def _frames_overwritten(flac: Path) -> None:
    data = bytearray(flac.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 400] = bytes(400)
    flac.write_bytes(bytes(data))


def _not_audio(flac: Path) -> None:
    flac.write_bytes(b"this is not audio at all" * 40)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [(_cut_short, "cannot be decoded"), (_frames_overwritten, "cannot be decoded"),
     (_not_audio, "cannot be decoded as audio")],
    ids=["cut-short", "frames-overwritten", "not-audio"],
)  # fmt: skip
def test_a_flac_that_does_not_decode_is_named_before_any_recording_is_cut(
    two_folders: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage, reason: str
) -> None:
    from respira.data import loaders

    first, second = two_folders
    flac = max((second / "ICBHI_final_database").glob("*.flac"))  # the last recording built
    damage(flac)
    cut = []
    original = loaders.recording_samples
    monkeypatch.setattr(
        loaders, "recording_samples", lambda path, config: cut.append(path) or original(path, config)
    )
    with pytest.raises(CorpusFormatError, match=reason) as error:
        load_icbhi([first, second], sampling_rate=4000, cache_dir=tmp_path / "cache")
    assert str(error.value).startswith(f"{flac}: ") and "\n" not in str(error.value)
    assert cut == []  # refused before the first recording was decoded and cut
    assert not list((tmp_path / "cache").rglob("*.arrow"))


def test_a_cycle_past_its_flac_is_named_before_any_work(
    two_folders: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = two_folders
    flac = min((second / "ICBHI_final_database").glob("*.flac"))
    annotation = flac.with_suffix(".txt")
    lines = annotation.read_text().splitlines()
    duration = sf.info(flac).duration
    annotation.write_text("\n".join([*lines, f"{duration + 1:.3f}\t{duration + 2:.3f}\t0\t0"]) + "\n")
    with pytest.raises(CorpusFormatError, match=rf"^{annotation}:{len(lines) + 1}: .*starts after the end"):
        load_icbhi([first, second], sampling_rate=4000, cache_dir=tmp_path / "cache")
    start = lines[-1].split("\t")[0]
    annotation.write_text("\n".join([*lines[:-1], f"{start}\t{duration + 0.5:.3f}\t0\t0"]) + "\n")
    from respira.data import ClippedCycleWarning

    with pytest.warns(ClippedCycleWarning, match=rf"worst: {annotation}:{len(lines)} ends at"):
        load_icbhi([first, second], sampling_rate=4000, cache_dir=tmp_path / "cache")


def test_prepare_refuses_bad_input_of_several_folders_in_one_line(
    two_folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from respira.cli import main

    first, second = two_folders
    flac = min((second / "ICBHI_final_database").glob("*.flac"))
    _cut_short(flac)
    out = tmp_path / "out"
    common = ["--sampling_rate", "4000", "--output_dir", str(out), "--cache_dir", str(tmp_path / "cache")]
    assert main(["prepare", "--data_dir", str(first), str(second), *common]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"respira prepare: error: {flac}: ") and error.count("\n") == 1
    assert not out.exists()
    copied = first / "ICBHI_final_database" / flac.with_suffix(".txt").name
    shutil.copy(flac.with_suffix(".txt"), copied)  # the same recording's annotation in both folders
    assert main(["prepare", "--data_dir", str(first), str(second), *common]) == 2
    error = capsys.readouterr().err
    assert error.startswith("respira prepare: error: ") and str(copied) in error and error.count("\n") == 1
    assert not out.exists()


def test_bench_names_a_flac_that_does_not_decode_before_any_embedding(two_folders: tuple[Path, Path]) -> None:
    from respira.encoder_bench.tasks import read_sites

    first, second = two_folders
    flac = max((second / "ICBHI_final_database").glob("*.flac"))
    _frames_overwritten(flac)
    with pytest.raises(ValueError, match=rf"^--data icbhi=\S+: {flac}: cannot be decoded as audio") as error:
        read_sites([f"icbhi={first},{second}"])
    assert "\n" not in str(error.value)

"""read_icbhi_index: columns, both release layouts, and bad input named by file and line."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from respira.data import (
    CorpusFormatError,
    MissingMetadataWarning,
    PartialCorpusWarning,
    read_icbhi_index,
)
from respira.data.errors import CorpusError
from respira.data.text_files import INDEX_COLUMNS
from respira.models.respira.labels import CLASS_NAMES

SPLIT_FILE = "ICBHI_challenge_train_test.txt"


def _annotation_files(corpus: Path) -> list[Path]:
    return sorted((corpus / "ICBHI_final_database").glob("*.txt"))


def _to_kaggle_layout(corpus: Path, destination: Path, *, header: bool) -> Path:
    """Rewrite an official-layout corpus as the audio_and_txt_files release (no split file)."""
    recordings = destination / "audio_and_txt_files"
    shutil.copytree(corpus / "ICBHI_final_database", recordings)
    diagnoses = (corpus / "ICBHI_Challenge_diagnosis.txt").read_text().split()
    rows = [
        f"{patient},{diagnosis}" for patient, diagnosis in zip(diagnoses[::2], diagnoses[1::2], strict=True)
    ]
    (destination / "patient_diagnosis.csv").write_text(
        "\n".join((["ID,CLASS"] if header else []) + rows) + "\n"
    )
    demographics = (corpus / "ICBHI_Challenge_demographic_information.txt").read_text().splitlines()
    spaced = "\n" + "\n".join(" ".join(line.split("\t")) for line in demographics) + "\n"
    (destination / "demographic_info.txt").write_text(spaced)
    return destination


def test_index_has_one_row_per_annotation_line(synthetic_corpus: Path) -> None:
    index = read_icbhi_index(synthetic_corpus)
    assert list(index.columns) == list(INDEX_COLUMNS)
    lines = sum(len(path.read_text().split("\n")) - 1 for path in _annotation_files(synthetic_corpus))
    assert len(index) == lines
    first = _annotation_files(synthetic_corpus)[0]
    start, end, crackle, wheeze = first.read_text().splitlines()[0].split("\t")
    row = index[index["recording"] == first.stem].iloc[0]
    assert (row["start"], row["end"]) == (float(start), float(end))
    assert (row["crackle"], row["wheeze"]) == (int(crackle), int(wheeze))
    assert row["cycle_index"] == 0
    assert row["annotation_line"] == 1


def test_hand_written_lines_give_their_flags_and_labels(corpus_copy: Path) -> None:
    first = _annotation_files(corpus_copy)[0]
    first.write_text("0.1\t0.5\t1\t0\n0.6\t1.2\t0\t1\n1.3\t2.0\t1\t1\n2.1\t2.9\t0\t0\n")
    rows = read_icbhi_index(corpus_copy).query("recording == @first.stem")
    assert rows["crackle"].tolist() == [1, 0, 1, 0] and rows["wheeze"].tolist() == [0, 1, 1, 0]
    assert rows["label"].tolist() == ["crackle", "wheeze", "both", "normal"]
    assert rows["start"].tolist() == [0.1, 0.6, 1.3, 2.1] and rows["end"].tolist() == [0.5, 1.2, 2.0, 2.9]


def test_labels_follow_crackle_and_wheeze_flags(synthetic_corpus: Path) -> None:
    index = read_icbhi_index(synthetic_corpus)
    expected = [CLASS_NAMES[c + 2 * w] for c, w in zip(index["crackle"], index["wheeze"], strict=True)]
    assert index["label"].tolist() == expected
    assert set(index["label"]) == set(CLASS_NAMES)


def test_name_fields_and_metadata_are_joined(synthetic_corpus: Path) -> None:
    index = read_icbhi_index(synthetic_corpus)
    fields = index["recording"].str.split("_", expand=True)
    assert (fields[0].astype(int) == index["patient_id"]).all()
    assert (fields[2] == index["chest_location"]).all()
    assert (fields[4] == index["device"]).all()
    split_lines = dict(
        line.split("\t") for line in (synthetic_corpus / SPLIT_FILE).read_text().splitlines() if line
    )
    assert (index["recording"].map(split_lines) == index["official_split"]).all()
    assert index["diagnosis"].notna().all()


def test_hand_written_demographics_reach_their_columns(corpus_copy: Path) -> None:
    path = corpus_copy / "ICBHI_Challenge_demographic_information.txt"
    lines = path.read_text().splitlines()
    written = {"101": "101\t70\tF\t25.5\tNA\tNA", "102": "102\t3\tM\tNA\t14.2\t96"}  # adult, child
    path.write_text("\n".join(written.get(line.split("\t")[0], line) for line in lines) + "\n")
    index = read_icbhi_index(corpus_copy).drop_duplicates("patient_id").set_index("patient_id")
    columns = ["age", "sex", "adult_bmi", "child_weight", "child_height"]
    assert index.loc[101, columns].tolist() == [70.0, "F", 25.5, pd.NA, pd.NA]
    assert index.loc[102, columns].tolist() == [3.0, "M", pd.NA, 14.2, 96.0]


def test_missing_demographics_are_null_never_zero(synthetic_corpus: Path) -> None:
    index = read_icbhi_index(synthetic_corpus)
    lines = (synthetic_corpus / "ICBHI_Challenge_demographic_information.txt").read_text().splitlines()
    missing_age = {int(line.split("\t")[0]) for line in lines if line.split("\t")[1] == "NA"}
    assert missing_age, "the synthetic corpus should have a patient without age, like real patient 223"
    rows = index[index["patient_id"].isin(missing_age)]
    assert rows["age"].isna().all()
    assert rows["sex"].isna().all()
    assert (index["age"].dropna() > 0).all()
    adults = index[index["adult_bmi"].notna()]
    assert adults["child_weight"].isna().all()


# --- nothing is dropped without a word (issue 10, case 8) ---------------------------------------------
@pytest.mark.parametrize("content", ["", "\r\n  \n"], ids=["empty", "blank-lines"])
def test_an_annotation_file_without_cycles_is_an_error_naming_it(corpus_copy: Path, content: str) -> None:
    path = _annotation_files(corpus_copy)[3]
    path.write_text(content)
    with pytest.raises(CorpusFormatError, match="holds no cycles") as error:
        read_icbhi_index(corpus_copy)
    assert str(error.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("file_name", "what"),
    [
        ("ICBHI_Challenge_diagnosis.txt", "their diagnosis is null"),
        ("ICBHI_Challenge_demographic_information.txt", "their age, sex, BMI, weight and height are null"),
    ],
)
def test_a_patient_missing_from_a_metadata_file_is_reported_once(
    corpus_copy: Path, file_name: str, what: str
) -> None:
    path = corpus_copy / file_name
    lines = path.read_text().splitlines()
    dropped = int(lines[0].split()[0])
    path.write_text("\n".join(lines[1:]) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = read_icbhi_index(corpus_copy)
    reports = [str(w.message) for w in caught if issubclass(w.category, MissingMetadataWarning)]
    assert len(reports) == 1
    assert reports[0].startswith(f"{path} has no entry for 1 of the ")
    assert f"(patient {dropped})" in reports[0] and what in reports[0]
    rows = index[index["patient_id"] == dropped]
    assert len(rows) > 0
    column = "diagnosis" if "diagnosis" in file_name else "age"
    assert rows[column].isna().all()


def test_a_complete_corpus_gives_no_metadata_warning(synthetic_corpus: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingMetadataWarning)
        read_icbhi_index(synthetic_corpus)


def test_crlf_blank_lines_and_bom_are_normal_input(corpus_copy: Path) -> None:
    before = read_icbhi_index(corpus_copy)
    path = _annotation_files(corpus_copy)[0]
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n") + b"\r\n\r\n   \r\n")
    after = read_icbhi_index(corpus_copy)
    pd.testing.assert_frame_equal(before, after)


def test_recordings_may_sit_flat_in_one_folder(corpus_copy: Path) -> None:
    expected = read_icbhi_index(corpus_copy)
    for path in (corpus_copy / "ICBHI_final_database").iterdir():
        path.rename(corpus_copy / path.name)
    (corpus_copy / "ICBHI_final_database").rmdir()
    pd.testing.assert_frame_equal(read_icbhi_index(corpus_copy), expected)


@pytest.mark.parametrize("header", [True, False])
def test_kaggle_layout_has_same_cycles_and_no_official_split(
    synthetic_corpus: Path, tmp_path: Path, header: bool
) -> None:
    official = read_icbhi_index(synthetic_corpus)
    kaggle = read_icbhi_index(_to_kaggle_layout(synthetic_corpus, tmp_path / "kaggle", header=header))
    assert kaggle["official_split"].isna().all()
    columns = [c for c in INDEX_COLUMNS if c != "official_split"]
    pd.testing.assert_frame_equal(kaggle[columns], official[columns])


def test_kaggle_layout_nested_like_the_public_zip(synthetic_corpus: Path, tmp_path: Path) -> None:
    nested = _to_kaggle_layout(
        synthetic_corpus, tmp_path / "download" / "Respiratory_Sound_Database", header=True
    )
    index = read_icbhi_index(tmp_path / "download")
    assert len(index) == len(read_icbhi_index(nested))
    assert index["diagnosis"].notna().all()


def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        read_icbhi_index(tmp_path / "does-not-exist")


def test_folder_without_annotations(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(CorpusError, match="no ICBHI annotation files"):
        read_icbhi_index(tmp_path)


def _rewrite_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("line_text", "message"),
    [
        ("0.5\t1.5\t0", r"expected 4 fields .*found 3"),
        ("0.5\tabc\t0\t1", r"end 'abc' is not a number"),
        ("1.5\t1.5\t0\t0", r"not before its end"),
        ("2.0\t1.0\t0\t0", r"not before its end"),
        ("0.5\t1.0\t2\t0", r"crackle flag '2' should be 0 or 1"),
        ("-0.5\t1.0\t0\t0", r"start -0.5 is negative"),
        ("0.5\tnan\t0\t0", r"not a finite number"),
    ],
)
def test_bad_annotation_line_names_file_and_line(corpus_copy: Path, line_text: str, message: str) -> None:
    path = _annotation_files(corpus_copy)[1]
    _rewrite_line(path, 2, line_text)
    with pytest.raises(CorpusFormatError, match=message) as error:
        read_icbhi_index(corpus_copy)
    assert str(error.value).startswith(f"{path}:2: ")
    assert error.value.line == 2


@pytest.mark.parametrize(
    ("field", "replacement", "message"),
    [(4, "Stetho9000", "unknown device 'Stetho9000'"), (2, "Zz", "unknown chest location 'Zz'")],
)
def test_unknown_device_or_location_code(
    corpus_copy: Path, field: int, replacement: str, message: str
) -> None:
    path = _annotation_files(corpus_copy)[0]
    fields = path.stem.split("_")
    fields[field] = replacement
    path.rename(path.with_name("_".join(fields) + ".txt"))
    with pytest.raises(CorpusFormatError, match=message):
        read_icbhi_index(corpus_copy)


def test_duplicate_recording_with_another_device_suffix(corpus_copy: Path) -> None:
    path = _annotation_files(corpus_copy)[0]
    fields = path.stem.split("_")
    fields[4] = "Litt3200" if fields[4] != "Litt3200" else "Meditron"
    shutil.copy(path, path.with_name("_".join(fields) + ".txt"))
    with pytest.raises(CorpusFormatError, match="duplicate recording") as error:
        read_icbhi_index(corpus_copy)
    assert path.name in str(error.value)


def test_duplicate_split_entry_names_both_lines(corpus_copy: Path) -> None:
    split_file = corpus_copy / SPLIT_FILE
    lines = split_file.read_text().splitlines()
    split_file.write_text("\r\n".join([*lines, lines[0]]) + "\r\n")
    with pytest.raises(CorpusFormatError, match=rf"{SPLIT_FILE}:{len(lines) + 1}: duplicate .*line 1"):
        read_icbhi_index(corpus_copy)


def test_split_entry_for_a_recording_that_does_not_exist(corpus_copy: Path) -> None:
    """A typo leaves a real recording without a split: an error naming both sides."""
    split_file = corpus_copy / SPLIT_FILE
    lines = split_file.read_text().splitlines()
    stem, split = lines[2].split("\t")
    fields = stem.split("_")
    typo = "_".join([fields[0], "9b9", *fields[2:]])
    lines[2] = f"{typo}\t{split}"
    split_file.write_text("\r\n".join(lines) + "\r\n")
    with pytest.raises(CorpusFormatError, match=rf"no entry for recording '{stem}'.*line 3 '{typo}'"):
        read_icbhi_index(corpus_copy)


def test_extra_split_entry_is_reported_once(corpus_copy: Path) -> None:
    split_file = corpus_copy / SPLIT_FILE
    lines = split_file.read_text().splitlines()
    split_file.write_text(
        "\r\n".join([*lines, "999_1b1_Al_sc_Meditron\ttest", "998_1b1_Al_sc_Meditron\ttest"])
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        index = read_icbhi_index(corpus_copy)
    reports = [w for w in caught if issubclass(w.category, PartialCorpusWarning)]
    assert len(reports) == 1
    assert f"{SPLIT_FILE}:{len(lines) + 1}: names recording '999_1b1_Al_sc_Meditron'" in str(
        reports[0].message
    )
    assert "2 split entries" in str(reports[0].message)
    assert 999 not in set(index["patient_id"])


def test_the_docs_say_what_the_code_does_with_entries_for_missing_recordings() -> None:
    """The docs (once README) listed such entries among the errors while the code warns: they now agree."""
    page = (Path(__file__).parents[2] / "docs" / "concepts" / "input-checks.md").read_text(encoding="utf-8")
    row = next(line for line in page.splitlines() if line.startswith("| split-file entry naming a recording"))
    assert "`PartialCorpusWarning`" in row
    section = page[page.index("## What a dataset build checks") : page.index("## What bad input")]
    checks = " ".join(section.split())
    errors, reported = checks.split("Nothing is dropped without a word")  # the words, however wrapped
    assert "split-file entries" not in errors and "split-file entries naming recordings" in reported


def test_bad_split_value_and_demographic_line(corpus_copy: Path) -> None:
    split_file = corpus_copy / SPLIT_FILE
    lines = split_file.read_text().splitlines()
    lines[0] = lines[0].split("\t")[0] + "\tvalidation"
    split_file.write_text("\r\n".join(lines))
    with pytest.raises(CorpusFormatError, match=rf"{SPLIT_FILE}:1: split 'validation'"):
        read_icbhi_index(corpus_copy)


def test_non_numeric_demographic_value(corpus_copy: Path) -> None:
    path = corpus_copy / "ICBHI_Challenge_demographic_information.txt"
    lines = path.read_text().splitlines()
    fields = lines[1].split("\t")
    fields[1] = "seventy"
    lines[1] = "\t".join(fields)
    path.write_text("\r\n".join(lines))
    with pytest.raises(
        CorpusFormatError, match=r"demographic_information.txt:2: age 'seventy' is not a number"
    ):
        read_icbhi_index(corpus_copy)

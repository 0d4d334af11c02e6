"""A site's labelled sample (respira.sites.site_sample): its recordings read from a folder (units are patients
where the folder names them, each recording otherwise, and a sample fit-site cannot judge is refused in one
line), and the SiteSample's checks, subsets and the .npz it is kept in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from respira.data.errors import CorpusFormatError
from respira.sites import SiteSample
from respira.sites.site_sample import MIN_UNITS, read_site_recordings

from ..conftest import SHARED_DIR
from ..data.test_labelled import write_labelled
from .conftest import make_sample

SITE = (  # (file, crackle, wheeze, patient, device, location, seconds)
    ("a.wav", "1", "0", "p1", "", "", 1.0),
    ("b.wav", "0", "0", "p1", "", "", 1.0),
    ("c.wav", "0", "1", "p2", "", "", 1.0),
    ("d.wav", "0", "0", "p3", "", "", 1.0),
    ("e.wav", "0", "0", "p4", "", "", 1.0),
)


def test_a_labelled_folder_gives_its_recordings_with_patients_as_units(tmp_path: Path) -> None:
    sample = read_site_recordings(write_labelled(tmp_path, SITE), "labelled")
    assert sample.units_are_patients and sample.units == 4 and sample.unit_name == "patients"
    assert [(r.recording_id, r.crackle, r.wheeze, r.unit) for r in sample.recordings] == [
        ("a.wav", True, False, "p1"),
        ("b.wav", False, False, "p1"),
        ("c.wav", False, True, "p2"),
        ("d.wav", False, False, "p3"),
        ("e.wav", False, False, "p4"),
    ]
    assert all(r.path.is_file() for r in sample.recordings)


def test_without_a_patient_column_each_recording_is_its_own_unit_and_it_says_so(tmp_path: Path) -> None:
    sample = read_site_recordings(write_labelled(tmp_path, SITE, columns="file,crackle,wheeze"), "labelled")
    assert not sample.units_are_patients and sample.units == len(SITE)
    assert [r.unit for r in sample.recordings] == [r.recording_id for r in sample.recordings]
    assert "each its own unit" in sample.unit_name


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (SITE[:3], f"holds 2 patients; fit-site needs at least {MIN_UNITS}"),
        (tuple((*row[:1], "0", "0", *row[3:]) for row in SITE), "has 5 normal and 0 abnormal"),
        (tuple((*row[:1], "1", "0", *row[3:]) for row in SITE), "has 0 normal and 5 abnormal"),
    ],
)
def test_a_sample_that_cannot_be_judged_is_refused_in_one_line(
    tmp_path: Path, rows: tuple, message: str
) -> None:
    with pytest.raises(ValueError) as error:
        read_site_recordings(write_labelled(tmp_path, rows), "labelled")
    assert message in str(error.value) and str(tmp_path) in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_label_column_is_named(tmp_path: Path) -> None:
    with pytest.raises(CorpusFormatError, match=r"labels\.csv:1:.*wheeze"):
        read_site_recordings(write_labelled(tmp_path, SITE, columns="file,crackle,patient"), "labelled")


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"--data_dir '.*nowhere' does not exist"):
        read_site_recordings(tmp_path / "nowhere", "labelled")


@pytest.mark.real_data
def test_the_real_corpora_give_their_patients(shared_kauh: Path) -> None:
    kauh = read_site_recordings(shared_kauh, "kauh")
    assert kauh.units_are_patients and kauh.units == 56 and len(kauh.recordings) == 168
    sprsound_dir = SHARED_DIR / "sprsound"
    if sprsound_dir.is_dir():
        sprsound = read_site_recordings(sprsound_dir, "sprsound")
        assert sprsound.left_out == 39 and len(sprsound.recordings) == 641 - 39 and sprsound.units == 60
    icbhi_dir = SHARED_DIR / "icbhi"
    if icbhi_dir.is_dir():
        icbhi = read_site_recordings(icbhi_dir, "icbhi")
        assert icbhi.units == 26 and len(icbhi.recordings) == 76


def test_rows_not_yet_labelled_or_too_poor_are_left_out_and_said_in_one_line(tmp_path: Path) -> None:
    from respira.data.labels_csv import UnlabelledRowsWarning

    blank = (("f.wav", "", "", "p5", "", "", 1.0), ("g.wav", "", "", "p6", "", "", 1.0))
    poor = (("h.wav", "", "", "p7", "", "", 1.0), ("i.wav", "1", "0", "p1", "", "", 1.0))
    folder = write_labelled(tmp_path, SITE + blank + poor)
    labels = (folder / "labels.csv").read_text().splitlines()  # h and i judged too poor to label
    quality = ["quality", *([""] * (len(SITE) + len(blank))), "poor", "POOR"]
    (folder / "labels.csv").write_text(
        "".join(f"{line},{cell}\n" for line, cell in zip(labels, quality, strict=True))
    )
    expected = r"5 labelled, 2 left blank \(not yet labelled\), 2 judged too poor to label; reading the 5"
    with pytest.warns(UnlabelledRowsWarning, match=expected) as caught:
        sample = read_site_recordings(folder, "labelled")
    assert len(caught) == 1
    assert [r.recording_id for r in sample.recordings] == [row[0] for row in SITE]
    assert sample.units == 4  # the blank rows' and the poor row's patients are not units of the fit


def test_a_sample_survives_its_npz(tmp_path):
    sample = make_sample(units=5)
    loaded = SiteSample.load(sample.save(tmp_path / "site.npz"))
    np.testing.assert_array_equal(loaded.embeddings, sample.embeddings)
    np.testing.assert_array_equal(loaded.base_logits, sample.base_logits)
    np.testing.assert_array_equal(loaded.base_head[0], sample.base_head[0])
    assert loaded.recordings == sample.recordings
    assert loaded.base_thresholds == sample.base_thresholds
    np.testing.assert_array_equal(loaded.labels, sample.labels)
    assert list(loaded.units) == list(sample.units)


def test_a_subset_keeps_each_window_with_its_recording():
    sample = make_sample(units=4)
    part = sample.subset(np.array([5, 2]))
    assert [r.recording_id for r in part.recordings] == [
        sample.recordings[5].recording_id,
        sample.recordings[2].recording_id,
    ]
    np.testing.assert_array_equal(
        part.embeddings[part.recording == 0], sample.embeddings[sample.recording == 5]
    )
    np.testing.assert_array_equal(
        part.base_logits[part.recording == 1], sample.base_logits[sample.recording == 2]
    )

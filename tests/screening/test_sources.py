"""respira.screening.sources: a SOURCE's recordings (folder, list, saved dataset) and each process's share."""

from __future__ import annotations

from pathlib import Path

import pytest

from respira.screening.sources import open_source

from .conftest import BAD, GOOD


def _names(recordings) -> list[str]:
    return [Path(recording.path).name for recording in recordings]


def test_a_folder_is_searched_recursively_in_name_order_for_audio_only(archive: Path) -> None:
    source = open_source(str(archive))
    recordings = list(source.share())
    assert source.kind == "folder" and source.identity == str(archive.resolve())
    expected = sorted({*BAD, *(f"r{i:03d}.wav" for i in range(0, GOOD, 2))}) + [
        f"r{i:03d}.wav" for i in range(1, GOOD, 2)
    ]
    assert _names(recordings) == expected  # the top folder's files, then sub/'s; no .txt, no hidden file
    first = recordings[0]
    stat = Path(first.path).stat()
    assert (first.data, first.size, first.mtime_ns) == (first.path, stat.st_size, stat.st_mtime_ns)
    assert first.key == (first.path, stat.st_size, stat.st_mtime_ns)


def test_shares_of_the_processes_partition_the_listing(archive: Path) -> None:
    source = open_source(str(archive))
    everything = [recording.path for recording in source.share()]
    shares = [[recording.path for recording in source.share(index, 3)] for index in range(3)]
    together = [path for share in shares for path in share]
    assert sorted(together) == sorted(everything) and len(together) == len(everything)
    assert shares[1] == everything[1::3]


def test_txt_and_csv_lists_name_paths_relative_to_their_folder(archive: Path, tmp_path: Path) -> None:
    listing = archive / "list.txt"
    listing.write_text(f"# two recordings\nr000.wav\n\n  sub/r001.wav  \n{archive / 'missing.wav'}\n")
    recordings = list(open_source(str(listing)).share())
    assert [r.path for r in recordings] == [
        str(archive / "r000.wav"),
        str(archive / "sub" / "r001.wav"),
        str(archive / "missing.wav"),
    ]
    assert recordings[2].size is None and recordings[2].mtime_ns is None  # its row will say "no such file"
    table = archive / "list.csv"
    table.write_text("patient,path\n1,r000.wav\n2,sub/r001.wav\n")
    assert _names(open_source(str(table)).share()) == ["r000.wav", "r001.wav"]


def test_a_saved_dataset_is_read_undecoded_by_split_and_column(archive: Path, tmp_path: Path) -> None:
    from datasets import Audio, Dataset, DatasetDict

    files = [str(archive / "r000.wav"), str(archive / "sub" / "r001.wav"), str(archive / "r002.wav")]
    dataset = Dataset.from_dict({"sound": files, "label": [0, 1, 0]}).cast_column("sound", Audio())
    folder = tmp_path / "saved"
    DatasetDict({"train": dataset, "test": dataset.select([2])}).save_to_disk(str(folder))
    with pytest.raises(ValueError, match="splits train, test: choose one with --split"):
        open_source(str(folder))
    with pytest.raises(ValueError, match="no split 'dev'"):
        open_source(str(folder), split="dev")
    with pytest.raises(ValueError, match=r"no audio column 'audio' \(its columns: sound, label\)"):
        open_source(str(folder), split="train")
    source = open_source(str(folder), split="train", audio_column="sound")
    assert len(source) == 3
    recordings = list(source.share(1, 2))
    assert [r.path for r in recordings] == ["train[1]"]
    assert recordings[0].data == Path(files[1]).read_bytes() and recordings[0].mtime_ns is None


def test_other_sources_are_refused_in_one_line(archive: Path) -> None:
    with pytest.raises(ValueError, match="is a file, not a folder of audio or a list"):
        open_source(str(archive / "r000.wav"))
    with pytest.raises(FileNotFoundError, match="nothing-here not found"):
        open_source(str(archive / "nothing-here"))
    with pytest.raises(ValueError, match="--split applies to a datasets SOURCE"):
        open_source(str(archive), split="train")

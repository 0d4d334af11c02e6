"""respira.screening.results: the tables' documented columns, the manifest, chunks and their merge."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from respira.screening.results import (
    EVENT_SCHEMA,
    RECORDING_SCHEMA,
    ChunkWriter,
    check_manifest,
    merge_chunks,
    prepare_run,
)

MANIFEST = {"model": "abc", "source": "/archive", "options": {"window": 4.0, "events": False}}


def test_the_tables_have_the_documented_columns_and_types() -> None:
    assert [(field.name, str(field.type)) for field in RECORDING_SCHEMA] == [
        ("path", "string"),
        ("size", "int64"),
        ("mtime_ns", "int64"),
        ("duration", "double"),
        ("sampling_rate", "int32"),
        ("channels", "int32"),
        ("verdict", "string"),
        ("crackle", "double"),
        ("wheeze", "double"),
        ("warning", "string"),
        ("error", "string"),
    ]
    assert [(field.name, str(field.type)) for field in EVENT_SCHEMA] == [
        ("path", "string"),
        ("onset", "double"),
        ("offset", "double"),
        ("type", "string"),
        ("confidence", "double"),
        ("rule", "string"),
    ]


def test_other_settings_are_refused_in_one_line_naming_what_changed(tmp_path: Path) -> None:
    check_manifest(tmp_path, MANIFEST)  # nothing there yet
    (tmp_path / "screen.json").write_text(json.dumps({**MANIFEST, "run": 3}))
    check_manifest(tmp_path, MANIFEST)  # the same settings resume
    changed = {**MANIFEST, "model": "def", "options": {"window": 2.0, "events": False}}
    with pytest.raises(ValueError, match=r"other settings \(the model, --window \(4.0 → 2.0\)\)") as error:
        check_manifest(tmp_path, changed)
    assert "\n" not in str(error.value)


def _row(path: str, crackle: float) -> dict:
    return {"path": path, "size": 1, "mtime_ns": 2, "duration": 3.0, "verdict": "normal", "crackle": crackle}


def test_chunks_are_merged_with_a_rescreened_recordings_latest_rows_only(tmp_path: Path) -> None:
    first = ChunkWriter(tmp_path, run=prepare_run(tmp_path), process=0, size=2, events=True)
    first.add(_row("a.wav", 0.1), [{"path": "a.wav", "onset": 0.0, "offset": 1.0, "type": "crackle"}])
    first.add(_row("b.wav", 0.2))  # the chunk is full: written
    first.add(_row("c.wav", 0.3))  # never flushed: a killed process's unfinished chunk
    assert sorted(path.name for path in (tmp_path / "chunks").iterdir()) == [
        "events-0001-0000-000001.parquet",
        "recordings-0001-0000-000001.parquet",
    ]
    second = ChunkWriter(tmp_path, run=prepare_run(tmp_path), process=1, size=5, events=True)
    second.add(_row("a.wav", 0.9), [{"path": "a.wav", "onset": 2.0, "offset": 3.0, "type": "wheeze"}])
    second.flush()
    recordings, events = merge_chunks(tmp_path, "parquet", events=True)
    table = pq.read_table(recordings)
    assert table.schema == RECORDING_SCHEMA
    assert sorted(zip(table["path"].to_pylist(), table["crackle"].to_pylist(), strict=True)) == [
        ("a.wav", 0.9),
        ("b.wav", 0.2),
    ]
    assert pq.read_table(events).to_pylist() == [
        {"path": "a.wav", "onset": 2.0, "offset": 3.0, "type": "wheeze", "confidence": None, "rule": None}
    ]
    (csv,) = merge_chunks(tmp_path, "csv", events=False)
    lines = csv.read_text().splitlines()
    assert lines[0] == ",".join(f'"{name}"' for name in RECORDING_SCHEMA.names) and len(lines) == 3


def test_a_run_number_follows_the_finished_chunks_and_leftovers_are_removed(tmp_path: Path) -> None:
    assert prepare_run(tmp_path) == 1
    chunks = tmp_path / "chunks"
    pq.write_table(
        pa.Table.from_pylist([_row("a.wav", 0.1)], RECORDING_SCHEMA),
        chunks / "recordings-0004-0001-000002.parquet",
    )
    (chunks / "events-0004-0001-000003.parquet").write_bytes(b"no recordings chunk beside it")
    (chunks / ".recordings-0004-0001-000003.parquet.7-ab.partial").write_bytes(b"half")
    assert prepare_run(tmp_path) == 5
    assert [path.name for path in chunks.iterdir()] == ["recordings-0004-0001-000002.parquet"]

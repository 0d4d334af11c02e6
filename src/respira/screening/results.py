"""Where ``respira screen`` keeps its results: ``screen.json`` (model fingerprint, SOURCE, options),
atomic Parquet ``chunks/`` (a killed run redoes only its unfinished one) and the merged tables."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..utils.files import atomic_path

RECORDING_SCHEMA = pa.schema(
    [
        ("path", pa.string()),  # the file's path (a dataset row: SPLIT[INDEX])
        ("size", pa.int64()),  # bytes; null when the file cannot be read
        ("mtime_ns", pa.int64()),  # modification time, ns since the epoch; null for a dataset row
        ("duration", pa.float64()),  # seconds, from the header; null when it cannot be read
        ("sampling_rate", pa.int32()),  # the file's own rate (Hz); null for a codec only torchcodec reads
        ("channels", pa.int32()),  # the file's channel count; null likewise
        ("verdict", pa.string()),  # normal, crackle, wheeze or both; null on error
        ("crackle", pa.float64()),  # the recording's crackle probability (its windows' aggregated)
        ("wheeze", pa.float64()),  # the recording's wheeze probability
        # why its verdict is not to be trusted (respira.models.respira.audio_decoding); null: fine
        ("warning", pa.string()),
        ("error", pa.string()),  # why the recording could not be screened (one line); null when it was
    ]
)

EVENT_SCHEMA = pa.schema(
    [
        ("path", pa.string()),  # the recording's path, as in the recordings table
        ("onset", pa.float64()),  # seconds from the recording's start
        ("offset", pa.float64()),  # seconds
        ("type", pa.string()),  # crackle or wheeze
        ("confidence", pa.float64()),  # the event's peak posterior
        ("rule", pa.string()),  # what kept it: verdict (the recording's verdict holds it)
    ]
)

MANIFEST = "screen.json"
CHUNKS = "chunks"
_RESULTS = tuple(f"{table}.{suffix}" for table in ("recordings", "events") for suffix in ("parquet", "csv"))
_CHUNK = re.compile(r"^(recordings|events)-(\d+)-(\d+)-(\d+)\.parquet$")


def model_fingerprint(model: Any) -> str:
    """SHA-256 of what the model computes: its config and its weights (an ONNX export's file bytes)."""
    digest = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    if hasattr(model, "state_dict"):
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    else:  # an OnnxClassifier
        with Path(model.path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def check_names_free(output_dir: Path) -> None:
    """Refuse, where no screening is yet, an ``output_dir`` holding a name screen writes (the user's)."""
    if (output_dir / MANIFEST).is_file():
        return
    entries = (output_dir / name for name in (MANIFEST, CHUNKS, *_RESULTS))
    if taken := [entry for entry in entries if entry.is_symlink() or entry.exists()]:
        raise FileExistsError(
            f"{taken[0]} was not written by respira screen: move it away or choose another --output_dir"
        )


def check_manifest(output_dir: Path, manifest: Mapping[str, Any]) -> None:
    """Refuse an ``output_dir`` holding results of another model, SOURCE or options than ``manifest``."""
    path = output_dir / MANIFEST
    check_names_free(output_dir)
    if not path.is_file():
        return
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} cannot be read ({error}); screen into another --output_dir") from None
    changed = []
    if earlier.get("model") != manifest["model"]:
        changed.append("the model")
    if earlier.get("source") != manifest["source"]:
        changed.append(f"SOURCE ({earlier.get('source')} → {manifest['source']})")
    options, before = manifest["options"], earlier.get("options", {})
    changed += [
        f"--{name} ({before.get(name)} → {options.get(name)})"
        for name in sorted(set(options) | set(before))
        if before.get(name) != options.get(name)
    ]
    if changed:
        raise ValueError(
            f"{output_dir} holds results screened with other settings ({', '.join(changed)}); they "
            "would not mix: screen into another --output_dir, or give the same ones to resume"
        )


def _chunks(output_dir: Path, table: str) -> list[tuple[tuple[int, int, int], Path]]:
    """``((run, process, number), path)`` of the finished chunks of ``table``, in that order."""
    found = ((_CHUNK.match(path.name), path) for path in (output_dir / CHUNKS).glob(f"{table}-*.parquet"))
    return sorted(((int(match[2]), int(match[3]), int(match[4])), path) for match, path in found if match)


def prepare_run(output_dir: Path) -> int:
    """Remove temporary files and orphaned event chunks before a run writes; return the run's number."""
    folder = output_dir / CHUNKS
    folder.mkdir(parents=True, exist_ok=True)
    for partial in folder.glob(".*.partial"):
        partial.unlink(missing_ok=True)
    finished = {key for key, _ in _chunks(output_dir, "recordings")}
    for key, path in _chunks(output_dir, "events"):
        if key not in finished:
            path.unlink(missing_ok=True)
    for marker in folder.glob("finished-*.json"):
        marker.unlink(missing_ok=True)
    return 1 + max((key[0] for key in finished), default=0)


def finished_keys(output_dir: Path) -> set[tuple[str, int | None, int | None]]:
    """The ``(path, size, mtime_ns)`` of every recording a finished chunk holds."""
    keys: set[tuple[str, int | None, int | None]] = set()
    for _, path in _chunks(output_dir, "recordings"):
        table = pq.read_table(path, columns=["path", "size", "mtime_ns"])
        keys.update(zip(*(table.column(name).to_pylist() for name in table.column_names), strict=True))
    return keys


class ChunkWriter:
    """Writes one process's rows every ``size`` recordings as a chunk: events first, then recordings."""

    def __init__(self, output_dir: Path, run: int, process: int, size: int, events: bool) -> None:
        self.folder = output_dir / CHUNKS
        self.stem = f"{run:04d}-{process:04d}"
        self.size, self.events = size, events
        self.number = 0
        self._recordings: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []

    def add(self, recording: dict[str, Any], events: Iterable[dict[str, Any]] = ()) -> None:
        self._recordings.append(recording)
        self._events.extend(events)
        if len(self._recordings) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self._recordings:
            return
        self.number += 1
        name = f"{self.stem}-{self.number:06d}.parquet"
        tables = [("events", self._events, EVENT_SCHEMA)] if self.events else []
        for table, rows, schema in [*tables, ("recordings", self._recordings, RECORDING_SCHEMA)]:
            with atomic_path(self.folder / f"{table}-{name}") as partial:
                pq.write_table(pa.Table.from_pylist(rows, schema=schema), partial)
        self._recordings, self._events = [], []


def _merged(output_dir: Path, table: str) -> Iterator[pa.Table]:
    """The chunks of ``table``, each limited to the recordings whose latest screening it holds."""
    latest: dict[str, tuple[int, int, int]] = {}
    for key, path in _chunks(output_dir, "recordings"):
        for name in pq.read_table(path, columns=["path"]).column("path").to_pylist():
            latest[name] = key
    for key, path in _chunks(output_dir, table):
        chunk = pq.read_table(path, schema=RECORDING_SCHEMA if table == "recordings" else EVENT_SCHEMA)
        keep = [latest.get(name) == key for name in chunk.column("path").to_pylist()]
        yield chunk.filter(pa.array(keep, type=pa.bool_()))


def merge_chunks(output_dir: Path, output_format: str, events: bool) -> list[Path]:
    """Write ``recordings.FORMAT`` (and ``events.FORMAT``) from every chunk; return their paths."""
    import pyarrow.csv as pcsv

    written = []
    for table, schema in (("recordings", RECORDING_SCHEMA), ("events", EVENT_SCHEMA))[: 2 if events else 1]:
        target = output_dir / f"{table}.{output_format}"
        with atomic_path(target) as partial:
            writer = pq.ParquetWriter(partial, schema) if output_format == "parquet" else None
            writer = writer or pcsv.CSVWriter(str(partial), schema)
            with writer:
                for chunk in _merged(output_dir, table):
                    writer.write_table(chunk)
        written.append(target)
    return written

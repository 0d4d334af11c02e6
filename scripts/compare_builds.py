"""Compare built detector folders file by file: does `make detector` (or `make site-detectors`) rebuild alike?

    python scripts/compare_builds.py FOLDER OTHER [EARLIER] [--output FILE]

Prints (and writes to ``--output``) one row per file of ``FOLDER``: its SHA-256, whether ``OTHER`` holds the
same bytes, and, where ``EARLIER`` (a folder built before, say the committed one) is given, whether it holds
the same bytes and, for JSON files, the largest difference between the two files' numbers (keys compared
by their path in the document; a key one file lacks is counted).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _build.py, the build scripts' helpers
from _build import sha256


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def json_difference(path: Path, other: Path) -> str:
    """The largest difference between two JSON files' numbers, and how many other values differ."""
    ours, theirs = (dict(_leaves(json.loads(p.read_text(encoding="utf-8")))) for p in (path, other))
    largest, others = 0.0, 0
    for key in ours.keys() | theirs.keys():
        a, b = ours.get(key), theirs.get(key)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
        if numbers:
            largest = max(largest, abs(a - b))
        elif a != b:
            others += 1
    return f"numbers within {largest:.1e}; {others} other value(s) differ"


def rows(folder: Path, other: Path, earlier: Path | None) -> list[str]:
    lines = ["| file | SHA-256 | the other build | the earlier folder |", "| --- | --- | --- | --- |"]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        digest = sha256(path)
        twin = other / name
        same = "same bytes" if twin.is_file() and sha256(twin) == digest else "DIFFERS"
        before = "" if earlier is None else "(absent)"
        if earlier is not None and (earlier / name).is_file():
            before = "same bytes" if sha256(earlier / name) == digest else "differs"
            if before == "differs" and path.suffix == ".json":
                before += f": {json_difference(path, earlier / name)}"
        lines.append(f"| `{name}` | `{digest[:16]}…` | {same} | {before} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("other", type=Path)
    parser.add_argument("earlier", type=Path, nargs="?")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    for folder in (args.folder, args.other, args.earlier):
        if folder is not None and not folder.is_dir():
            parser.error(f"{folder}: not a folder")
    text = "\n".join(rows(args.folder, args.other, args.earlier)) + "\n"
    sys.stdout.write(text)
    if args.output is not None:
        from respira.utils.files import write_text_atomic  # whole or not at all, as respira writes files

        write_text_atomic(args.output, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

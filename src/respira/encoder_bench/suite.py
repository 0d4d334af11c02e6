"""A versioned task suite (``respira bench --suite FILE``): the sources (each site's recordings and their
patients), the in-domain folds and the site task's draws a run scored on, so that two teams compare
encoders on the same patients. Read and checked before any embedding (:func:`read_suite`); built from a
run's rows (:func:`build_suite`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .tasks import Site

__all__ = ["SUITE_FORMAT", "build_suite", "read_suite", "sources", "splits_of"]

SUITE_FORMAT = 1
"""The suite file's format; a file of another is refused."""
FIXED = ("folds", "sizes", "draws", "seed", "resamples")
"""The options a suite fixes (a run that reads it takes them from it)."""


def sources(sites: Sequence[Site]) -> dict[str, Any]:
    """Each site's corpus and recordings, each ``[recording, patient]``."""
    return {
        site.name: {
            "dataset": site.recordings.dataset,
            "recordings": [[r.recording_id, str(r.unit)] for r in site.recordings.recordings],
        }
        for site in sites
    }


def _version(suite: Mapping[str, Any]) -> str:
    """The first 12 hex digits of the SHA-256 of everything the suite fixes: equal versions, equal splits."""
    fixed = {key: suite[key] for key in ("options", "sources", "in_domain", "site_labels")}
    return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:12]


def build_suite(name: str, sites: Sequence[Site], rows: Sequence[Mapping[str, Any]], options: Any) -> dict:
    """The suite a run's ``rows`` scored on (their ``folds`` and ``drawn`` entries) under ``name``."""
    in_domain = {row["folds"]["site"]: {k: v for k, v in row["folds"].items() if k != "site"}
                 for row in rows if row.get("folds")}  # fmt: skip
    site_labels: dict[str, dict[str, list[list[str]]]] = {}
    for drawn in (row["drawn"] for row in rows if row.get("drawn")):
        site_labels.setdefault(drawn["site"], {})[str(drawn["size"])] = drawn["draws"]
    suite = {
        "format": SUITE_FORMAT,
        "name": name,
        "options": {key: getattr(options, key) for key in FIXED},
        "sources": sources(sites),
        "in_domain": in_domain,
        "site_labels": site_labels,
    }
    return {**suite, "version": _version(suite)}


def _refused(path: Path, why: str) -> ValueError:
    return ValueError(f"--suite {path}: {why}")


def read_suite(path: Path, sites: Sequence[Site]) -> dict[str, Any] | None:
    """The suite at ``path`` (``None`` where there is none yet: the run writes it), checked against the
    sites given: one-line ``ValueError`` naming the file for one that is not a suite, of another format
    or version, or whose sources differ from the data (a site, a recording or a patient)."""
    if not path.is_file():
        if path.exists() or not path.parent.is_dir():
            raise _refused(path, "neither a suite file nor a new file in an existing folder")
        return None
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
        if suite.get("format") != SUITE_FORMAT:
            raise _refused(path, f"format {suite.get('format')!r}, this respira reads {SUITE_FORMAT}")
        if _version(suite) != suite.get("version"):
            raise _refused(path, f"version {suite.get('version')!r} is not its content's ({_version(suite)})")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError) as error:
        raise _refused(path, f"not a bench suite ({type(error).__name__})") from None
    given, fixed = sources(sites), suite["sources"]
    for name in sorted(set(given) ^ set(fixed)):
        said = "the suite names no site" if name in given else "--data names no site"
        raise _refused(path, f"{said} {name!r} (the suite's sites: {', '.join(fixed)})")
    for name, source in fixed.items():
        ours = {recording: unit for recording, unit in given[name]["recordings"]}
        theirs = {recording: unit for recording, unit in source["recordings"]}
        for recording in sorted(set(ours) ^ set(theirs)):
            where = "the data holds" if recording in ours else "the data lacks"
            raise _refused(path, f"site {name}: {where} recording {recording}, the suite does not")
        for recording in sorted(r for r in ours if ours[r] != theirs[r]):
            raise _refused(path, f"site {name}: recording {recording} is patient {ours[recording]}, "
                                 f"the suite's {theirs[recording]}")  # fmt: skip
    return suite


def splits_of(suite: Mapping[str, Any] | None) -> dict[str, Any]:
    """The splits the tasks read (``options.splits``): in-domain folds and the site task's draws per size."""
    if suite is None:
        return {}
    draws = {site: {int(size): each for size, each in by_size.items()}
             for site, by_size in suite["site_labels"].items()}  # fmt: skip
    return {"in_domain": suite["in_domain"], "site_labels": draws}

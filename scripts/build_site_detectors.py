"""Build respira's shipped site detectors from ``../shared`` (``make site-detectors``; ``make detector``).

Each site detector is the shipped ICBHI detector (``src/respira/pretrained/icbhi-crackle-wheeze``, not
retrained here) fitted to one site of ``../shared`` by ``respira fit-site``, run through respira's own
command line as a user would (one thread, offline, a work folder, a log):

* ``kauh-crackle-wheeze``: ``respira fit-site <ICBHI folder> --dataset kauh --data_dir ../shared/kauh``
  (not shipped since fit-site's per-label rule: its gain over the model as is is not shown there);
* ``sprsound-crackle-wheeze``: the same with ``--dataset sprsound --data_dir ../shared/sprsound``.

``--apply_anyway`` is never passed: a site detector ships only where fit-site's out-of-sample rule
applies (the chosen procedure beats the model as is and all-normal in nested cross-validation). Where it
does not, the script says so in one line and ships nothing for that site (a folder shipped before stays).

Each finished folder replaces ``src/respira/pretrained/<site>-crackle-wheeze`` only on success, with a
``build_record.json`` of its own: the base folder's weights SHA-256, the data's listing and digest, the
library versions, and ``site_fit.json``'s SHA-256 (the one evaluation the folder claims: fit-site's nested
cross-validation of its site); its card quotes the base model's rows as the base's. It ships in the layout
of ``scripts/_build.py``: fit-site's generated code is taken out (``respira export`` and ``respira push``
of the folder write it again), and ``expected_outputs.json`` records what it outputs on
:attr:`Site.recordings`; ``tests/test_shipped_outputs.py`` fails when those outputs change, the one case
that calls for a rebuild.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _build.py, shared with build_detector.py
from _build import (
    drop_fit_timings,
    install,
    last_line,
    run_respira,
    sha256,
    shipped_layout,
    write_build_record,
    write_expected_outputs,
)

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "src" / "respira" / "pretrained"
BASE = PRETRAINED / "icbhi-crackle-wheeze"
NOT_WRITTEN = 1
"""``respira fit-site``'s exit code when its out-of-sample rule does not apply (nothing written)."""


@dataclass(frozen=True)
class Site:
    """One shipped site detector: the corpus fit-site reads and the folder it ships as."""

    dataset: str
    data: str
    """The folder of ``../shared`` holding the site's labelled recordings."""
    recordings: tuple[str, ...]
    """The real recordings of ``../shared`` whose outputs ``expected_outputs.json`` records."""

    @property
    def name(self) -> str:
        return f"{self.dataset}-crackle-wheeze"


SITES = (
    Site(
        "kauh",
        "kauh",
        (
            "kauh/BP11_Heart Failure,C,P L L,53,M.wav",  # 4 kHz, crackles
            "kauh/BP12_Asthma,E W,P L L,50,F.wav",  # 4 kHz, wheezes
            "icbhi/ICBHI_final_database/101_1b1_Al_sc_Meditron.wav",  # 44.1 kHz, another site
        ),
    ),
    Site(
        "sprsound",
        "sprsound",
        (
            "sprsound/train_wav/40877908_4.0_0_p2_3440.wav",  # 8 kHz, CAS
            "sprsound/train_wav/40877908_4.0_0_p3_3435.wav",  # 8 kHz, DAS
            "icbhi/ICBHI_final_database/223_1b1_Al_sc_Meditron.wav",  # 10 kHz, another site
        ),
    ),
)


def data_fingerprint(folder: Path) -> dict[str, object]:
    """The data a site detector was fitted on: its file count, bytes and one SHA-256 over every file's
    relative path and contents (sorted), so a changed, added or removed recording shows."""
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "sha256": digest.hexdigest()}


def fit_site(site: Site, *, work: Path, log: Path) -> bool:
    """``respira fit-site`` of the ICBHI detector on ``site`` into ``work/<name>``, one thread, offline;
    its output goes to ``log``. ``False`` when fit-site's rule does not apply (nothing written)."""
    args = [
        "fit-site", os.path.relpath(BASE, work / "run"),
        "--dataset", site.dataset, "--data_dir", f"../shared/{site.data}",
        "--output_dir", f"../{site.name}",
    ]  # fmt: skip
    code = run_respira(args, cwd=work / "run", work=work, log=log)
    if code == NOT_WRITTEN and not (work / site.name).exists():
        print(
            f"build_site_detectors: {site.name} not shipped: fit-site's rule does not apply: {last_line(log)}"
        )
        return False
    if code != 0:
        raise SystemExit(
            f"build_site_detectors: respira fit-site ({site.dataset}) failed (exit {code}): "
            f"{last_line(log)}; see {log}"
        )
    return True


def build_record(site: Site, shared: Path) -> dict[str, object]:
    """What ``build_record.json`` of a site detector holds (its inputs: a test compares them)."""
    from importlib.metadata import version

    return {
        "command": "make site-detectors",
        "base_model": BASE.name,
        "base_weights_sha256": sha256(BASE / "model.safetensors"),
        "dataset": site.dataset,
        "data_dir": f"../shared/{site.data}",
        "data": data_fingerprint(shared / site.data),
        "threads": 1,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "libraries": {
            name: version(name) for name in ("torch", "transformers", "numpy", "scikit-learn", "onnxruntime")
        },
    }


def finish(folder: Path, site: Site, shared: Path) -> Path:
    """Write ``build_record.json`` into the fitted ``folder`` (its inputs, and ``site_fit.json``'s SHA-256:
    the one evaluation it claims; its timings dropped: :func:`_build.drop_fit_timings`), take out its
    generated code (the shipped layout), write its ``expected_outputs.json`` and render its card again
    from its files."""
    from respira.hub.card_render import render_folder_card
    from respira.records.sites import evaluation_digests

    drop_fit_timings(folder)
    write_build_record(folder, build_record(site, shared) | {"evaluations": evaluation_digests(folder)})
    shipped_layout(folder)
    write_expected_outputs(folder, shared, site.recordings)
    render_folder_card(folder, base_folder=BASE)
    return folder


def build(shared: Path, work: Path, sites: tuple[Site, ...] = SITES) -> dict[str, Path]:
    """Fit every site of ``sites`` in ``work``; the finished folders by name (those whose rule applied)."""
    missing = [f"{s.dataset} ({shared / s.data})" for s in sites if not (shared / s.data).is_dir()]
    missing += [f"{shared / name}" for s in sites for name in s.recordings if not (shared / name).is_file()]
    if not (BASE / "config.json").is_file():
        missing.append(f"the ICBHI detector ({BASE})")
    if missing:
        raise SystemExit(f"build_site_detectors: missing: {', '.join(missing)}")
    work.mkdir(parents=True, exist_ok=True)
    (work / "run").mkdir(exist_ok=True)
    link = work / "shared"  # fit-site reads ../shared/<site> from work/run, as its run files record it
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(shared, target_is_directory=True)
    log = work / "build.log"
    log.write_text("", encoding="utf-8")
    built = {}
    for site in sites:
        shutil.rmtree(work / site.name, ignore_errors=True)
        if fit_site(site, work=work, log=log):
            built[site.name] = finish(work / site.name, site, shared)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the ../shared folder")
    parser.add_argument("--work", type=Path, default=ROOT / ".detector_build_sites", help="work folder")
    parser.add_argument("--target", type=Path, default=PRETRAINED, help="where the detector folders go")
    parser.add_argument("--site", choices=[s.dataset for s in SITES], action="append", help="only these")
    args = parser.parse_args(argv)
    sites = tuple(s for s in SITES if not args.site or s.dataset in args.site)
    for name, folder in build(args.shared.resolve(), args.work.resolve(), sites).items():
        install(folder, args.target / name)
        print(f"wrote {args.target / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

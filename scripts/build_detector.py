"""Rebuild respira's shipped detector from the real recordings in ``../shared`` (``make detector``).

What it runs, each step through respira's own command line as a user would (one thread, offline):

1. ``respira convert efficientat`` of the AudioSet-pretrained mn04 weights (MIT licence) into
   ``checkpoints/efficientat_mn04`` of the work folder (the path the recipe names);
2. ``respira train RECIPE --split_strategy patient_kfold`` (5 folds, seed 0): the recipe's numbers on
   new patients of ICBHI, with their intervals over the folds (in domain);
3. ``respira train RECIPE`` on every ICBHI patient of ``icbhi/`` (80 % train, 20 % validation for early
   stopping and the thresholds' cross-fitting pool, no test split): the base detector (today's before
   issue 83, its encoder the shipped one's);
4. ``respira evaluate --record`` of the base on every KAUH recording and every SPRSound event and
   recording, sites it never heard (held out): kept in ``base_detector/`` beside the shipped detector's;
5. ``respira fit-site`` of the base on every ICBHI patient of ``icbhi/`` and ``icbhi_cycles/``
   (:data:`FIT_OPTIONS`: the site head on the frozen encoder, chosen by the leave-one-site-out study
   :data:`STUDY`, not by this fit's within-ICBHI verdict, which its nested cross-validation still reports:
   the detector's in-domain numbers, out of sample): the shipped detector;
6. ``respira evaluate --record`` of it on KAUH and SPRSound (held out);
7. the fitted folder with the base's run record, both detectors' evaluations and the recipe's
   cross-validation (``base_detector/``); ``build_record.json`` lists the evaluations with their SHA-256
   (the only ones the folder claims: :func:`respira.records.sites.recorded_evaluations`), the base's and
   what the card says of the run's ``trainer_state.json``; the generated code is taken out (the shipped
   layout, ``scripts/_build.py``), ``expected_outputs.json`` records what the folder outputs on
   :data:`EXPECTED_RECORDINGS` and the card is rendered again from the folder alone.

The finished folder replaces ``src/respira/pretrained/icbhi-crackle-wheeze`` only when every step
succeeded; a failure leaves the committed detector as it was. ``build_record.json`` records the inputs
(the recipe's, the encoder weights' and the study's SHA-256, the options, the library versions); a test
runs the committed folder on the recordings of ``expected_outputs.json`` and fails when its outputs
change, the one case that calls for a rebuild (``tests/test_shipped_outputs.py``).

``--from_step3 FOLDER`` starts from a folder of step 3's detector as shipped before (its weights, run
record, recorded cross-validation and build record), skipping steps 1-3: for checking the later steps
without the hours of training; ``make detector`` runs every step.

Which recipe and head are shipped, and why, is the results history's "The shipped detector, issue 83"
(docs/history/sites.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _build.py, shared with build_site_detectors.py
from _build import (
    drop_fit_timings,
    drop_speed_metrics,
    install,
    last_line,
    run_respira,
    sha256,
    shipped_layout,
    trainer_state_facts,
    write_build_record,
    write_expected_outputs,
)

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "efficientat_frozen_multilabel.yaml"
TARGET = ROOT / "src" / "respira" / "pretrained" / "icbhi-crackle-wheeze"
ENCODER_WEIGHTS = "reference/efficientat_mn04_as_mAP_432.pt"
FINAL_SPLIT = "0.8,0.2,0"
"""Every ICBHI patient of the sample learns: 80 % train, 20 % validation, no test split."""
CV_FOLDS, CV_SEEDS = 5, "0"
STUDY = ROOT / "benchmarks" / "results" / "choose_detector.json"
"""The leave-one-site-out study that chose the shipped head (docs/history/sites.md)."""
STUDY_CANDIDATE, HELD_OUT = "probe@65", ("kauh", "sprsound")
"""The study's name of what this build ships, and the sites it held out."""
FIT_OPTIONS = ("--candidates", "site_head", "--seed", "0")
"""fit-site's procedure the study chose: the site head on the frozen encoder, on both labels."""
BASE_FOLDER = "base_detector"
"""Where the shipped folder keeps the evaluations of step 3's base detector and the recipe's CV."""
BASE_FILES = ("evaluation_cross_validation/metrics.json",)
RUN_FILES = ("respira_run.json",)
EXPECTED_RECORDINGS = (
    "icbhi/ICBHI_final_database/101_1b1_Al_sc_Meditron.wav",  # 44.1 kHz, 24-bit
    "icbhi/ICBHI_final_database/104_1b1_Al_sc_Litt3200.wav",  # 4 kHz
    "icbhi/ICBHI_final_database/223_1b1_Al_sc_Meditron.wav",  # 10 kHz
)
"""The real recordings of ``../shared`` whose outputs ``expected_outputs.json`` records."""


def check_shared(shared: Path) -> None:
    """One line naming what is missing, before any work."""
    needed = {
        "icbhi": shared / "icbhi" / "ICBHI_final_database",
        "icbhi_cycles": shared / "icbhi_cycles" / "ICBHI_final_database",
        "kauh": shared / "kauh",
        "sprsound": shared / "sprsound" / "train_wav",
        "encoder weights": shared / ENCODER_WEIGHTS,
    }
    needed |= {name: shared / name for name in EXPECTED_RECORDINGS}
    missing = [f"{what} ({path})" for what, path in needed.items() if not path.exists()]
    if missing:
        raise SystemExit(f"build_detector: missing in {shared}: {', '.join(missing)}")


def respira(*args: str, work: Path, log: Path, done_when: str | None = None, resume: bool = False) -> None:
    """Run ``python -m respira ARGS`` in ``work`` (:func:`_build.run_respira`: one thread, offline); its
    output goes to ``log``.

    ``resume``: skip the step when its output ``done_when`` (relative to ``work``) exists already.
    """
    if resume and done_when is not None and (work / done_when).exists():
        print(f"== respira {' '.join(args)}: done already ({done_when})", flush=True)
        return
    code = run_respira(list(args), cwd=work, work=work, log=log)
    if code != 0:
        raise SystemExit(
            f"build_detector: respira {args[0]} failed (exit {code}): {last_line(log)}; see {log}"
        )


def render_card(folder: Path) -> None:
    """The card rendered from the folder's own files (what a test renders again to compare)."""
    from respira.hub.card_render import render_folder_card

    render_folder_card(folder)


def build(shared: Path, work: Path, *, resume: bool = False, from_step3: Path | None = None) -> Path:
    check_shared(shared)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    if not resume:
        log.write_text("", encoding="utf-8")
        for name in ("checkpoints", "cv", "run", "fitted", "export"):
            shutil.rmtree(work / name, ignore_errors=True)
    if from_step3 is not None and not (resume and (work / "cv" / "metrics.json").is_file()):
        seed_step3(from_step3, work)
    rel = os.path.relpath
    kauh, sprsound = (rel(shared / name, work) for name in ("kauh", "sprsound"))
    step = {"work": work, "log": log, "resume": resume or from_step3 is not None}
    if from_step3 is None:
        train_steps(shared, work, step)
    link = work / "shared"  # fit-site's record names its folders as shared/<folder>, wherever the work is
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(shared, target_is_directory=True)
    for model in ("run", "fitted"):
        if model == "fitted":
            folders = ("shared/icbhi", "shared/icbhi_cycles")
            fit = ("fit-site", "run", "--dataset", "icbhi", "--data_dir", *folders, *FIT_OPTIONS)
            respira(*fit, "--chosen_by", rel(STUDY, work), "--output_dir", "fitted", **step,
                    done_when="fitted/site_fit.json")  # fmt: skip
        for corpus, folder, extra in (("kauh", kauh, ()), ("sprsound", sprsound, ("--split", "all"))):
            respira("evaluate", model, "--dataset", corpus, "--data_dir", folder, *extra, "--record",
                    done_when=f"{model}/evaluation_{corpus}/metrics.json", **step)  # fmt: skip
    return assemble(shared, work)


def train_steps(shared: Path, work: Path, step: dict) -> None:
    """Steps 1-3: the encoder converted, the recipe cross-validated and trained (the base detector)."""
    rel = os.path.relpath
    icbhi, recipe = rel(shared / "icbhi", work), rel(RECIPE, work)
    respira(
        "convert",
        "efficientat",
        rel(shared / ENCODER_WEIGHTS, work),
        "checkpoints/efficientat_mn04",
        "--width",
        "0.4",
        done_when="checkpoints/efficientat_mn04/model.safetensors",
        **step,
    )
    cv_options = ["--split_strategy", "patient_kfold", "--num_folds", str(CV_FOLDS), "--seeds", CV_SEEDS]
    respira("train", recipe, "--data_dir", icbhi, *cv_options, "--output_dir", "cv",
            done_when="cv/metrics.json", **step)  # fmt: skip
    final_options = ["--patient_split_fractions", FINAL_SPLIT]
    respira("train", recipe, "--data_dir", icbhi, *final_options, "--output_dir", "run",
            done_when="run/respira_run.json", **step)  # fmt: skip


def seed_step3(folder: Path, work: Path) -> None:
    """The work folder's ``run`` and ``cv`` from a shipped folder of step 3's detector (``--from_step3``)."""
    from respira.hub.loading import check_model_folder

    check_model_folder(folder, weights=())
    record = json.loads((folder / "build_record.json").read_text(encoding="utf-8"))
    for name in ("run", "cv"):
        shutil.rmtree(work / name, ignore_errors=True)
    (work / "cv").mkdir(parents=True)
    shutil.copyfile(folder / BASE_FILES[0], work / "cv" / "metrics.json")
    built = ("evaluation_*", "README.md", "build_record.json", "expected_outputs.json", "checksums.sha256")
    shutil.copytree(folder, work / "run", ignore=shutil.ignore_patterns(*built))
    state = json.dumps(record["trainer_state"], indent=2, sort_keys=True)
    (work / "run" / "trainer_state.json").write_text(state + "\n", encoding="utf-8")


def copy_evaluations(source: Path, target: Path) -> None:
    """``source``'s ``evaluation_*/**/metrics.json`` into ``target`` (JSON only: no plots)."""
    for evaluation in sorted(source.glob("evaluation_*/**/metrics.json")):
        copy = target / evaluation.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(evaluation, copy)


def assemble(shared: Path, work: Path) -> Path:
    """Step 7: the shipped folder in ``work/export`` (see the module docstring)."""
    from respira.records.sites import evaluation_digests  # the evaluations the folder claims, by SHA-256

    export = work / "export" / TARGET.name  # the card names the folder's code by its shipped name
    shutil.rmtree(export.parent, ignore_errors=True)
    shutil.copytree(work / "fitted", export, ignore=shutil.ignore_patterns("evaluation_*", ".respira-*"))
    drop_fit_timings(export)
    for name in RUN_FILES:
        shutil.copyfile(work / "run" / name, export / name)
    copy_evaluations(work / "fitted", export)
    base = export / BASE_FOLDER
    copy_evaluations(work / "run", base)
    (base / "evaluation_cross_validation").mkdir()
    shutil.copyfile(work / "cv" / "metrics.json", base / "evaluation_cross_validation" / "metrics.json")
    drop_speed_metrics(base / "evaluation_cross_validation" / "metrics.json")
    record = {
        "command": "make detector",
        "recipe": RECIPE.relative_to(ROOT).as_posix(),
        "recipe_sha256": sha256(RECIPE),
        "encoder_weights": ENCODER_WEIGHTS,
        "encoder_weights_sha256": sha256(shared / ENCODER_WEIGHTS),
        "final_split": FINAL_SPLIT,
        "cross_validation": {"num_folds": CV_FOLDS, "seeds": [int(s) for s in CV_SEEDS.split(",")]},
        "head": {"fit_site": list(FIT_OPTIONS), "data": ["icbhi", "icbhi_cycles"]},
        "chosen_by": study_record(),
        "threads": 1,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "libraries": _versions(),
        "evaluations": evaluation_digests(export),
        "base_detector": {
            "weights_sha256": sha256(work / "run" / "model.safetensors"),
            "evaluations": {p.relative_to(base).as_posix(): sha256(p) for p in sorted(base.rglob("*.json"))},
        },
        "trainer_state": trainer_state_facts(work / "run" / "trainer_state.json"),
    }
    write_build_record(export, record)
    shipped_layout(export)
    write_expected_outputs(export, shared, EXPECTED_RECORDINGS)
    render_card(export)
    return export


def study_record() -> dict:
    """What the build record says of :data:`STUDY`: its file, SHA-256, the candidate it chose and that
    candidate's paired gains over the detector it replaces on each held-out site (seed means)."""
    study = json.loads(STUDY.read_text(encoding="utf-8"))
    gains = {
        site: study[site]["pairs"][f"{STUDY_CANDIDATE} - {study[site]['reference']}"] for site in HELD_OUT
    }
    return {
        "study": STUDY.relative_to(ROOT).as_posix(),
        "sha256": sha256(STUDY),
        "candidate": STUDY_CANDIDATE,
        "paired_gains": gains,
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "transformers", "datasets", "numpy", "onnxruntime")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the ../shared folder")
    parser.add_argument("--work", type=Path, default=ROOT / ".detector_build", help="work folder (kept)")
    parser.add_argument("--target", type=Path, default=TARGET, help="where the detector folder goes")
    parser.add_argument(
        "--resume", action="store_true", help="reuse the steps whose outputs the work folder already holds"
    )
    parser.add_argument(
        "--from_step3", type=Path, help="a folder of step 3's detector as shipped before: skip steps 1-3"
    )
    args = parser.parse_args(argv)
    step3 = None if args.from_step3 is None else args.from_step3.resolve()
    export = build(args.shared.resolve(), args.work.resolve(), resume=args.resume, from_step3=step3)
    install(export, args.target)
    print(f"wrote {args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

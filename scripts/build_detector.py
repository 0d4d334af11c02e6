"""Rebuild respira's shipped detector from the real recordings in ``../shared`` (``make detector``).

What it runs, each step through respira's own command line as a user would (one thread, offline):

1. ``respira convert efficientat`` of the AudioSet-pretrained mn04 weights (MIT licence) into
   ``checkpoints/efficientat_mn04`` of the work folder (the path the recipe names);
2. ``respira train RECIPE --split_strategy patient_kfold`` (5 folds, seed 0): the recipe's numbers on
   new patients of ICBHI, with their intervals over the folds (in domain);
3. ``respira train RECIPE`` on every ICBHI patient of the sample (80 % train, 20 % validation for early
   stopping and the thresholds' cross-fitting pool, no test split): the detector's weights;
4. ``respira evaluate --record`` of those weights on every KAUH recording and every SPRSound event and
   recording, sites it never heard (held out);
5. ``respira export --with_code --onnx`` of the weights, then the run record, the evaluations and the
   cross-validation are copied in beside them, ``build_record.json`` lists those evaluations with their
   SHA-256 (the only ones the folder claims: :func:`respira.pretrained.recorded_evaluations`) and what the
   card says of the run's ``trainer_state.json``, the generated code and ``trainer_state.json`` are taken
   out (the shipped layout, ``scripts/_build.py``: ``respira export`` and ``respira push`` of the folder
   write the code again), ``expected_outputs.json`` records what the folder outputs on
   :data:`EXPECTED_RECORDINGS` and the card is rendered again from the folder alone.

The finished folder replaces ``src/respira/pretrained/icbhi-crackle-wheeze`` only when every step
succeeded; a failure leaves the committed detector as it was. ``build_record.json`` records the inputs
(the recipe's and the encoder weights' SHA-256, the options, the library versions); a test runs the
committed folder on the recordings of ``expected_outputs.json`` and fails when its outputs change, the
one case that calls for a rebuild (``tests/test_shipped_outputs.py``).

Which recipe is shipped, and why, is the results history's "The shipped detector"
(docs/history/sites.md; the rule was written down before the comparison).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _build.py, shared with build_site_detectors.py
from _build import (
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


def build(shared: Path, work: Path, *, resume: bool = False) -> Path:
    from respira.records.sites import evaluation_digests  # the evaluations the folder claims, by SHA-256

    check_shared(shared)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    if not resume:
        log.write_text("", encoding="utf-8")
        for name in ("checkpoints", "cv", "run", "export"):
            shutil.rmtree(work / name, ignore_errors=True)
    rel = os.path.relpath
    icbhi, kauh, sprsound = (rel(shared / name, work) for name in ("icbhi", "kauh", "sprsound"))
    recipe = rel(RECIPE, work)
    step = {"work": work, "log": log, "resume": resume}

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
    respira(
        "train",
        recipe,
        "--data_dir",
        icbhi,
        *cv_options,
        "--output_dir",
        "cv",
        done_when="cv/metrics.json",
        **step,
    )
    final_options = ["--patient_split_fractions", FINAL_SPLIT]
    respira(
        "train",
        recipe,
        "--data_dir",
        icbhi,
        *final_options,
        "--output_dir",
        "run",
        done_when="run/respira_run.json",
        **step,
    )
    respira(
        "evaluate",
        "run",
        "--dataset",
        "kauh",
        "--data_dir",
        kauh,
        "--record",
        done_when="run/evaluation_kauh/metrics.json",
        **step,
    )
    respira(
        "evaluate",
        "run",
        "--dataset",
        "sprsound",
        "--data_dir",
        sprsound,
        "--split",
        "all",
        "--record",
        done_when="run/evaluation_sprsound/metrics.json",
        **step,
    )
    shutil.rmtree(work / "export", ignore_errors=True)
    respira("export", "run", "export", "--with_code", "--onnx", **step)

    export = work / "export"
    for name in RUN_FILES:
        shutil.copyfile(work / "run" / name, export / name)
    for evaluation in sorted((work / "run").glob("evaluation_*/**/metrics.json")):  # JSON only: no plots
        copy = export / evaluation.relative_to(work / "run")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(evaluation, copy)
    (export / "evaluation_cross_validation").mkdir()
    shutil.copyfile(work / "cv" / "metrics.json", export / "evaluation_cross_validation" / "metrics.json")
    record = {
        "command": "make detector",
        "recipe": RECIPE.relative_to(ROOT).as_posix(),
        "recipe_sha256": sha256(RECIPE),
        "encoder_weights": ENCODER_WEIGHTS,
        "encoder_weights_sha256": sha256(shared / ENCODER_WEIGHTS),
        "final_split": FINAL_SPLIT,
        "cross_validation": {"num_folds": CV_FOLDS, "seeds": [int(s) for s in CV_SEEDS.split(",")]},
        "threads": 1,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "libraries": _versions(),
        "evaluations": evaluation_digests(export),
        "trainer_state": trainer_state_facts(work / "run" / "trainer_state.json"),
    }
    write_build_record(export, record)
    shipped_layout(export)
    write_expected_outputs(export, shared, EXPECTED_RECORDINGS)
    render_card(export)
    return export


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
    args = parser.parse_args(argv)
    export = build(args.shared.resolve(), args.work.resolve(), resume=args.resume)
    install(export, args.target)
    print(f"wrote {args.target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The flagship recipe's cost: cross-fitted thresholds against validation thresholds, one run.

    python benchmarks/cross_fit_cost.py [--shared ../shared] [--epochs 20] [--seed 0] [--work DIR]
        [--old_ref COMMIT] [--rounds 1]

``recipes/efficientat_frozen_multilabel.yaml`` (frozen EfficientAT mn04 converted from
``../shared/reference``, augmented cache with K = 2 views, same-label concatenation of wheeze/both
cycles, patient-wise 60/20/20 split) trained with ``respira train`` on the real cycles of
``../shared/icbhi``, one seed, ``--epochs`` head epochs (the recipe has 100, with early stopping), in
these arms, one after the other, ``--rounds`` times (the arms interleaved round by round, so that a
load that changes during the run weighs on every arm):

* ``validation``: ``--threshold_source validation`` (the baseline of the goal: cross-fit ≤ 1.5× it);
* ``cross_fit``: the recipe as it is (``threshold_source: cross_fit``, 5 group models sharing the
  seed's embeddings through :class:`respira.training.embedding_cache.ViewStore`);
* ``cross_fit_old`` (with ``--old_ref``): the same recipe run by the source tree of that commit (the
  code before the sharing: every group model embeds its own training part), to compare its
  thresholds and out-of-fold score with the shared one and its time.

The dataset is built once before the arms (not timed). Each arm's wall time is that of the whole
``respira train`` process; its thresholds, out-of-fold score and test score are read from the run.
The table gives each arm's median time over the rounds and the median of its per-round ratio to the
validation arm; with ``--old_ref`` the script checks that the old code chose the very same thresholds
and scores, and kept a model with the very same weights, as this code (exit status 1 if not).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import torch

from _machine import cpu_name, load_average

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "efficientat_frozen_multilabel.yaml"
CHECKPOINT = "reference/efficientat_mn04_as_mAP_432.pt"


def respira(source: Path, *arguments: str) -> None:
    """``python -m respira ARGUMENTS`` with ``source`` first on the path; exit on failure."""
    environment = {**os.environ, "PYTHONPATH": str(source), "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "respira", *arguments]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def old_source(ref: str, work: Path) -> Path:
    """``src/`` of commit ``ref``, extracted under ``work``."""
    folder = work / f"src_{ref}"
    if not folder.is_dir():
        archive = subprocess.run(["git", "archive", ref, "src"], cwd=ROOT, check=True, capture_output=True)
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(work / f"tree_{ref}", filter="data")
        (work / f"tree_{ref}" / "src").rename(folder)
    return folder


def pool_facts(shared: Path, overrides: list[str], cache: Path) -> str:
    """Build the recipe's dataset once (the arms reuse the cache); its sizes and concatenation share."""
    from respira.data.run_splits import load_splits
    from respira.models.respira.labels import CLASS_NAMES
    from respira.training.data import data_record
    from respira.training.recipe import parse_recipe
    from respira.training.training_args import model_sampling_rate

    model_args, data_args, _, args = parse_recipe(str(RECIPE), overrides)
    splits = load_splits(data_record(data_args, model_sampling_rate(model_args)), cache_dir=cache)
    classes = [CLASS_NAMES.index(name.strip()) for name in args.concat_classes.split(",")]
    pool = np.concatenate([np.asarray(splits[name]["label"]) for name in ("train", "validation")])
    eligible = int(np.isin(pool, classes).sum())
    sizes = ", ".join(f"{name} {len(split)}" for name, split in splits.items())
    return f"cycles: {sizes}; pool {len(pool)}, of which {eligible} may concatenate ({args.concat_classes})"


def arm(name: str, source: Path, common: list[str], extra: list[str], work: Path) -> dict:
    output = work / "runs" / name
    load = load_average()
    started = time.perf_counter()
    respira(source, "train", str(RECIPE), *common, *extra, "--output_dir", str(output), "--overwrite", "true")
    seconds = time.perf_counter() - started
    record = json.loads((output / "respira_run.json").read_text())
    weights = hashlib.sha1((output / "model.safetensors").read_bytes()).hexdigest()
    metrics = json.loads((output / "metrics.json").read_text())
    validation = record["metrics"]["per_seed"][0]["validation"]
    return {
        "arm": name,
        "seconds": seconds,
        "load_before": load,
        "thresholds": record["thresholds"],
        "cross_fit_icbhi_score": validation.get("cross_fit_icbhi_score"),
        "cross_fit_epochs": validation.get("cross_fit_epochs"),
        "validation_icbhi_score": validation.get("icbhi_score"),
        "test_icbhi_score": metrics.get("test_icbhi_score"),
        "model_sha1": weights,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", help="keep runs here (default: a temp folder)")
    parser.add_argument("--old_ref", help="also run the cross-fit with the source tree of this commit")
    parser.add_argument("--rounds", type=int, default=1, help="run every arm this many times, interleaved")
    args = parser.parse_args()
    shared = Path(args.shared)
    for needed in ("icbhi", CHECKPOINT):
        if not (shared / needed).exists():
            sys.exit(f"{shared / needed} is missing: this benchmark needs the real files of ../shared")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="respira_cross_fit_cost_"))
    work.mkdir(parents=True, exist_ok=True)
    source = ROOT / "src"
    encoder, cache = work / "efficientat_mn04", work / "dataset_cache"
    if not (encoder / "config.json").is_file():
        respira(source, "convert", "efficientat", str(shared / CHECKPOINT), str(encoder))
    overrides = ["--encoder_name_or_path", str(encoder), "--data_dir", str(shared / "icbhi")]
    common = [
        *overrides, "--num_train_epochs", str(args.epochs), "--seed", str(args.seed),
        "--dataset_cache_dir", str(cache), "--logging_steps", "50",
    ]  # fmt: skip
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(pool_facts(shared, overrides, cache))
    arms = [
        ("validation", source, ["--threshold_source", "validation"]),
        ("cross_fit", source, []),
    ]
    if args.old_ref:
        arms.append((f"cross_fit_old ({args.old_ref})", old_source(args.old_ref, work), []))
    results: list[dict] = []
    for round_index in range(args.rounds):
        for name, tree, extra in arms:
            print(f"== round {round_index + 1}: {name} (load {load_average()})", flush=True)
            results.append({**arm(name, tree, common, extra, work), "round": round_index + 1})
            print(json.dumps(results[-1]), flush=True)
    print(f"load at the end: {load_average()}")
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(summary_table(results, [name for name, _, _ in arms]))
    if args.old_ref and not same_decisions(results):
        sys.exit("the old code's thresholds or scores differ from this code's")


DECISION_KEYS = ("thresholds", "cross_fit_icbhi_score", "test_icbhi_score", "model_sha1")


def same_decisions(results: list[dict]) -> bool:
    """Whether every cross-fitted run (this code's and the old code's, every round) chose the same
    thresholds, got the same out-of-fold and test scores and kept the same model (its weights' SHA-1)."""
    decided = {json.dumps([r[k] for k in DECISION_KEYS]) for r in results if r["arm"].startswith("cross_fit")}
    print(f"cross-fitted runs with identical thresholds and scores: {'yes' if len(decided) == 1 else 'NO'}")
    return len(decided) == 1


def summary_table(results: list[dict], names: list[str]) -> str:
    """Per arm: median wall time, median per-round ratio to the validation arm, thresholds and scores."""
    base = {r["round"]: r["seconds"] for r in results if r["arm"] == names[0]}
    lines = [
        "| arm | wall time per round (s) | median (s) | × validation (median of rounds) | "
        "thresholds (crackle, wheeze) | out-of-fold | test |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for name in names:
        runs = [r for r in results if r["arm"] == name]
        seconds = [r["seconds"] for r in runs]
        ratio = float(np.median([r["seconds"] / base[r["round"]] for r in runs]))
        last, oof = runs[-1], runs[-1]["cross_fit_icbhi_score"]
        lines.append(
            f"| {name} | {', '.join(f'{t:.0f}' for t in seconds)} | {np.median(seconds):.0f} | {ratio:.2f} | "
            f"{', '.join(f'{t:.4f}' for t in last['thresholds'])} | "
            f"{'–' if oof is None else f'{oof:.4f}'} | {last['test_icbhi_score']:.4f} |"
        )
    return "\n" + "\n".join(lines)


if __name__ == "__main__":
    main()

"""Sanity table: the small CNN with cross-entropy, + a contrastive loss and + ADD, over seeds.

    python studies/sanity_table.py [--shared ../shared/icbhi] [--epochs 10] [--seeds 0,1,2]

A sanity check that the training stack learns and that the auxiliary losses plug in — NOT a claim
about full ICBHI (tiny data, a few epochs, no tuning). Corpora:

* ``synthetic``: ``make_synthetic_icbhi(n_patients=12, seed=0)``, official split with a quarter of
  the training patients carved out for validation; cycles brought to 3 s.
* ``real``: the recordings sample in ``../shared/icbhi`` (its size is counted; skipped when absent), cycles
  brought to 4 s (``--real_seconds``; 5.12 s, the paper's CNN input, costs 28 % more compute). First
  choice: a patient-wise 60/20/20 split stratified by chest location; when that cannot keep every
  class in every part (``SplitError``) the official split is used with a patient-disjoint validation
  share (0.2) carved from its training part. The split used is printed.

Every run is parsed by ``respira.training.recipe.parse_recipe`` and trained by the pieces of
``respira.training.run.run_training``: ``build_datasets`` (once per corpus), then ``run_seed`` per
seed and ``summarize_seeds`` (run_training minus writing the selected model, plots, the test report
and the model card, which a benchmark does not need): the CNN with
channels [16, 32, 64, 128], projector 32, batch 16, AdamW lr 1e-3 with a cosine schedule, ±6 dB gain
augmentation, ``--epochs`` epochs, evaluation every epoch and the checkpoint with the best validation
ICBHI score kept (``load_best_model_at_end``); the test split is scored once with that model.
Methods: cross-entropy; + λ·SupCon (τ = 0.1; or ``--contrastive contrastive_tuple`` with its
``[anchors, positives]`` batch sampler, 4 negatives); + λ·ADD; λ = ``--aux_weight``. The table gives
test ICBHI score, specificity and sensitivity (%) as mean ± sample std over seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import datasets
import transformers

from _machine import cpu_name, load_average
from respira.data import load_icbhi
from respira.data.errors import SplitError
from respira.synthetic import make_synthetic_icbhi
from respira.training.recipe.recipe import parse_recipe, parse_seeds
from respira.training.run.seeds import run_seed, summarize_seeds
from respira.training.splits.datasets import build_datasets

COMMON: dict[str, Any] = {
    "encoder": "cnn",
    "encoder_config": json.dumps({"channels": [16, 32, 64, 128]}),
    "projector_dim": 32,
    "head_dropout": 0.1,
    "augmentation": json.dumps({"gain": {"db": [-6, 6]}}),
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 64,
    "learning_rate": 1e-3,
    "lr_scheduler_type": "cosine",
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "load_best_model_at_end": True,
    "logging_steps": 10,
    "report_to": "none",
    "use_cpu": True,
    "disable_tqdm": True,
    "overwrite": True,
}


def methods(contrastive: str, weight: float) -> dict[str, dict[str, Any]]:
    if contrastive == "supcon":
        contrastive_options = {"aux_loss": "supcon", "aux_loss_options": json.dumps({"temperature": 0.1})}
        contrastive_name = "CE + λ·SupCon (τ 0.1)"
    else:
        contrastive_options = {
            "aux_loss": "contrastive_tuple",
            "aux_loss_options": json.dumps({"num_negatives": 4}),
            "batch_sampler": "contrastive_tuple",
        }
        contrastive_name = "CE + λ·contrastive-tuple (N 4, tuple sampler)"
    return {
        "CE": {},
        contrastive_name: {**contrastive_options, "aux_loss_weight": weight},
        "CE + λ·ADD": {"aux_loss": "add", "aux_loss_weight": weight},
    }


def real_split(data_dir: Path, cache: Path) -> tuple[dict[str, Any], str]:
    """Data options for the real sample: patient-wise 60/20/20 if every class fits, else the fallback."""
    patient = {"split_strategy": "patient", "patient_split_fractions": "0.6,0.2,0.2"}
    patient["stratify_by"] = "chest_location"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_icbhi(
                data_dir,
                split_strategy="patient",
                patient_split_fractions=(0.6, 0.2, 0.2),
                stratify_by="chest_location",
                cache_dir=cache,
            )
        return patient, "patient-wise 60/20/20, stratified by chest location"
    except SplitError as error:
        reason = str(error).split(";")[0]
        return (
            {"split_strategy": "official", "validation_size": 0.2},
            "official split, validation = 0.2 of the training patients "
            f"(patient-wise 60/20/20 failed: {reason})",
        )


def describe(data_dir: Path, data: dict[str, Any], cache: Path) -> str:
    from collections import Counter

    options = {k: v for k, v in data.items() if k in ("split_strategy", "stratify_by", "validation_size")}
    if "patient_split_fractions" in data:
        fractions = data["patient_split_fractions"].split(",")
        options["patient_split_fractions"] = tuple(float(f) for f in fractions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = load_icbhi(data_dir, cache_dir=cache, **options)
    parts = []
    for name, split in splits.items():
        counts = Counter(split["label"])
        classes = "/".join(str(counts.get(i, 0)) for i in range(4))
        patients = len(set(split["patient_id"]))
        parts.append(f"{name} {len(split)} cycles, {patients} patients (N/C/W/B {classes})")
    return "; ".join(parts)


def train(
    data_dir: Path, data: dict[str, Any], method: dict[str, Any], target: float, args, folder: Path
) -> tuple[dict[str, Any], list[float], float]:
    """Train every seed; return the seeds' summary, their validation scores and the wall time."""
    options = {
        **COMMON,
        **data,
        **method,
        "data_dir": str(data_dir),
        "target_seconds": target,
        "num_train_epochs": args.epochs,
        "seeds": args.seeds,
        "output_dir": str(folder),
        "dataset_cache_dir": str(folder.parent / "cache"),
    }
    started = time.perf_counter()
    log = io.StringIO()
    per_seed: dict[int, dict[str, float]] = {}
    validation: list[float] = []
    with contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_args, data_args, run_args, training_args = parse_recipe(None, [], **options)
        splits = build_datasets(data_args)
        for seed in parse_seeds(run_args.seeds, training_args.seed):
            outcome = run_seed(
                model_args, data_args, run_args, training_args, splits, seed, folder / f"seed_{seed}"
            )
            per_seed[seed] = outcome.test
            validation.append(outcome.validation_score)
    (folder / "log.txt").write_text(log.getvalue())
    return summarize_seeds(per_seed), validation, time.perf_counter() - started


def mean_std(values: list[float]) -> str:
    values = [100 * v for v in values if isinstance(v, float) and not math.isnan(v)]
    if not values:
        return "–"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {spread:.1f}"


def cell(summary: dict[str, Any], key: str) -> str:
    return mean_std([m.get(f"test_{key}") for m in summary["per_seed"].values()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_shared = Path(__file__).resolve().parents[2] / "shared" / "icbhi"
    parser.add_argument("--shared", type=Path, default=default_shared, help="real ICBHI sample folder")
    parser.add_argument("--corpora", default="synthetic,real", help="synthetic, real or both")
    parser.add_argument("--methods", default="all", help="'all' or comma-separated indices 0,1,2")
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--contrastive", choices=("supcon", "contrastive_tuple"), default="supcon")
    parser.add_argument("--aux_weight", type=float, default=0.2, help="λ of both auxiliary losses")
    parser.add_argument("--real_seconds", type=float, default=4.0, help="cycle length on the real sample")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folders here")
    args = parser.parse_args()
    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"load average at start (1/5/15 min): {load_average()}")
    print(f"{args.epochs:g} epochs, seeds {args.seeds}, λ = {args.aux_weight:g}")
    chosen = methods(args.contrastive, args.aux_weight)
    if args.methods != "all":
        names = list(chosen)
        chosen = {names[int(i)]: chosen[names[int(i)]] for i in args.methods.split(",")}
    started = time.perf_counter()
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        corpora: list[tuple[str, Path, dict[str, Any], float, str]] = []
        for corpus in args.corpora.split(","):
            cache = root / corpus / "cache"
            if corpus == "synthetic":
                data_dir = make_synthetic_icbhi(
                    root / "synthetic_icbhi", n_patients=12, seed=0, overwrite=True
                )
                data = {"split_strategy": "official", "validation_size": 0.25}
                text = "official split, validation = 0.25 of the training patients"
                corpora.append(("synthetic (12 patients)", data_dir, data, 3.0, text))
            elif corpus == "real":
                if not (args.shared / "ICBHI_final_database").is_dir():
                    print(f"\n(real sample skipped: {args.shared} not found)")
                    continue
                data, text = real_split(args.shared, cache)
                stems = [p.stem for p in (args.shared / "ICBHI_final_database").glob("*.txt")]
                patients = len({stem.split("_")[0] for stem in stems})
                label = f"real sample ({len(stems)} rec., {patients} patients)"
                corpora.append((label, args.shared, data, args.real_seconds, text))
            else:
                parser.error(f"unknown corpus {corpus!r}")
        for label, data_dir, data, target, text in corpora:
            corpus_root = root / label.split()[0]
            print(f"\n## {label}: {text}; cycles → {target:g} s")
            print(describe(data_dir, data, corpus_root / "cache"), flush=True)
            for index, (name, method) in enumerate(chosen.items()):
                folder = corpus_root / f"method_{index}"
                folder.mkdir(parents=True, exist_ok=True)
                summary, validation, seconds = train(data_dir, data, method, target, args, folder)
                row = (
                    f"| {label} | {name} | {cell(summary, 'icbhi_score')} | {cell(summary, 'specificity')} | "
                    f"{cell(summary, 'sensitivity')} | {mean_std(validation)} | {seconds:.0f} |"
                )
                rows.append(row)
                print(f"{row}  (load {load_average()})", flush=True)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average at end: {load_average()}\n")
    print(
        "| corpus | method | test ICBHI score (%) | test Sp (%) | test Se (%) | best val. score (%) "
        "| wall s (all seeds) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

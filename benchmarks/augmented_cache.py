"""Frozen EfficientAT with waveform augmentation: re-encoding every step vs the augmented-embedding cache.

    python benchmarks/augmented_cache.py --data_dir ../shared/icbhi [--epochs 3] [--views 4] \
        [--sweep_views 0,1,2,4] [--sweep_seeds 0,1,2] [--sweep_epochs 40]

Everything comes from ``recipes/efficientat_frozen_multilabel.yaml`` (frozen AudioSet EfficientAT mn04
converted from ``../shared/reference/efficientat_mn04_as_mAP_432.pt``, 32 kHz, 8 s, mean pooling, MLP
head, BCE on crackle/wheeze, gain + time shift + same-label concatenation of wheeze/both cycles, 4 kHz
low-pass, patient-wise 60/20/20 split stratified by chest location, AdamW lr 1e-3, batch 32), on the
real cycles of ``--data_dir``. Both arms train with ``RespiraTrainer`` and the same seed on the same
split; validation is embedded clean once and given to both as embeddings (validation is never
augmented), so only training differs:

* re-encoding: no cache, the frozen encoder runs on the augmented waveforms at every step, for
  ``--epochs`` full epochs (timed: seconds per epoch);
* cache: ``augmented_views: --views`` — the one-time pass (K + 1 views of every training cycle)
  timed separately — then ``--epochs`` epochs on the cached views (timed).

After training, each arm's head is scored on validation at thresholds tuned there (the recipe's
decision rule). Then the K sweep that chose the recipe's ``augmented_views``: the cached views of
the first arm (seed 0) reused as prefixes (K' ≤ K views: the same rows), a head trained for
``--sweep_epochs`` epochs with the recipe's early stopping (patience 10, best validation checkpoint)
for each ``--sweep_seeds`` head seed; mean ± std of the validation and test ICBHI scores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import datasets
import torch
from transformers import PrinterCallback

from _machine import cpu_name, load_average
from respira.data.run_splits import load_splits
from respira.inference.embeddings import compute_embeddings
from respira.models.convert_efficientat import convert_efficientat_checkpoint
from respira.training import RespiraTrainer
from respira.training.data import data_record
from respira.training.recipe import parse_recipe
from respira.training.samplers import VIEW_COLUMN
from respira.training.training_args import build_model, model_sampling_rate
from respira.utils.threads import apply_num_threads

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "efficientat_frozen_multilabel.yaml"
CHECKPOINT = "reference/efficientat_mn04_as_mAP_432.pt"


def trainer_for(model, args, train, validation) -> RespiraTrainer:
    trainer = RespiraTrainer(model, args, train, eval_dataset=validation)
    trainer.remove_callback(PrinterCallback)
    return trainer


def timed_training(trainer: RespiraTrainer, epochs: float) -> float:
    started = time.perf_counter()
    trainer.train()
    return (time.perf_counter() - started) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "icbhi"))
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each arm of the comparison")
    parser.add_argument("--views", type=int, default=2, help="augmented_views of the cache arm")
    parser.add_argument("--sweep_views", default="0,1,2,4", help="empty: no sweep")
    parser.add_argument("--sweep_seeds", default="0,1,2")
    parser.add_argument("--sweep_epochs", type=int, default=40)
    options = parser.parse_args()
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore")
    threads = apply_num_threads()  # as `respira train` does: the cores actually free
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads ({threads.describe()}), python {platform.python_version()}"
    )
    print(f"load average at the start (1/5/15 min): {load_average()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        encoder = convert_efficientat_checkpoint(Path(options.shared) / CHECKPOINT, Path(tmp) / "mn04")
        common = ["--encoder_name_or_path", str(encoder), "--data_dir", options.data_dir]
        common += ["--output_dir", str(Path(tmp) / "run"), "--dataset_cache_dir", str(Path(tmp) / "data")]
        common += ["--disable_tqdm", "true", "--use_cpu", "true", "--logging_steps", "1000000"]
        model_args, data_args, _, recipe_args = parse_recipe(RECIPE, common)
        args = replace(
            recipe_args,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            early_stopping_patience=None,
            num_train_epochs=options.epochs,
        )
        record = data_record(data_args, model_sampling_rate(model_args))
        splits = load_splits(record, cache_dir=data_args.dataset_cache_dir, num_proc=data_args.num_proc)
        sizes = {name: len(part) for name, part in splits.items()}
        print(f"splits (cycles): {sizes}; epochs per arm {options.epochs}", flush=True)

        def fresh_model(seed: int):
            torch.manual_seed(seed)
            return build_model(model_args)

        model = fresh_model(0)
        started = time.perf_counter()
        validation = compute_embeddings(model, splits["validation"], batch_size=32)
        test = compute_embeddings(model, splits["test"], batch_size=32)
        clean_pass = time.perf_counter() - started
        print(f"validation + test embedded once: {clean_pass:.1f} s", flush=True)

        # arm 1: re-encoding at every step
        reencode_args = replace(args, augmented_views=None, cache_embeddings=False)
        trainer = trainer_for(model, reencode_args, splits["train"], validation)
        reencode_epoch = timed_training(trainer, options.epochs)
        reencode_score = trainer.evaluate()["eval_icbhi_score"]
        print(f"re-encoding: {reencode_epoch:.1f} s per epoch; validation {reencode_score:.4f}", flush=True)

        # arm 2: the cache
        model = fresh_model(0)
        cache_args = replace(args, augmented_views=options.views)
        started = time.perf_counter()
        trainer = trainer_for(model, cache_args, splits["train"], validation)
        cache_pass = time.perf_counter() - started
        views = trainer.train_dataset
        cache_epoch = timed_training(trainer, options.epochs)
        cache_score = trainer.evaluate()["eval_icbhi_score"]
        print(
            f"cache: one-time pass {cache_pass:.1f} s ({options.views + 1} views × {sizes['train']} cycles), "
            f"{cache_epoch:.3f} s per epoch; validation {cache_score:.4f}",
            flush=True,
        )
        print(f"load average after the comparison: {load_average()}", flush=True)

        # the K sweep on the same cached views (prefixes), the recipe's early stopping
        sweep_args = replace(recipe_args, save_total_limit=1, num_train_epochs=options.sweep_epochs)
        cycles = sizes["train"]
        sweep: dict[int, list[tuple[float, float, int]]] = {}
        for k in [int(v) for v in options.sweep_views.split(",") if v.strip()]:
            rows = views.select(range((k + 1) * cycles))
            if k == 0:
                rows = rows.remove_columns(VIEW_COLUMN)
            for seed in [int(s) for s in options.sweep_seeds.split(",")]:
                run_args = replace(sweep_args, seed=seed, output_dir=str(Path(tmp) / f"sweep_{k}_{seed}"))
                trainer = trainer_for(fresh_model(seed), run_args, rows, validation)
                trainer.train()
                score = trainer.evaluate()["eval_icbhi_score"]
                tested = trainer.evaluate_test(test).metrics["test_icbhi_score"]
                epochs = round(trainer.state.epoch)
                sweep.setdefault(k, []).append((score, tested, epochs))
                line = f"  K={k} seed {seed}: validation {score:.4f}, test {tested:.4f}, {epochs} epochs"
                print(line, flush=True)
    print(f"load average at the end: {load_average()}\n")

    print("| arm | one-time pass (s) | s per epoch | × faster per epoch | validation ICBHI score |")
    print("|---|---:|---:|---:|---:|")
    print(f"| re-encoding every step | – | {reencode_epoch:.1f} | 1 | {reencode_score:.4f} |")
    print(
        f"| cache, augmented_views {options.views} | {cache_pass:.1f} | {cache_epoch:.3f} | "
        f"{reencode_epoch / cache_epoch:,.0f} | {cache_score:.4f} |"
    )
    for epochs in (options.epochs, 30, 100):
        print(
            f"total for {epochs} epochs: re-encoding {epochs * reencode_epoch:,.0f} s, cache "
            f"{cache_pass + epochs * cache_epoch:,.0f} s"
        )
    print("\n| augmented_views | validation ICBHI (mean ± std) | test ICBHI (mean ± std) | epochs run |")
    print("|---:|---:|---:|---:|")
    for k, results in sweep.items():
        val, tst, eps = zip(*results, strict=True)

        def spread(values):
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.fmean(values):.4f} ± {std:.4f}"

        print(f"| {k} | {spread(val)} | {spread(tst)} | {', '.join(map(str, eps))} |")
    timings = {"reencode_epoch": reencode_epoch, "cache_epoch": cache_epoch, "cache_pass": cache_pass}
    print(json.dumps(timings))


if __name__ == "__main__":
    main()

"""Optimizer-step throughput of ``RespiraTrainer`` against a plain PyTorch training loop, on CPU.

    python benchmarks/trainer_throughput.py [--models cnn,cnn_micro,ast_tiny] [--steps 10] [--rounds 6]

Both sides train the same architecture from the same initial weights on the same batches, with the
same optimizer (AdamW, fused kernel, lr 1e-3 constant, no weight decay), the same gradient clipping
(max norm 1.0, the Trainer's default) and the same loss: the model's cross-entropy + λ·ADD on the
projections (``respira.losses.ADDLoss``, λ = 0.2).

Data loading is excluded from both: ``--batches`` batches of ``--batch_size`` cycles of a small
synthetic corpus are collated once with ``AudioCollator`` and kept in memory. The plain loop indexes
that list; the Trainer gets a tiny ``torch.utils.data.Dataset`` whose items *are* those batches, with
``per_device_train_batch_size=1`` and a collator that unwraps the one-item list (a shallow copy, since
``compute_loss`` pops the labels). Both visit the batches in the same per-epoch random order
(``RandomOrderSampler``'s). The Trainer runs with ``eval_strategy="no"``, ``save_strategy="no"``,
``report_to=[]``, ``disable_tqdm=True`` and ``logging_steps`` larger than the run.

Each round builds a fresh model (same initial state dict) for each side and trains it for
``warmup + steps`` optimizer steps; the rate is ``steps`` divided by the time between the end of step
``warmup`` and the end of the last step (Trainer: an ``on_step_end`` callback; plain loop: the same
clock after ``optimizer.zero_grad``). Rounds are interleaved (ABBA order) so that both sides see the
same background load; the table gives medians over rounds and the median of the per-round ratios.
Also printed: the whole ``train()`` call (construction, dataloader, sampler, the final log) against
the whole plain loop, warm-up included.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import ASTConfig, PrinterCallback, TrainerCallback

from _machine import cpu_name, load_average
from respira.data import load_icbhi
from respira.losses import ADDLoss
from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.respira.encoders import get_encoder_spec
from respira.synthetic import make_synthetic_icbhi
from respira.training import AudioCollator, RespiraTrainer, RespiraTrainingArguments

LEARNING_RATE = 1e-3
MAX_GRAD_NORM = 1.0
ADD_WEIGHT = 0.2
TARGET_SECONDS = 5.12
CNN = get_encoder_spec("cnn").model_type


def model_config(name: str) -> RespiraConfig:
    if name == "cnn":  # the contrastive-embedding paper's CNN, [32, 64, 128, 256] channels, 64 × 320 input
        return RespiraConfig(encoder_config={"model_type": CNN}, target_seconds=TARGET_SECONDS)
    if name == "cnn_micro":  # channels [4, 4, 8, 8]: little compute, so per-step overhead shows
        return RespiraConfig(
            encoder_config={"model_type": CNN, "channels": [4, 4, 8, 8]},
            target_seconds=TARGET_SECONDS,
        )
    if name == "ast_tiny":  # a 4-layer, 192-wide AST on its own 510 frames (patches 16, stride 10)
        encoder = ASTConfig(
            hidden_size=192, num_hidden_layers=4, num_attention_heads=3, intermediate_size=768
        )
        return RespiraConfig(
            encoder_config=encoder.to_dict(), target_seconds=TARGET_SECONDS, ast_length_policy="adapt"
        )
    raise ValueError(f"unknown model {name!r}: cnn, cnn_micro or ast_tiny")


def collated_batches(folder: Path, count: int, batch_size: int) -> list[dict[str, Any]]:
    """``count`` batches of ``batch_size`` synthetic cycles, collated once by ``AudioCollator``."""
    corpus = make_synthetic_icbhi(folder / "icbhi", n_patients=24, seed=0)
    splits = load_icbhi(corpus, cache_dir=folder / "cache")
    cycles = datasets.concatenate_datasets(list(splits.values()))
    order = np.random.default_rng(0).permutation(count * batch_size) % len(cycles)
    collator = AudioCollator(sampling_rate=16000, training=False)
    return [
        collator([cycles[int(i)] for i in order[start : start + batch_size]])
        for start in range(0, count * batch_size, batch_size)
    ]


def batch_order(count: int, steps: int, seed: int) -> list[int]:
    """Batch indices of ``steps`` steps, a fresh permutation per epoch (as ``RandomOrderSampler``)."""
    order: list[int] = []
    epoch = 0
    while len(order) < steps:
        order += np.random.default_rng([seed, epoch]).permutation(count).tolist()
        epoch += 1
    return order[:steps]


class PreCollated(torch.utils.data.Dataset):
    """Items are whole pre-collated batches (use with ``per_device_train_batch_size=1``)."""

    def __init__(self, batches: list[dict[str, Any]]) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.batches[index]


class Unwrap:
    """Collator for :class:`PreCollated`: the one batch of the one-item list, shallow-copied."""

    epoch = 0  # set by RespiraTrainer's epoch callback; unused

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        (batch,) = features
        return {**batch, "metadata": dict(batch["metadata"])}


class StepClock(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())


def fresh_model(config: RespiraConfig, state: dict[str, torch.Tensor]) -> RespiraForAudioClassification:
    model = RespiraForAudioClassification(config)
    model.load_state_dict(state)
    return model.train()


def trainer_run(
    config, state, batches, warmup: int, steps: int, folder: Path, seed: int
) -> tuple[float, float]:
    """(steps/s after warm-up, seconds of the whole construction + ``train()``)."""
    started = time.perf_counter()
    args = RespiraTrainingArguments(
        output_dir=str(folder),
        max_steps=warmup + steps,
        per_device_train_batch_size=1,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type="constant",
        optim="adamw_torch_fused",
        weight_decay=0.0,
        max_grad_norm=MAX_GRAD_NORM,
        aux_loss="add",
        aux_loss_weight=ADD_WEIGHT,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=10**9,
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        dataloader_num_workers=0,
        seed=seed,
    )
    clock = StepClock()
    trainer = RespiraTrainer(
        fresh_model(config, state),
        args,
        train_dataset=PreCollated(batches),
        data_collator=Unwrap(),
        callbacks=[clock],
    )
    trainer.remove_callback(PrinterCallback)  # the end-of-training summary line; nothing is logged before
    trainer.train()
    total = time.perf_counter() - started
    times = clock.times
    assert len(times) == warmup + steps, len(times)
    return steps / (times[-1] - times[warmup - 1]), total


def plain_run(config, state, batches, warmup: int, steps: int, seed: int) -> tuple[float, float]:
    """The same training with a hand-written loop: (steps/s after warm-up, seconds in all)."""
    started = time.perf_counter()
    model = fresh_model(config, state)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=LEARNING_RATE, weight_decay=0.0, fused=True)
    add = ADDLoss()
    times = []
    for index in batch_order(len(batches), warmup + steps, seed):
        batch = batches[index]
        labels = batch["labels"]
        outputs = model(input_values=batch["input_values"], attention_mask=batch["attention_mask"])
        loss = model.compute_loss(outputs.logits, labels)
        loss = loss + ADD_WEIGHT * add(outputs.projections, labels, **batch["metadata"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter())
    total = time.perf_counter() - started
    return steps / (times[-1] - times[warmup - 1]), total


def interleaved(
    cases: dict[str, Callable[[], tuple[float, float]]], rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """Each case once per round, the order reversed every other round (ABBA)."""
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    names = list(cases)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            gc.collect()
            time.sleep(0.5)
            results[name].append(cases[name]())
        rates = "  ".join(f"{name} {results[name][-1][0]:.3f} steps/s" for name in names)
        print(f"  round {round_index + 1}/{rounds}: {rates}  (load {load_average()})", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="cnn", help="comma-separated: cnn, cnn_micro, ast_tiny")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=8, help="distinct pre-collated batches held in memory")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed optimizer steps before them")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (the clock starts at the end of a step)")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        batches = collated_batches(folder, args.batches, args.batch_size)
        seconds = batches[0]["input_values"].shape[1] / 16000
        print(
            f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, python {platform.python_version()}"
        )
        print(f"load average before timing (1/5/15 min): {load_average()}")
        print(
            f"data: {args.batches} pre-collated batches of {args.batch_size} synthetic cycles (first batch "
            f"padded to {seconds:.2f} s; the model brings every cycle to {TARGET_SECONDS} s)"
        )
        print(
            f"each round: {args.warmup} warm-up + {args.steps} timed optimizer steps per side, "
            f"{args.rounds} interleaved rounds\n"
        )
        rows = []
        for name in args.models.split(","):
            config = model_config(name.strip())
            torch.manual_seed(args.seed)
            state = {k: v.clone() for k, v in RespiraForAudioClassification(config).state_dict().items()}
            parameters = sum(p.numel() for p in RespiraForAudioClassification(config).parameters())
            print(f"{name}: {parameters:,} parameters", flush=True)
            cases = {
                "plain": lambda config=config, state=state: plain_run(
                    config, state, batches, args.warmup, args.steps, args.seed
                ),
                "trainer": lambda config=config, state=state: trainer_run(
                    config, state, batches, args.warmup, args.steps, folder / "trainer", args.seed
                ),
            }
            results = interleaved(cases, args.rounds)
            plain_rate = statistics.median(r for r, _ in results["plain"])
            trainer_rate = statistics.median(r for r, _ in results["trainer"])
            ratios = [t[0] / p[0] for t, p in zip(results["trainer"], results["plain"], strict=True)]
            totals = [t[1] / p[1] for t, p in zip(results["trainer"], results["plain"], strict=True)]
            rows.append((name, plain_rate, trainer_rate, ratios, totals, results))

        print(f"\nload average after timing (1/5/15 min): {load_average()}\n")
        print(
            "| model | plain loop steps/s | RespiraTrainer steps/s | Trainer / plain (median of rounds) "
            "| range over rounds | Trainer − plain, ms/step | whole run incl. setup, plain / Trainer time |"
        )
        print("|---|---:|---:|---:|---|---:|---:|")
        for name, plain_rate, trainer_rate, ratios, totals, _ in rows:
            print(
                f"| {name} (batch {args.batch_size}) | {plain_rate:.3f} | {trainer_rate:.3f} | "
                f"{statistics.median(ratios):.3f} | {min(ratios):.3f}–{max(ratios):.3f} | "
                f"{1000 / trainer_rate - 1000 / plain_rate:+.0f} | {1 / statistics.median(totals):.3f} |"
            )


if __name__ == "__main__":
    main()

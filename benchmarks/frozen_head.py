"""Why frozen-encoder heads train on cached embeddings: head training time vs encoder forward passes.

    python benchmarks/frozen_head.py [--epochs 100] [--rounds 3] [--trainer_epochs 5]

Head: ``RespiraForAudioClassification(RespiraConfig(encoder_config=<AST-base>, freeze_encoder=True,
head_dropout=0.3, projector_dim=None, target_seconds=8, ast_length_policy="adapt"))``, the
frozen-AST detector's head (``recipes/ast_frozen_multilabel.yaml``) on 4 classes, trained with
``model(embeddings=..., labels=...)`` (cross-entropy), AdamW lr 1e-3, batch 256, shuffled every
epoch, for ``--epochs`` epochs on 6898 × 768 float32 "cached embeddings": random but structured —
ICBHI's class counts (3642 normal, 1864 crackle, 886 wheeze, 506 both), a Gaussian mean per class with
"both" half-way between crackle and wheeze, unit Gaussian noise. Accuracy on 1380 more draws from
the same distribution is printed to show that the head learns something (chance: 0.53).

Against that, on the same machine and in the same run (rounds interleaved, medians): the forward
pass of the encoder on raw 16 kHz audio, which a frozen encoder without caching repeats every epoch —
AST-base sized (12 layers, 768 wide, 8 s cycles → 798 frames; random weights, the speed does not
depend on them) on ``--ast_batch`` random waveforms per batch, and the default CNN (5.12 s) on batches
of 32 — extrapolated to one epoch of 6898 cycles. Also timed once: ``compute_embeddings`` (decoding
included) on the synthetic corpus (``make_synthetic_icbhi(n_patients=12, seed=0)``): all its cycles
with the CNN, and the first ``--ast_cycles`` with the AST-base model. With ``--trainer_epochs`` > 0,
``RespiraTrainer`` trains the same head on the same embeddings held in a ``datasets.Dataset`` (what
``cache_embeddings: true`` produces) for that many epochs, to show the per-epoch cost of that path.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers import ASTConfig

from _machine import cpu_name, load_average
from respira.data import load_icbhi
from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.embeddings import compute_embeddings, with_embeddings
from respira.models.respira.encoders import get_encoder_spec
from respira.synthetic import make_synthetic_icbhi

CLASS_COUNTS = (3642, 1864, 886, 506)  # ICBHI 2017: normal, crackle, wheeze, both
CYCLES = sum(CLASS_COUNTS)
HIDDEN = 768
BATCH = 256
RATE = 16000


def structured_embeddings(seed: int, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``[n, 768]`` embeddings and labels: class means (both = between crackle and wheeze) + noise."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(1234).normal(0.0, 0.06, size=(4, HIDDEN))
    means[3] = (means[1] + means[2]) / 2 + np.random.default_rng(4321).normal(0.0, 0.03, size=HIDDEN)
    counts = [round(c * scale) for c in CLASS_COUNTS]
    labels = np.repeat(np.arange(4), counts)
    embeddings = means[labels] + rng.normal(0.0, 1.0, size=(len(labels), HIDDEN))
    order = rng.permutation(len(labels))
    return torch.tensor(embeddings[order], dtype=torch.float32), torch.tensor(labels[order])


def ast_config(head: bool = True) -> RespiraConfig:
    options = {"head_dropout": 0.3, "projector_dim": None} if head else {}
    return RespiraConfig(
        encoder_config=ASTConfig().to_dict(),
        target_seconds=8.0,
        ast_length_policy="adapt",
        freeze_encoder=True,
        **options,
    )


def train_head(
    model: RespiraForAudioClassification, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int
) -> float:
    """Seconds to train the (re-initialised) head for ``epochs`` epochs; plain loop on in-memory tensors."""
    for module in model.classifier.modules():
        if isinstance(module, torch.nn.Linear):
            module.reset_parameters()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), BATCH):
            rows = order[start : start + BATCH]
            loss = model(embeddings=x[rows], labels=y[rows]).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


@torch.no_grad()
def accuracy(model: RespiraForAudioClassification, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(embeddings=x).logits.argmax(dim=-1) == y).float().mean())


@torch.no_grad()
def forward_seconds(model: RespiraForAudioClassification, batch: int, seed: int) -> float:
    """One eval-mode encoder forward (featurizer + encoder + pooling) on ``batch`` random waveforms."""
    generator = torch.Generator().manual_seed(seed)
    waveforms = 0.1 * torch.randn(batch, model.config.target_samples, generator=generator)
    model.eval()
    started = time.perf_counter()
    model.respira(waveforms)
    return time.perf_counter() - started


def trainer_epoch_seconds(model, x, y, epochs: int, folder: Path) -> float:
    """Per-epoch seconds of ``RespiraTrainer`` on a ``datasets.Dataset`` of embeddings (the cached path)."""
    from respira.training import RespiraTrainer, RespiraTrainingArguments

    dataset = with_embeddings(datasets.Dataset.from_dict({"label": y.numpy()}), x.numpy())
    args = RespiraTrainingArguments(
        output_dir=str(folder),
        num_train_epochs=epochs,
        per_device_train_batch_size=BATCH,
        learning_rate=1e-3,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=10**9,
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
    )
    trainer = RespiraTrainer(model, args, train_dataset=dataset)
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.train()
    return (time.perf_counter() - started) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--ast_batch", type=int, default=8, help="waveforms per AST forward batch")
    parser.add_argument(
        "--ast_cycles", type=int, default=16, help="synthetic cycles for AST compute_embeddings"
    )
    parser.add_argument("--trainer_epochs", type=int, default=5, help="0 skips the RespiraTrainer row")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")

    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, python {platform.python_version()}"
    )
    print(f"load average before timing (1/5/15 min): {load_average()}")
    torch.manual_seed(args.seed)
    ast = RespiraForAudioClassification(ast_config())
    cnn_config = RespiraConfig(
        encoder_config={"model_type": get_encoder_spec("cnn").model_type}, target_seconds=5.12
    )
    cnn = RespiraForAudioClassification(cnn_config)
    x, y = structured_embeddings(args.seed)
    x_held, y_held = structured_embeddings(args.seed + 1, scale=0.2)
    trainable = sum(p.numel() for p in ast.parameters() if p.requires_grad)
    print(
        f"head: {trainable:,} trainable parameters; embeddings {tuple(x.shape)}; {args.epochs} epochs of "
        f"{math.ceil(CYCLES / BATCH)} batches of {BATCH}\n"
    )

    forward_seconds(ast, args.ast_batch, args.seed)  # warm-up
    forward_seconds(cnn, 32, args.seed)
    train_head(ast, x, y, 1, args.seed)
    head, ast_batch, cnn_batch = [], [], []
    for round_index in range(args.rounds):
        for name, timings, run in (
            ("head", head, lambda: train_head(ast, x, y, args.epochs, args.seed)),
            ("ast", ast_batch, lambda i=round_index: forward_seconds(ast, args.ast_batch, args.seed + i)),
            ("cnn", cnn_batch, lambda i=round_index: forward_seconds(cnn, 32, args.seed + i)),
        ):
            gc.collect()
            time.sleep(0.5)
            timings.append(run())
            load = load_average()
            print(f"  round {round_index + 1}: {name} {timings[-1]:.2f} s (load {load})", flush=True)
    train_accuracy, held_accuracy = accuracy(ast, x, y), accuracy(ast, x_held, y_held)

    with tempfile.TemporaryDirectory() as tmp:
        corpus = make_synthetic_icbhi(Path(tmp) / "icbhi", n_patients=12, seed=0)
        splits = load_icbhi(corpus, cache_dir=Path(tmp) / "cache")
        cycles = datasets.concatenate_datasets(list(splits.values()))
        started = time.perf_counter()
        compute_embeddings(cnn, cycles, batch_size=32)
        cnn_embed = (time.perf_counter() - started) / len(cycles)
        subset = cycles.select(range(min(args.ast_cycles, len(cycles))))
        started = time.perf_counter()
        compute_embeddings(ast, subset, batch_size=args.ast_batch)
        ast_embed = (time.perf_counter() - started) / len(subset)
        trainer_epoch = None
        if args.trainer_epochs > 0:
            trainer_epoch = trainer_epoch_seconds(ast, x, y, args.trainer_epochs, Path(tmp) / "trainer")
    print(f"\nload average after timing (1/5/15 min): {load_average()}")
    print(
        f"head accuracy after {args.epochs} epochs: train {train_accuracy:.3f}, held-out {held_accuracy:.3f} "
        f"(chance {CLASS_COUNTS[0] / CYCLES:.3f})\n"
    )

    head_seconds = statistics.median(head)
    head_epoch = head_seconds / args.epochs
    ast_epoch = statistics.median(ast_batch) / args.ast_batch * CYCLES
    cnn_epoch = statistics.median(cnn_batch) / 32 * CYCLES
    print("| what | seconds | × one head epoch |\n|---|---:|---:|")
    print(f"| head, {args.epochs} epochs on cached embeddings (wall) | {head_seconds:.2f} | {args.epochs} |")
    print(f"| head, one epoch (from the line above) | {head_epoch:.4f} | 1 |")
    if trainer_epoch is not None:
        print(
            f"| head, one epoch with RespiraTrainer on a datasets.Dataset of embeddings "
            f"(mean of {args.trainer_epochs}) | {trainer_epoch:.3f} | {trainer_epoch / head_epoch:,.0f} |"
        )
    print(
        f"| AST-base encoder forward, one epoch of {CYCLES} cycles of 8 s (estimated from batches of "
        f"{args.ast_batch}) | {ast_epoch:,.0f} | {ast_epoch / head_epoch:,.0f} |"
    )
    print(
        f"| CNN encoder forward, one epoch of {CYCLES} cycles of 5.12 s (estimated from batches of 32) "
        f"| {cnn_epoch:,.1f} | {cnn_epoch / head_epoch:,.0f} |"
    )
    print(
        f"\ncompute_embeddings on the synthetic corpus ({len(cycles)} cycles of 1.5–4 s, decoding "
        f"included): CNN {cnn_embed * 1000:.1f} ms/cycle (all {len(cycles)}); AST-base "
        f"{ast_embed:.2f} s/cycle (first {len(subset)}) → {CYCLES} cycles: CNN {cnn_embed * CYCLES:,.0f} s, "
        "AST-base "
        f"{ast_embed * CYCLES:,.0f} s"
    )
    cached, uncached = ast_epoch + head_seconds, args.epochs * ast_epoch
    print(
        f"{args.epochs} epochs with a frozen AST-base: cached = one embedding pass + head training ≈ "
        f"{cached:,.0f} s; uncached = {args.epochs} forward passes ≈ {uncached:,.0f} s "
        f"({uncached / cached:.0f}× longer)"
    )


if __name__ == "__main__":
    main()

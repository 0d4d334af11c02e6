"""Class-imbalance options on real ICBHI cycles, for a head on frozen EfficientAT mn04 embeddings.

    python studies/imbalance.py --data_dir ../shared/icbhi [--split_seeds 0,1,2] [--seeds 0,1,2]

Single-label (4 classes, cross-entropy): no weighting, ``class_weights: inverse``,
``class_weights: effective_number:0.999`` and ``batch_sampler: class_balanced``. Multi-label (crackle,
wheeze; BCE): no weighting and ``pos_weight: auto``. The weights come from respira's own
``loss_weights`` (what ``respira train`` uses) and the sampler is ``ClassBalancedSampler``; the head is
a ``RespiraForAudioClassification`` head trained through ``model(embeddings=..., labels=...)``, i.e. its
own ``compute_loss``.

Setup: the corpus is built once (``load_icbhi``, 4 kHz low-pass as in the frozen-detector recipes,
16 kHz) and embedded once with the AudioSet EfficientAT mn04 (``respira convert efficientat`` of
``../shared/reference/efficientat_mn04_as_mAP_432.pt``; 8 s cycles, repeat-padded, mean pooling).
Then for each split seed, a patient-wise 60/20/20 split (``respira.data.splits.patient_split``,
stratified by chest location, every class in every split: what ``split_strategy: patient`` does) and,
for each training seed, a fresh linear head (dropout 0.1) trained with AdamW (lr 1e-3, batch 32) for
``--epochs`` epochs; the epoch with the best validation ICBHI score is kept (first on ties) and the
test split scored once with it. Multi-label heads use 0.5 thresholds, or (the "tuned" variants) the
(crackle, wheeze) pair of a 0.05–0.95 grid that maximises the validation ICBHI score, tuned at every
epoch and so part of the selection; their test AUC per label is threshold-free. Reported: mean ±
sample std over split seeds × training seeds, and each method's difference from its unweighted
counterpart, averaged per split and then over splits.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _machine import cpu_name, load_average
from respira.data import load_icbhi
from respira.data.splits import SplitError, patient_split
from respira.labels import MULTI_LABEL, SINGLE_LABEL, classes_to_flags, flags_to_classes
from respira.metrics import icbhi_scores, roc_auc
from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.embeddings import compute_embeddings
from respira.training.batches.samplers import ClassBalancedSampler, RandomOrderSampler
from respira.training.recipe.model_factory import loss_weights
from respira.training.recipe.recipe import ModelArguments

SHARED = Path(__file__).resolve().parents[2] / "shared"
FRACTIONS = {"train": 0.6, "validation": 0.2, "test": 0.2}
Method = tuple[str, str, str | None, str | None, str, bool]
# (name, problem type, class_weights, pos_weight, sampler, multi-label thresholds tuned on validation)
METHODS: tuple[Method, ...] = (
    ("CE, no weighting", SINGLE_LABEL, None, None, "random", False),
    ("CE, class_weights: inverse", SINGLE_LABEL, "inverse", None, "random", False),
    (
        "CE, class_weights: effective_number:0.999",
        SINGLE_LABEL,
        "effective_number:0.999",
        None,
        "random",
        False,
    ),
    ("CE, batch_sampler: class_balanced", SINGLE_LABEL, None, None, "class_balanced", False),
    ("BCE, no weighting, thresholds 0.5", MULTI_LABEL, None, None, "random", False),
    ("BCE, pos_weight: auto, thresholds 0.5", MULTI_LABEL, None, "auto", "random", False),
    ("BCE, no weighting, tuned thresholds", MULTI_LABEL, None, None, "random", True),
    ("BCE, pos_weight: auto, tuned thresholds", MULTI_LABEL, None, "auto", "random", True),
)
GRID = np.round(np.linspace(0.05, 0.95, 19), 2)
"""Per-label threshold candidates of the tuned variants (every (crackle, wheeze) pair is tried)."""


def embed_corpus(data_dir: Path, checkpoint: Path, work: Path) -> dict[str, np.ndarray]:
    """Every cycle's embedding and metadata (cached in ``work/embeddings.npz``)."""
    cache = work / "embeddings.npz"
    if cache.is_file():
        return dict(np.load(cache, allow_pickle=True))
    import datasets

    datasets.disable_progress_bars()
    corpus = load_icbhi(
        data_dir, validation_size=0.0, lowpass_cutoff=4000.0, cache_dir=str(work / "dataset_cache")
    )
    cycles = datasets.concatenate_datasets([corpus[name] for name in corpus])
    model = RespiraForAudioClassification.from_encoder_pretrained(
        str(checkpoint), target_seconds=8.0, freeze_encoder=True, projector_dim=None
    )
    start = time.perf_counter()
    embedded = compute_embeddings(model, cycles, batch_size=16)
    print(f"embedded {len(embedded)} cycles in {time.perf_counter() - start:.0f} s", flush=True)
    table = {
        "embeddings": np.asarray(embedded["embeddings"], dtype=np.float32),
        **{
            column: np.asarray(embedded[column])
            for column in ("label", "patient_id", "chest_location", "device")
        },
    }
    np.savez(cache, **table)
    return table


def split_of(table: dict[str, np.ndarray], seed: int) -> np.ndarray | None:
    import pandas as pd

    index = pd.DataFrame({k: table[k] for k in ("label", "patient_id", "chest_location")})
    try:
        return patient_split(index, FRACTIONS, seed=seed, stratify_by="chest_location").to_numpy()
    except SplitError as error:
        print(f"split seed {seed}: {error}", flush=True)
        return None


def _predict(model: RespiraForAudioClassification, x: torch.Tensor) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        logits = model(embeddings=x).logits
    model.train()
    return logits.numpy()


def _classes(
    logits: np.ndarray, problem_type: str, thresholds: tuple[float, float] = (0.5, 0.5)
) -> np.ndarray:
    if problem_type == MULTI_LABEL:
        return np.asarray(flags_to_classes(1 / (1 + np.exp(-logits)) >= np.asarray(thresholds)))
    return logits.argmax(axis=1)


def _validation_score(
    logits: np.ndarray, labels: np.ndarray, problem_type: str, tune: bool
) -> tuple[float, tuple[float, float]]:
    """The validation ICBHI score, and the (crackle, wheeze) thresholds it was reached with: 0.5, or
    the grid pair that maximises it (first on ties) when ``tune``."""
    pairs = [(float(c), float(w)) for c in GRID for w in GRID] if tune else [(0.5, 0.5)]
    best, best_pair = -math.inf, (0.5, 0.5)
    for pair in pairs:
        score = icbhi_scores(labels, _classes(logits, problem_type, pair), warn=False)["icbhi_score"]
        if score > best:
            best, best_pair = score, pair
    return best, best_pair


def train_head(
    method: Method,
    data: dict[str, tuple[torch.Tensor, np.ndarray]],
    seed: int,
    epochs: int,
    hidden: int,
    encoder_config: dict,
) -> dict[str, float]:
    _, problem_type, class_weights, pos_weight, sampler_name, tune = method
    x_train, y_train = data["train"]
    options = ModelArguments(problem_type=problem_type, class_weights=class_weights, pos_weight=pos_weight)
    torch.manual_seed(seed)
    config = RespiraConfig(
        encoder_config=encoder_config,
        problem_type=problem_type,
        projector_dim=None,
        head_dropout=0.1,
        freeze_encoder=True,
        class_weights=loss_weights(options, y_train.tolist()),
    )
    model = RespiraForAudioClassification(config)
    assert model.config.hidden_size == hidden
    head = model.classifier
    optimizer = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.0)
    if sampler_name == "class_balanced":
        sampler = ClassBalancedSampler(y_train.tolist(), seed=seed)
    else:
        sampler = RandomOrderSampler(len(y_train), seed=seed)
    labels = torch.as_tensor(y_train)
    best, best_state, thresholds = -math.inf, None, (0.5, 0.5)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        order = list(sampler)
        for start in range(0, len(order), 32):
            batch = torch.as_tensor(order[start : start + 32])
            loss = model(embeddings=x_train[batch], labels=labels[batch]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        x_val, y_val = data["validation"]
        score, pair = _validation_score(_predict(model, x_val), y_val, problem_type, tune)
        if score > best:
            best, best_state, thresholds = score, {k: v.clone() for k, v in head.state_dict().items()}, pair
    head.load_state_dict(best_state)
    x_test, y_test = data["test"]
    logits = _predict(model, x_test)
    scores = icbhi_scores(y_test, _classes(logits, problem_type, thresholds), warn=False)
    result = {"val": best, **{k: scores[k] for k in ("icbhi_score", "specificity", "sensitivity")}}
    if problem_type == MULTI_LABEL:
        flags = classes_to_flags(y_test)
        result["auc_crackle"] = roc_auc(flags[:, 0], logits[:, 0])
        result["auc_wheeze"] = roc_auc(flags[:, 1], logits[:, 1])
    return result


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "n/a"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.1f} ± {100 * std:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", type=Path, default=SHARED / "icbhi")
    parser.add_argument(
        "--efficientat", type=Path, default=SHARED / "reference" / "efficientat_mn04_as_mAP_432.pt"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/respira_imbalance"))
    parser.add_argument("--split_seeds", default="0,1,2")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {cpu_name()}, load average {load_average()} at the start", flush=True)
    checkpoint = args.work / "efficientat_mn04"
    if not checkpoint.is_dir():
        from respira.models.efficientat.convert_efficientat import convert_efficientat_checkpoint

        convert_efficientat_checkpoint(args.efficientat, checkpoint, width=0.4)
    table = embed_corpus(args.data_dir, checkpoint, args.work)
    encoder_config = RespiraForAudioClassification.from_encoder_pretrained(
        str(checkpoint), target_seconds=8.0
    ).config.encoder_config.to_dict()
    embeddings = torch.from_numpy(table["embeddings"])
    labels = table["label"].astype(np.int64)
    results: dict[str, dict[int, list[dict[str, float]]]] = {method[0]: {} for method in METHODS}
    for split_seed in [int(s) for s in args.split_seeds.split(",")]:
        assignment = split_of(table, split_seed)
        if assignment is None:
            continue
        data = {name: (embeddings[assignment == name], labels[assignment == name]) for name in FRACTIONS}
        counts = {name: np.bincount(y, minlength=4).tolist() for name, (_, y) in data.items()}
        print(f"split seed {split_seed}: cycles (normal, crackle, wheeze, both) {counts}", flush=True)
        for seed in [int(s) for s in args.seeds.split(",")]:
            for method in METHODS:
                result = train_head(method, data, seed, args.epochs, embeddings.shape[1], encoder_config)
                results[method[0]].setdefault(split_seed, []).append(result)
                print(f"  split {split_seed} seed {seed} {method[0]}: {result}", flush=True)
    print(f"\nload average {load_average()} at the end")
    print_table(results)
    return 0


def _baseline(name: str) -> str:
    """The unweighted counterpart of a method: same loss and decision rule."""
    if name.startswith("CE"):
        return "CE, no weighting"
    return "BCE, no weighting, tuned thresholds" if "tuned" in name else "BCE, no weighting, thresholds 0.5"


def print_table(results: dict[str, dict[int, list[dict[str, float]]]]) -> None:
    """Markdown table: mean ± std over all runs, and the per-split paired difference in test score."""
    header = ["method", "test ICBHI score (%)", "test Sp (%)", "test Se (%)", "best val. score (%)"]
    header += ["Δ score vs unweighted (%, splits better)", "test AUC crackle / wheeze (%)"]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for name, per_split in results.items():
        runs = [run for split in per_split.values() for run in split]
        cells = [
            _mean_std([r[k] for r in runs]) for k in ("icbhi_score", "specificity", "sensitivity", "val")
        ]
        reference = results[_baseline(name)]
        differences = [
            statistics.fmean(r["icbhi_score"] for r in per_split[split])
            - statistics.fmean(r["icbhi_score"] for r in reference[split])
            for split in per_split
        ]
        better = sum(difference > 0 for difference in differences)
        cells.append(
            f"{_mean_std(differences)} ({better}/{len(differences)})" if name != _baseline(name) else ""
        )
        if "auc_crackle" in runs[0]:
            cells.append(
                " / ".join(_mean_std([r[f"auc_{label}"] for r in runs]) for label in ("crackle", "wheeze"))
            )
        else:
            cells.append("")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())

"""Frozen EfficientAT embeddings on real ICBHI cycles: 16 kHz audio upsampled in the featurizer against
EfficientAT's native 32 kHz, under the same patient-wise cross-validation.

    python studies/efficientat_rate.py [--folds 5] [--repeats 3] [--lowpass HZ]

Every cycle of ../shared/icbhi is built twice by ``load_icbhi`` (the same rows in the same order):
at 16 kHz, which a 16 kHz EfficientAT model upsamples to 32 kHz in its featurizer (the FFT resampler),
and at 32 kHz, which the native model takes as it is. Recordings made at 44.1 kHz keep their content
up to 16 kHz in the second case only; 4 kHz and 10 kHz recordings carry nothing above 2 or 5 kHz
either way. Both models are the AudioSet mn04 (../shared/reference), frozen, repeat-padding each
cycle to 8 s; the pooled 384-d embeddings (``compute_embeddings``) feed logistic regressions
(standardised, class-balanced, scikit-learn defaults otherwise) under patient-wise stratified k-fold
cross-validation (``StratifiedGroupKFold``, the same folds for both rates), repeated with
``--repeats`` fold seeds:

- a 4-class regression (normal, crackle, wheeze, both): the ICBHI score (Sp + Se) / 2 of the
  out-of-fold predictions, pooled over folds (all-normal scores 0.50);
- one binary regression per label (crackle, wheeze): the out-of-fold ROC AUC.

Reported: mean ± std over the repeats, and the per-repeat difference native − 16 kHz (the two share
folds, so the difference is less noisy than either figure). ``--lowpass`` builds both datasets with
the builder's Butterworth low-pass as well (the frozen recipe uses 4000 Hz).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import transformers
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from _machine import cpu_name, load_average
from respira.data import load_icbhi
from respira.metrics.icbhi import icbhi_scores
from respira.models import RespiraForAudioClassification
from respira.models.efficientat import convert_efficientat_checkpoint
from respira.models.embeddings import compute_embeddings
from respira.utils.threads import apply_num_threads

RATES = (16000, 32000)
CRACKLE, WHEEZE = (1, 3), (2, 3)  # class indices with a crackle / a wheeze


def cycles_at(shared: Path, rate: int, lowpass: float | None, cache: Path):
    """Every cycle of the sample (train and test splits together) at ``rate``."""
    import datasets

    options = {"lowpass_cutoff": lowpass} if lowpass else {}
    splits = load_icbhi(shared, sampling_rate=rate, cache_dir=cache, **options)
    return datasets.concatenate_datasets([splits[name] for name in sorted(splits)])


def embed(reference: Path, rate: int, dataset, work: Path) -> np.ndarray:
    folder = work / "mn04"
    if not folder.is_dir():
        convert_efficientat_checkpoint(reference / "efficientat_mn04_as_mAP_432.pt", folder)
    model = RespiraForAudioClassification.from_encoder_pretrained(
        folder, sampling_rate=rate, target_seconds=8.0, projector_dim=None, freeze_encoder=True
    )
    assert (model.respira.featurizer.resample is None) == (rate == 32000)
    return np.asarray(compute_embeddings(model, dataset, batch_size=32)["embeddings"], dtype=np.float32)


def classifier() -> object:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, class_weight="balanced"))


def evaluate(embeddings: np.ndarray, labels: np.ndarray, patients: np.ndarray, folds: int, seed: int) -> dict:
    """Out-of-fold ICBHI score (4-class regression) and per-label AUC (binary regressions)."""
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    predicted = np.zeros(len(labels), dtype=np.int64)
    scores = {"crackle": np.zeros(len(labels)), "wheeze": np.zeros(len(labels))}
    for train, test in splitter.split(embeddings, labels, groups=patients):
        predicted[test] = classifier().fit(embeddings[train], labels[train]).predict(embeddings[test])
        for name, positive in (("crackle", CRACKLE), ("wheeze", WHEEZE)):
            target = np.isin(labels, positive)
            model = classifier().fit(embeddings[train], target[train])
            scores[name][test] = model.predict_proba(embeddings[test])[:, 1]
    icbhi = icbhi_scores(labels, predicted, warn=False)
    return {
        "score": icbhi["icbhi_score"],
        "sp": icbhi["specificity"],
        "se": icbhi["sensitivity"],
        "auc_crackle": roc_auc_score(np.isin(labels, CRACKLE), scores["crackle"]),
        "auc_wheeze": roc_auc_score(np.isin(labels, WHEEZE), scores["wheeze"]),
    }


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * spread:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[2] / "shared"
    parser.add_argument("--shared", type=Path, default=root / "icbhi", help="real ICBHI sample folder")
    parser.add_argument("--reference", type=Path, default=root / "reference", help="EfficientAT weights")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lowpass", type=float, default=None, help="also build with this low-pass (Hz)")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    choice = apply_num_threads()
    print(f"machine: {cpu_name()}; {choice.describe()}; load average {load_average()}")
    variants = [(rate, None) for rate in RATES]
    if args.lowpass:
        variants += [(rate, args.lowpass) for rate in RATES]
    results: dict[tuple[int, float | None], list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        reference_rows = None
        for rate, lowpass in variants:
            started = time.perf_counter()
            dataset = cycles_at(args.shared, rate, lowpass, work / "cache")
            rows = (dataset["patient_id"], dataset["label"], dataset["start"])
            if reference_rows is not None and rows != reference_rows:
                raise RuntimeError(
                    "the datasets at the two rates do not hold the same cycles in the same order"
                )
            reference_rows = rows
            embeddings = embed(args.reference, rate, dataset, work)
            labels, patients = np.asarray(dataset["label"]), np.asarray(dataset["patient_id"])
            results[rate, lowpass] = [
                evaluate(embeddings, labels, patients, args.folds, seed) for seed in range(args.repeats)
            ]
            print(
                f"{rate} Hz, low-pass {lowpass}: {len(labels)} cycles, {time.perf_counter() - started:.0f} s"
            )
    counts = np.bincount(labels, minlength=4)
    print(
        f"\n{len(labels)} cycles of {len(set(patients))} patients (normal/crackle/wheeze/both "
        f"{'/'.join(map(str, counts))}); {args.folds}-fold patient-wise CV × {args.repeats} fold seeds; "
        f"load average {load_average()}\n"
    )
    print("| model input | low-pass | ICBHI score (%) | Sp (%) | Se (%) | AUC crackle (%) | AUC wheeze (%) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (rate, lowpass), runs in results.items():
        name = "32 kHz, native" if rate == 32000 else "16 kHz, upsampled in the featurizer"
        cells = [
            mean_std([run[key] for run in runs]) for key in ("score", "sp", "se", "auc_crackle", "auc_wheeze")
        ]
        print(f"| {name} | {f'{lowpass:g} Hz' if lowpass else 'none'} | " + " | ".join(cells) + " |")
    print("\nnative − 16 kHz, same folds (percentage points, mean ± std over fold seeds):")
    for lowpass in sorted({lowpass for _rate, lowpass in results}, key=lambda value: value or 0):
        native, upsampled = results[32000, lowpass], results[16000, lowpass]
        cells = []
        for key in ("score", "auc_crackle", "auc_wheeze"):
            cells.append(
                f"{key} {mean_std([a[key] - b[key] for a, b in zip(native, upsampled, strict=True)])}"
            )
        print(f"- low-pass {lowpass or 'none'}: " + ", ".join(cells))


if __name__ == "__main__":
    main()

"""Linear probes on the frozen flagship encoder: is the out-of-domain loss in the features or in the decision?

    python studies/transfer_probe.py --work /tmp/probe [--shared ../shared]

Every ICBHI cycle of ``../shared`` and every 4-s KAUH window (every 4 s, the recording low-passed first, as
``respira evaluate --dataset kauh`` cuts them) is run once through the converted AudioSet EfficientAT mn04
as the flagship recipe runs it (32 kHz, 8-s cycles, 4 kHz low-pass, mean pooling), keeping the pooled
features of every block, and once through its AudioSet tagging head (527 logits); the features are cached in
``--work/features.npz``. Each variant then fits one L2 logistic regression per flag (crackle, wheeze;
scikit-learn's defaults, C = 1, on standardised features: the flagship's ``head_norm`` + linear head without
its epochs and dropout) on the training pool and is scored

* leave one device out (development: the variants were compared here first), per held-out device;
* ICBHI → KAUH (confirmation), per recording, its probability the maximum over its windows;

at thresholds cross-fitted over 5 patient groups of the pool (the flagship's rule) and at the *decision
ceiling*: thresholds tuned on the target itself, what any threshold rule could reach with that ranking.
Variants: the features (last block's mean = the flagship's embedding; + its std and max over time; + the
mean / std of blocks 7-15; the AudioSet logits) and three label-free uses of the target's own audio
(per-domain standardisation, recording context, rate-matched thresholds, CORAL; see :data:`VARIANTS`), two
weightings of the pool that cut the link between a device and a label (:func:`sample_weights`), and the
hand-crafted features of ``_acoustic_features.py``. Last, in domain: the out-of-fold AUCs of the flagship's
embedding pooled over the devices and within each (:func:`within_device`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import _protocols as protocols
from _study_methods import ROOT
from respira.labels import flags_to_classes
from respira.metrics import icbhi_scores
from respira.metrics.multilabel import roc_auc
from respira.metrics.thresholds import tune_thresholds

RATE, HOP, GROUPS, CONTEXT_WEIGHT, CORAL_SHRINKAGE = 32_000, 4.0, 5, 0.5, 1.0
MID_BLOCKS = range(7, 16)


@dataclass(frozen=True)
class Variant:
    features: tuple[str, ...]
    per_domain: bool = False
    """Standardise each recording domain (ICBHI device, KAUH filter mode) with its own statistics."""
    context: bool = False
    """A cycle's probability averaged with its recording's mean probability (weight ``CONTEXT_WEIGHT``)."""
    rate_matched: bool = False
    """Target thresholds flag the share of the target that the pool's thresholds flag in the pool."""
    weights: str | None = None
    """Per-flag sample weights of the pool (:func:`sample_weights`): ``deconfounded`` or ``domain_class``."""
    coral: bool = False
    """Per-domain standardisation, then each pool domain's covariance matched to the target's
    (:func:`coral`)."""


VARIANTS: dict[str, Variant] = {
    "last block mean (the flagship's embedding)": Variant(("final",)),
    "+ its std and max over time": Variant(("final", "b16_std", "b16_max")),
    "+ mean / std of blocks 7-15": Variant(
        ("final", *(f"b{i}_{s}" for i in MID_BLOCKS for s in ("mean", "std")))
    ),
    "AudioSet tagging logits (527)": Variant(("audioset",)),
    "the last block pooled over its rows below the low-pass only": Variant(("final_low",)),
    "the embedding of the sound played twice as fast": Variant(("final_speed2",)),
    "the embedding of the sound played half as fast": Variant(("final_slow2",)),
    "each cycle / window embedded at its own length, not repeat-padded to 8 s": Variant(("final_own",)),
    "each cycle / window high-passed at 100 Hz first (the lung-sound band only)": Variant(("final_hp",)),
    "each domain's own encoder BatchNorm statistics (AdaBN, label-free)": Variant(("final_adabn",)),
    "hand-crafted lung-sound features (19)": Variant(("acoustic",)),
    "the flagship's embedding + the hand-crafted features": Variant(("final", "acoustic")),
    "device-deconfounded weights (each device at the pool's prevalence)": Variant(
        ("final",), weights="deconfounded"
    ),
    "device x class balanced weights": Variant(("final",), weights="domain_class"),
    "per-domain standardisation (label-free)": Variant(("final",), per_domain=True),
    "recording context (label-free)": Variant(("final",), context=True),
    "rate-matched thresholds (label-free)": Variant(("final",), rate_matched=True),
    "CORAL: each device's covariance matched to the target's (label-free)": Variant(
        ("final",), per_domain=True, coral=True
    ),
}


def standardise(train: np.ndarray, test: np.ndarray, domains: tuple[np.ndarray, np.ndarray] | None):
    """Z-scores with the pool's statistics, or (``domains``) each domain's rows with their own."""
    if domains is None:
        mean, std = train.mean(0), train.std(0) + 1e-6
        return (train - mean) / std, (test - mean) / std
    return tuple(_per_domain(x, d) for x, d in zip((train, test), domains, strict=True))


def _per_domain(x: np.ndarray, domains: np.ndarray) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float64)
    for domain in np.unique(domains):
        rows = domains == domain
        out[rows] = (x[rows] - x[rows].mean(0)) / (x[rows].std(0) + 1e-6)
    return out


def coral(
    train: np.ndarray, domains: np.ndarray, test: np.ndarray, shrinkage: float = CORAL_SHRINKAGE
) -> np.ndarray:
    """CORAL (Sun, Feng & Saenko, AAAI 2016): each ``domains`` block of ``train`` whitened with its own
    covariance and re-coloured with ``test``'s, both regularised by ``shrinkage`` times the identity
    (the paper's choice of 1 for standardised features). Label-free: it reads the target's features only."""

    def power(matrix: np.ndarray, exponent: float) -> np.ndarray:
        values, vectors = np.linalg.eigh(matrix)
        return (vectors * values**exponent) @ vectors.T

    identity = shrinkage * np.eye(train.shape[1])
    colour = power(np.cov(test, rowvar=False) + identity, 0.5)
    out = np.empty_like(train, dtype=np.float64)
    for domain in np.unique(domains):
        rows = domains == domain
        out[rows] = train[rows] @ power(np.cov(train[rows], rowvar=False) + identity, -0.5) @ colour
    return out


def with_context(
    probabilities: np.ndarray, recordings: np.ndarray, weight: float = CONTEXT_WEIGHT
) -> np.ndarray:
    """Each row's probabilities, ``weight`` of them its own and the rest its recording's mean."""
    means = np.empty_like(probabilities)
    for recording in np.unique(recordings):
        rows = recordings == recording
        means[rows] = probabilities[rows].mean(0)
    return weight * probabilities + (1 - weight) * means


def rate_matched(target: np.ndarray, pool: np.ndarray, thresholds) -> tuple[float, float]:
    """Per flag, the quantile of ``target`` that flags the share the ``thresholds`` flag in ``pool``."""
    shares = (pool >= np.asarray(thresholds)).mean(0)
    return tuple(float(np.quantile(target[:, i], 1 - shares[i])) for i in range(2))


def sample_weights(flags: np.ndarray, domains: np.ndarray, kind: str) -> np.ndarray:
    """Per flag ``[N, 2]``, weights that cut the link between a device and a label in the pool.

    ``deconfounded``: ``P(y) / P(y | device)``, so every device has the pool's prevalence of the flag
    (the device no longer predicts it) while the pool's prevalence and each device's share stay;
    ``domain_class``: ``1 / n(device, y)``, every (device, present / absent) cell weighing the same
    (what the retired ``batch_sampler: domain_class_balanced`` drew), rescaled to a mean of 1.
    """
    weights = np.ones(flags.shape, dtype=np.float64)
    for i in range(flags.shape[1]):
        for domain in np.unique(domains):
            in_domain = domains == domain
            for value in (0, 1):
                cell = in_domain & (flags[:, i] == value)
                if not cell.any():
                    continue
                if kind == "deconfounded":
                    weights[cell, i] = (flags[:, i] == value).mean() / (cell.sum() / in_domain.sum())
                else:
                    weights[cell, i] = 1.0 / cell.sum()
        weights[:, i] /= weights[:, i].mean()
    return weights


def fit_predict(
    train: np.ndarray, flags: np.ndarray, test: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    models = [
        LogisticRegression(max_iter=3000).fit(
            train, flags[:, i], sample_weight=None if weights is None else weights[:, i]
        )
        for i in range(2)
    ]
    return np.column_stack([m.predict_proba(test)[:, 1] for m in models])


def probabilities(variant: Variant, pool: dict, target: dict) -> np.ndarray:
    x_pool, x_target = (np.concatenate([s["x"][k] for k in variant.features], 1) for s in (pool, target))
    domains = (pool["domain"], target["domain"]) if variant.per_domain else None
    train, test = standardise(x_pool, x_target, domains)
    if variant.coral:
        train = coral(train, pool["domain"], test)
    weights = None
    if variant.weights:
        weights = sample_weights(pool["flags"], pool["domain"], variant.weights)
    result = fit_predict(train, pool["flags"], test, weights)
    return with_context(result, target["recording"]) if variant.context else result


def pool_thresholds(variant: Variant, pool: dict) -> tuple[tuple[float, float], np.ndarray]:
    """Thresholds tuned on out-of-fold predictions of ``GROUPS`` patient groups of the pool."""
    groups = patient_groups(pool)
    out = np.zeros((len(groups), 2))
    for g in range(GROUPS):
        held = groups == g
        out[held] = probabilities(variant, subset(pool, ~held), subset(pool, held))
    return tune_thresholds(pool["flags"], out), out


def patient_groups(pool: dict) -> np.ndarray:
    """Each row's group of ``GROUPS`` groups of whole patients (shuffled with seed 0)."""
    patients = np.unique(pool["patient"])
    np.random.default_rng(0).shuffle(patients)
    group = dict(zip(patients, np.arange(len(patients)) % GROUPS, strict=True))
    return np.array([group[p] for p in pool["patient"]])


def subset(rows: dict, mask: np.ndarray) -> dict:
    return {
        k: ({f: v[mask] for f, v in value.items()} if k == "x" else value[mask]) for k, value in rows.items()
    }


def score(flags: np.ndarray, probs: np.ndarray, thresholds) -> dict[str, float]:
    decided = (probs >= np.asarray(thresholds)).astype(np.int64)
    s = icbhi_scores(flags_to_classes(flags), flags_to_classes(decided), warn=False)
    aucs = [roc_auc(flags[:, i], probs[:, i]) for i in range(2)]
    return {k: 100 * float(s[k]) for k in ("icbhi_score", "specificity", "sensitivity")} | {
        "auc_crackle": 100 * aucs[0], "auc_wheeze": 100 * aucs[1],
        "ceiling": 100 * protocols.decision_ceiling(flags, probs),
    }  # fmt: skip


def evaluate(variant: Variant, pool: dict, target: dict, per_recording: bool) -> dict[str, float]:
    thresholds, oof = pool_thresholds(variant, pool)
    probs = probabilities(variant, pool, target)
    flags = target["flags"]
    if per_recording:  # KAUH: the maximum over each recording's windows, against its labels
        names = np.unique(target["recording"])
        probs = np.stack([probs[target["recording"] == r].max(0) for r in names])
        flags = np.stack([flags[target["recording"] == r][0] for r in names])
    if variant.rate_matched:
        thresholds = rate_matched(probs, oof, thresholds)
    return score(flags, probs, thresholds)


def within_device(pool: dict, features: tuple[str, ...] = ("final",)) -> str:
    """In domain, where the ranking comes from: each of ``GROUPS`` patient groups predicted by a model
    fitted on the others, and per flag the AUC of those predictions over all the group's cycles or within
    one device, averaged over the groups where it is defined. (One model per AUC: pooling the groups'
    predictions first would rank the groups' models against each other, which biases a weak ranking
    below chance.)"""
    variant = Variant(features)
    _, oof = pool_thresholds(variant, pool)
    groups = patient_groups(pool)
    flags, devices = pool["flags"], pool["domain"]

    def mean_auc(mask: np.ndarray, flag: int) -> float:
        values = [
            roc_auc(flags[rows, flag], oof[rows, flag])
            for group in range(GROUPS)
            if len(set(flags[(rows := mask & (groups == group)), flag].tolist())) == 2
        ]
        return 100 * float(np.mean(values)) if values else float("nan")

    rows = [
        "| cycles | n | crackle prevalence | wheeze prevalence | AUC crackle | AUC wheeze |",
        "| --- " * 6 + "|",
    ]
    for name in ("all (pooled)", *np.unique(devices)):
        mask = np.ones(len(devices), bool) if name == "all (pooled)" else devices == name
        aucs = [mean_auc(mask, i) for i in range(2)]
        prevalence = 100 * flags[mask].mean(0)
        shares = f"{prevalence[0]:.0f} % | {prevalence[1]:.0f} %"
        rows.append(f"| {name} | {mask.sum()} | {shares} | {aucs[0]:.1f} | {aucs[1]:.1f} |")
    return "\n".join(rows)


def rows_of(features: np.lib.npyio.NpzFile, corpus: str) -> dict:
    keys = [k for k in features.files if k.startswith(f"{corpus}/x/")]
    rows = {"x": {k.split("/")[-1]: features[k] for k in keys}}
    for name in ("flags", "domain", "patient", "recording"):
        rows[name] = features[f"{corpus}/{name}"]
    return rows


def table(results: dict[str, list[tuple[str, dict]]], groups: str | None = None) -> str:
    """One row per variant: mean ± sd over its runs, and (``groups``) each run's score."""
    keys = ("icbhi_score", "specificity", "sensitivity", "auc_crackle", "auc_wheeze", "ceiling")
    per_group = f" per {groups} |" if groups else ""
    lines = [
        "| variant | ICBHI score | Sp | Se | AUC crackle | AUC wheeze | decision ceiling |" + per_group,
        "| --- " * (8 if groups else 7) + "|",
    ]
    for name, runs in results.items():
        cells = []
        for key in keys:
            values = [run[key] for _, run in runs]
            spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
            cells.append(f"{statistics.fmean(values):.1f}{spread}")
        scores = " / ".join(f"{run['icbhi_score']:.1f}" for _, run in runs)
        per = f" {scores} |" if groups else ""
        lines.append(f"| {name} | " + " | ".join(cells) + " |" + per)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--work", required=True, help="the feature cache and converted encoder go here")
    args = parser.parse_args()
    shared, work = Path(args.shared), Path(args.work)
    for path in ("icbhi", "kauh", "reference/efficientat_mn04_as_mAP_432.pt"):
        if not (shared / path).exists():
            sys.exit(f"{shared / path} is missing: this probe needs the real files of ../shared")
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "features.npz"
    if not cache.is_file():
        from _probe_features import embed_corpora

        embed_corpora(shared, work, cache)
    features = np.load(cache)
    from _probe_features import (
        embed_domain_batch_norm,
        embed_highpassed,
        embed_low_band,
        embed_speeds,
        embed_unpadded,
    )

    for key, embed in (
        ("final_speed2", embed_speeds),
        ("final_low", embed_low_band),
        ("final_own", embed_unpadded),
        ("final_hp", embed_highpassed),
        ("final_adabn", embed_domain_batch_norm),
    ):
        if f"icbhi/x/{key}" not in features.files:  # a cache written before this variant was probed
            arrays = {name: features[name] for name in features.files} | embed(shared, work)
            np.savez(cache.with_suffix(".partial.npz"), **arrays)
            cache.with_suffix(".partial.npz").replace(cache)
            features = np.load(cache)
    icbhi, kauh = rows_of(features, "icbhi"), rows_of(features, "kauh")
    devices = sorted(np.unique(icbhi["domain"]))
    lodo, external = {}, {}
    for name, variant in VARIANTS.items():
        lodo[name] = []
        for device in devices:
            test = icbhi["domain"] == device
            train = ~test & ~np.isin(icbhi["patient"], icbhi["patient"][test])  # as the builder's folds
            lodo[name].append((device, evaluate(variant, subset(icbhi, train), subset(icbhi, test), False)))
        if not variant.context:  # KAUH is scored per recording already
            external[name] = [("kauh", evaluate(variant, icbhi, kauh, True))]
        print(f"{name}: done", flush=True)
    print(f"\nleave one device out (per device: {' / '.join(devices)}; mean ± sd over the 4 devices, %)")
    print(table(lodo, "device"))
    print("\nICBHI → KAUH (168 recordings, max over windows, %)")
    print(table(external))
    print(
        "\nin domain, the flagship's embedding: patient-group out-of-fold AUCs, pooled and within each device"
    )
    print(within_device(icbhi))


if __name__ == "__main__":
    main()

"""Leave one site out: learn from two hospitals, score the third, every rotation, 3 seeds, baselines alike.

    python studies/leave_one_site_out.py --work /tmp/loso [--shared ../shared] [--seeds 0,1,2]

The three sites of ``../shared`` (ICBHI: Portugal and Greece, four stethoscopes, adults and children; KAUH:
Jordan, a Littmann 3200, adults; SPRSound: Shanghai, a Yunting II, children) are cut as respira deploys a
detector on each and embedded once by the flagship's frozen encoder (:mod:`_site_features`). For each
held-out site a head is trained on the two others as the flagship trains its head (each embedding feature
standardised over the pool, dropout 0.3, one linear layer, BCE on crackle and wheeze, AdamW 1e-3, batch 32,
30 epochs, the transfer protocols' CPU reduction of the recipe) — ICBHI cycles and SPRSound events as units,
KAUH windows carrying their recording's flags, weighted so that each recording counts once — and decides at
thresholds tuned on predictions cross-fitted over 5 patient groups of the pool (cycles and events one by
one, a KAUH recording by the maximum of its windows: the flagship's rule). Nothing of the held-out site
chooses anything. The held-out site is scored as it is used: ICBHI per cycle, KAUH per recording (maximum
over 4-s windows every 2 s), SPRSound per event and per recording (Poor Quality records left out; they have
no crackle / wheeze label).

Methods (each a variant of the pooled head, all pre-specified): ``pooled`` (the flagship's rule);
``site_balanced`` (each training site weighs the same: domain-balanced sampling); ``per_site_norm``
(each site, the held-out one included, standardised by its own statistics: the instance / domain
normalisation family); ``worst_site_thresholds`` (thresholds that maximise the worst training site's
score: ``threshold_aggregation: worst_domain`` with sites as domains); and the last two together;
``icbhi_only`` (the shipped flagship's pool, ICBHI alone: does a second training site help the third?);
``hidden`` (a trained layer of 128 between the embedding and the head: the control of the next two);
``hidden+sg_scl`` (Kim et al.'s stethoscope-guided supervised contrastive loss, λ 1, τ 0.07, on a projector
of that layer, positives recorded with the same stethoscope model: ICBHI's four, KAUH's Littmann 3200 — the
same model as one of ICBHI's — and SPRSound's Yunting II; the frozen-encoder form of
``aux_loss: stethoscope_supcon`` with ``head_hidden_size``), ``hidden+supcon_across_sites`` (the same loss,
positives the same class from the other training site) and ``hidden+sg_scl+worst_site_thresholds``. The
encoder fine-tuned with the same loss was ``studies/loso_finetune.py`` (retired; docs/history/sites.md).
Baselines in the same run: all-normal, class prior (the pool's class shares drawn at random: the expected
score) and a class-balanced logistic regression on log-mel mean / std features (64 bands to 4 kHz),
decided at 0.5.

Which detector to ship (issue 33, item 7): a detector meets new patients of the sites it learnt from as
well as sites it never heard. The candidates (:data:`SHIPPING`: the head trained on ICBHI alone, as
shipped, and the head trained on all three sites with pooled or worst-site thresholds) are scored on both:
new patients of a site by the in-domain protocol (the site's patients in 5 folds, each fold scored by the
candidate trained on everything it learns from less that fold), a site never heard by the held-out
rotations; each is paired with the ICBHI-only head by site set x seed.

Reported per held-out site and method: ICBHI score, Se, Sp (mean over seeds), its 95 % patient-bootstrap
interval (the seed-mean score over 1000 resamples of the held-out site's patients), the AUC per flag, and the
decision ceiling (thresholds tuned on the held-out site itself: what any rule could reach; never a result).
SPRSound's events and records are also scored on the 2022 challenge's tasks 1-1 and 2-1
(:data:`CHALLENGE_TASKS`).
Results go to ``--work/loso_results.json``; the features are cached per site in ``--work/site_features/``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # its _machine.py

from _calibration import LabelledSample, cross_validated, decision_ceiling, retuning_wins
from _common import ROOT
from _loso_tables import challenge, domain_gap, paired, shipping, table
from _machine import cpu_name, load_average
from _site_features import RECORDING_SETS, SITES, embed_sites, stethoscopes
from respira.losses import StethoscopeGuidedSupConLoss
from respira.metrics import icbhi_scores
from respira.metrics.baselines import class_prior
from respira.metrics.multilabel import roc_auc
from respira.metrics.recording_level import patient_bootstrap
from respira.metrics.sprsound import flags_to_sprsound, sprsound_scores
from respira.metrics.thresholds import choose_thresholds, tune_thresholds
from respira.models.respira.labels import MULTI_LABEL_NAMES, flags_to_classes

GROUPS, EPOCHS, BATCH, LR, DROPOUT, HIDDEN, TEMPERATURE = 5, 30, 32, 1e-3, 0.3, 128, 0.07
TRAIN_SETS: dict[str, str] = {"icbhi": "icbhi", "kauh": "kauh", "sprsound": "sprsound"}
"""Per site: the unit set it trains with (SPRSound: its events)."""
CALIBRATION_PATIENTS, CALIBRATION_REPEATS = (5, 10), 20
"""Thresholds re-tuned on the units of k labelled target patients (``respira fit-site --candidates as_is
thresholds``), scored on the other patients, against the unchanged thresholds on those same patients (20
random subsets per seed)."""
CALIBRATED: tuple[str, ...] = ("pooled", "icbhi_only")
"""The methods whose models are calibrated on a few target patients (``pooled``: ``calibrate:<k>_patients``;
the others: ``calibrate:<method>:<k>_patients``), each also ``..._guarded`` (re-tuned thresholds only
where they beat the model's with each given patient left out)."""
CHALLENGE_TASKS: dict[str, str] = {"sprsound": "1-1", "sprsound_windows": "2-1"}
"""SPRSound's unit sets also scored on the 2022 challenge's tasks (``challenge_score``, its Score in %):
events on 1-1 (Normal or Adventitious), recordings on 2-1 (Normal, Poor Quality or Adventitious). No head here
calls a record Poor Quality, and Poor Quality records enter neither SE nor SP, so leaving them out (as the
unit sets do) scores task 2-1 exactly."""


@dataclass(frozen=True)
class Method:
    name: str
    site_balanced: bool = False
    per_site_norm: bool = False
    worst_site_thresholds: bool = False
    hidden: bool = False
    """A trainable layer of :data:`HIDDEN` (linear + ReLU) between the frozen embedding and the head."""
    contrastive: str | None = None
    """With ``hidden``: λ = 1 times :class:`~respira.losses.StethoscopeGuidedSupConLoss` on a projector of
    that layer; ``"stethoscope"`` (Kim et al.: positives recorded with the same stethoscope model) or
    ``"class_across_sites"`` (positives: the same class from the other training site)."""
    train_sites: tuple[str, ...] | None = None
    """The sites it learns from (``None``: both that are not held out); not run where one is held out."""


IN_DOMAIN: tuple[Method, ...] = (
    Method("pooled"),
    Method("worst_site_thresholds", worst_site_thresholds=True),
    Method("icbhi_only", train_sites=("icbhi",)),
)
"""Methods also scored with the site in training (patient folds), for the in / out-of-domain table and the
choice of the detector to ship (:data:`SHIPPING`); a method with ``train_sites`` only on those sites."""
SHIPPING: tuple[str, ...] = ("icbhi_only", "pooled", "worst_site_thresholds")
"""Issue 33 item 7's candidates for the example detector: the shipped pool (ICBHI alone) and the head
trained on all three sites with each threshold rule, scored on new patients of every site and on a site
they never heard."""
METHODS: tuple[Method, ...] = (
    Method("pooled"),
    Method("site_balanced", site_balanced=True),
    Method("per_site_norm", per_site_norm=True),
    Method("worst_site_thresholds", worst_site_thresholds=True),
    Method("per_site_norm+worst_site_thresholds", per_site_norm=True, worst_site_thresholds=True),
    Method("icbhi_only", train_sites=("icbhi",)),
    Method("hidden", hidden=True),
    Method("hidden+sg_scl", hidden=True, contrastive="stethoscope"),
    Method("hidden+supcon_across_sites", hidden=True, contrastive="class_across_sites"),
    Method(
        "hidden+sg_scl+worst_site_thresholds",
        hidden=True,
        contrastive="stethoscope",
        worst_site_thresholds=True,
    ),
)


def take(rows: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[mask] for key, value in rows.items()}


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def pool_of(
    sets: dict, held_out: str | None, held_patients: frozenset[str] = frozenset()
) -> dict[str, np.ndarray]:
    """The training units of every site but ``held_out``, less ``held_patients``, with ``site``,
    ``stethoscope`` and per-row ``weight`` (a KAUH recording's windows: 1 in all)."""
    parts = []
    for site in SITES:
        if site == held_out:
            continue
        rows = sets[TRAIN_SETS[site]]
        rows = take(rows, ~rows["poor"] & ~np.isin(rows["patient"], list(held_patients)))
        _, inverse, counts = np.unique(rows["recording"], return_inverse=True, return_counts=True)
        windows = site in RECORDING_SETS and TRAIN_SETS[site] == RECORDING_SETS[site]
        rows["weight"] = 1.0 / counts[inverse] if windows else np.ones(len(inverse))
        rows["site"] = np.full(len(inverse), site)
        rows["stethoscope"] = stethoscopes(site, rows["domain"])
        rows["unit"] = (
            np.char.add(f"{site}:", rows["recording"])
            if windows
            else np.char.add(f"{site}:", np.arange(len(inverse)).astype(str))
        )
        parts.append(rows)
    return concat(parts)


def training_pool(
    method: Method, pool: dict[str, np.ndarray], held_out: str | None
) -> dict[str, np.ndarray] | None:
    """What ``method`` learns from when ``held_out`` is held out (``None``: no site, in domain): ``pool``, or
    its ``train_sites`` only; ``None`` where it would learn from the held-out site."""
    if method.train_sites is None:
        return pool
    if held_out in method.train_sites:
        return None
    return take(pool, np.isin(pool["site"], method.train_sites))


def standardiser(
    x: np.ndarray, groups: np.ndarray | None = None
) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    """Standardise with ``x``'s statistics, or (``groups``) each group with its own, computed on the rows
    given."""
    if groups is None:
        mean, std = x.mean(0), x.std(0) + 1e-5
        return lambda z, g=None: (z - mean) / std

    def per_group(z: np.ndarray, g: np.ndarray | None) -> np.ndarray:
        out = np.empty_like(z)
        for name in np.unique(g):
            rows = g == name
            out[rows] = (z[rows] - z[rows].mean(0)) / (z[rows].std(0) + 1e-5)
        return out

    return per_group


def fit_head(
    x: np.ndarray, flags: np.ndarray, weights: np.ndarray, seed: int, method: Method, domains: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """The flagship's head on standardised ``x``: dropout, linear, weighted BCE (with ``method.hidden``: a
    shared layer first, and ``method.contrastive`` adds its loss with ``domains`` as the positives' key);
    x -> probabilities."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    width = HIDDEN if method.hidden else x.shape[1]
    trunk = (
        torch.nn.Sequential(torch.nn.Linear(x.shape[1], HIDDEN), torch.nn.ReLU()) if method.hidden else None
    )
    classifier = torch.nn.Sequential(torch.nn.Dropout(DROPOUT), torch.nn.Linear(width, 2))
    head = torch.nn.Sequential(*([trunk] if trunk is not None else []), classifier)
    trained = torch.nn.ModuleList([head])
    contrastive = projector = None
    if method.contrastive is not None:
        positives = "domain" if method.contrastive == "stethoscope" else "label_across_domains"
        contrastive = StethoscopeGuidedSupConLoss(TEMPERATURE, domain_key="domain", positives=positives)
        projector = torch.nn.Sequential(
            torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, HIDDEN)
        )
        trained.append(projector)
    optimiser = torch.optim.AdamW(trained.parameters(), lr=LR, weight_decay=0.0)
    inputs, targets = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(flags, dtype=torch.float32)
    codes = torch.as_tensor(np.unique(domains, return_inverse=True)[1])
    w = torch.as_tensor(weights / weights.mean(), dtype=torch.float32)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(inputs), generator=generator).split(BATCH):
            features = trunk(inputs[batch]) if trunk is not None else inputs[batch]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                classifier(features), targets[batch], reduction="none"
            ).sum(1)
            loss = (loss * w[batch]).mean()
            if contrastive is not None:
                loss = loss + contrastive(projector(features), targets[batch], domain=codes[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    head.eval()

    def predict(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(head(torch.as_tensor(z, dtype=torch.float32))).numpy()

    return predict


def patient_groups(patients: np.ndarray, seed: int) -> np.ndarray:
    unique = np.unique(patients)
    np.random.default_rng(seed).shuffle(unique)
    group = dict(zip(unique, np.arange(len(unique)) % GROUPS, strict=True))
    return np.array([group[p] for p in patients])


def units(
    rows: dict[str, np.ndarray], probabilities: np.ndarray, key: str = "unit"
) -> tuple[np.ndarray, ...]:
    """(flags, probabilities, patients, sites) per unit: a recording's windows by their maximum."""
    names, first, inverse = np.unique(rows[key], return_index=True, return_inverse=True)
    pooled = np.zeros((len(names), 2))
    np.maximum.at(pooled, inverse, probabilities)
    site = rows["site"][first] if "site" in rows else None
    return rows["flags"][first], pooled, rows["patient"][first], site


@dataclass
class Trained:
    predict_target: Callable[[dict], np.ndarray]
    thresholds: tuple[float, float]
    oof: np.ndarray
    pool: dict[str, np.ndarray]
    head: Callable[[np.ndarray], np.ndarray]


def train(method: Method, pool: dict[str, np.ndarray], seed: int) -> Trained:
    groups_of = pool["site"] if method.per_site_norm else None
    weights = pool["weight"].copy()
    domains = pool["site"] if method.contrastive == "class_across_sites" else pool["stethoscope"]
    if method.site_balanced:
        for site in np.unique(pool["site"]):
            rows = pool["site"] == site
            weights[rows] *= weights.sum() / (len(np.unique(pool["site"])) * weights[rows].sum())

    def fit(rows: np.ndarray) -> tuple[Callable, Callable]:
        norm = standardiser(pool["x"][rows], None if groups_of is None else groups_of[rows])
        x = norm(pool["x"][rows], None if groups_of is None else groups_of[rows])
        return norm, fit_head(x, pool["flags"][rows], weights[rows], seed, method, domains[rows])

    folds = patient_groups(pool["patient"], seed)
    oof = np.zeros((len(folds), 2))
    for g in range(GROUPS):
        held = folds == g
        norm, head = fit(~held)
        oof[held] = head(norm(pool["x"][held], None if groups_of is None else groups_of[held]))
    flags, probs, _, sites = units(pool, oof)
    thresholds = tune_thresholds(flags, probs, domains=sites if method.worst_site_thresholds else None)
    norm, head = fit(np.ones(len(folds), dtype=bool))

    def transform(x: np.ndarray) -> np.ndarray:
        return norm(x, None if groups_of is None else np.full(len(x), "target"))

    return Trained(lambda rows: head(transform(rows["x"])), thresholds, oof, pool, head)


def score(flags: np.ndarray, probs: np.ndarray, thresholds) -> dict[str, float]:
    decided = (probs >= np.asarray(thresholds)).astype(np.int64)
    s = icbhi_scores(flags_to_classes(flags), flags_to_classes(decided), warn=False)
    return {k: 100 * float(s[k]) for k in ("icbhi_score", "sensitivity", "specificity")}


def targets_of(sets: dict, site: str) -> dict[str, dict[str, np.ndarray]]:
    """The held-out site's scored unit sets: name -> rows with ``unit`` (what one decision covers)."""
    out = {}
    for name in {TRAIN_SETS[site], RECORDING_SETS.get(site, TRAIN_SETS[site])}:
        rows = take(sets[name], ~sets[name]["poor"])
        per_recording = name in RECORDING_SETS.values()
        rows["unit"] = rows["recording"] if per_recording else np.arange(len(rows["patient"])).astype(str)
        out[name] = rows
    return out


def evaluate_target(
    name: str, rows: dict, runs: list[tuple[np.ndarray, tuple[float, float]]]
) -> dict[str, float]:
    """Scores of one held-out unit set over the seeds' (window probabilities, thresholds)."""
    per_seed = []
    unit_runs = []
    _, first = np.unique(rows["unit"], return_index=True)
    for probs, given in runs:
        thresholds = np.asarray(given)
        thresholds = thresholds[first] if thresholds.ndim == 2 else thresholds  # per row: its unit's
        flags, unit_probs, patients, _ = units(rows, probs)
        unit_runs.append((unit_probs, thresholds))
        s = score(flags, unit_probs, thresholds)
        if name in CHALLENGE_TASKS:
            s["challenge_score"] = challenge_score(CHALLENGE_TASKS[name], flags, unit_probs >= thresholds)
        s |= {
            f"auc_{label}": 100 * roc_auc(flags[:, i], unit_probs[:, i])
            for i, label in enumerate(MULTI_LABEL_NAMES)
        }
        s["ceiling"] = decision_ceiling(flags, unit_probs) * 100
        per_seed.append(s)

    def statistic(index: np.ndarray) -> dict[str, float]:
        return {
            "icbhi_score": statistics.fmean(
                score(flags[index], p[index], t[index] if np.ndim(t) == 2 else t)["icbhi_score"]
                for p, t in unit_runs
            )
        }

    result = {key: statistics.fmean(s[key] for s in per_seed) for key in per_seed[0]}
    result["per_seed"] = [s["icbhi_score"] for s in per_seed]
    result["ci"] = patient_bootstrap(statistic, patients, resamples=1000, seed=0)["icbhi_score"]
    result["units"] = len(flags)
    return result


def challenge_score(task: str, flags: np.ndarray, decided: np.ndarray) -> float:
    """The SPRSound challenge's Score (%) on ``task`` of the units' decided (crackle, wheeze) flags."""
    truth, guess = (flags_to_sprsound(task, f.astype(np.int64)) for f in (flags, decided))
    return 100 * sprsound_scores(task, truth, guess, warn=False)["score"]


def baselines(sets: dict, site: str, pool: dict) -> dict[str, dict[str, dict]]:
    """all-normal, class prior and log-mel regression on each of the held-out site's unit sets."""
    from _common import fit_label_regressions

    out: dict[str, dict[str, dict]] = {"all_normal": {}, "class_prior": {}, "logmel_lr": {}}
    predict = fit_label_regressions(pool["logmel"], pool["flags"])
    pool_flags, _, _, _ = units(pool, np.zeros((len(pool["unit"]), 2)))
    shares = class_prior(flags_to_classes(pool_flags))
    for name, rows in targets_of(sets, site).items():
        flags, probs, _, _ = units(rows, predict(rows["logmel"]))
        classes = flags_to_classes(flags)
        normal = score(flags, np.zeros_like(probs), (0.5, 0.5))
        out["all_normal"][name] = normal | {"ci": [normal["icbhi_score"]] * 2, "units": len(flags)}
        if name in CHALLENGE_TASKS:
            out["all_normal"][name]["challenge_score"] = challenge_score(
                CHALLENGE_TASKS[name], flags, np.zeros_like(flags)
            )
        # expected score of drawing each unit's class from the pool's shares: Sp = share of normal, Se = ...
        se = sum(shares[c] * np.mean(classes[classes > 0] == c) for c in range(1, 4)) * 100
        sp = shares[0] * 100
        out["class_prior"][name] = {
            "icbhi_score": (se + sp) / 2,
            "sensitivity": se,
            "specificity": sp,
            "ci": [],
            "units": len(flags),
        }
        out["logmel_lr"][name] = evaluate_target(name, rows, [(predict(rows["logmel"]), (0.5, 0.5))]) | {
            "per_seed": []
        }
    return out


def in_domain(sets: dict, site: str, seeds: list[int], method: Method) -> dict[str, dict]:
    """``method`` with the site in training: its patients in :data:`GROUPS` folds (seed 0), each fold scored
    by a head trained on every other site and the site's other folds (thresholds cross-fitted on that
    pool); the folds' predictions together, decided at their own fold's thresholds."""
    targets = targets_of(sets, site)
    patients = np.unique(np.concatenate([rows["patient"] for rows in targets.values()]))
    fold_of = dict(zip(patients, patient_groups(patients, 0), strict=True))
    runs: dict[str, list] = {name: [] for name in targets}
    for seed in seeds:
        probs = {name: np.zeros((len(rows["patient"]), 2)) for name, rows in targets.items()}
        given = {name: np.zeros((len(rows["patient"]), 2)) for name, rows in targets.items()}
        for fold in range(GROUPS):
            held = frozenset(p for p, f in fold_of.items() if f == fold)
            trained = train(method, training_pool(method, pool_of(sets, None, held), None), seed)
            for name, rows in targets.items():
                chosen = np.isin(rows["patient"], list(held))
                probs[name][chosen] = trained.predict_target(take(rows, chosen))
                given[name][chosen] = trained.thresholds
        for name in targets:
            runs[name].append((probs[name], given[name]))
    return {name: evaluate_target(name, targets[name], r) for name, r in runs.items()}


def run(sets: dict, seeds: list[int]) -> dict:
    results: dict = {}
    for site in SITES:
        pool = pool_of(sets, site)
        targets = targets_of(sets, site)
        site_results = baselines(sets, site, pool)
        trained_by: dict[str, dict[int, Trained]] = {}
        for method in METHODS:
            method_pool = training_pool(method, pool, site)
            if method_pool is None:
                continue
            began = time.perf_counter()
            runs: dict[str, list] = {name: [] for name in targets}
            for seed in seeds:
                trained = train(method, method_pool, seed)
                if method.name in CALIBRATED:
                    trained_by.setdefault(method.name, {})[seed] = trained
                for name, rows in targets.items():
                    runs[name].append((trained.predict_target(rows), trained.thresholds))
            site_results[method.name] = {
                name: evaluate_target(name, targets[name], r) for name, r in runs.items()
            }
            print(f"{site} {method.name}: {time.perf_counter() - began:.0f} s", flush=True)
        for method in IN_DOMAIN:
            if method.train_sites is not None and site not in method.train_sites:
                continue  # it never learns from the site: its held-out scores are its new patients' too
            began = time.perf_counter()
            site_results[f"in_domain:{method.name}"] = in_domain(sets, site, seeds, method)
            print(f"{site} in domain {method.name}: {time.perf_counter() - began:.0f} s", flush=True)
        for name, models in trained_by.items():
            prefix = "calibrate:" if name == "pooled" else f"calibrate:{name}:"
            for k in CALIBRATION_PATIENTS:
                for guarded, suffix in ((False, ""), (True, "_guarded")):
                    site_results[f"{prefix}{k}_patients{suffix}"] = {
                        unit_set: few_shot(
                            targets[unit_set], [models[seed] for seed in seeds], k, guarded=guarded
                        )
                        for unit_set in targets
                    }
        results[site] = site_results
    return results


def few_shot(
    rows: dict, models: list[Trained], patients_given: int, *, guarded: bool = False
) -> dict[str, float]:
    """Thresholds re-tuned on ``patients_given`` labelled patients of the target (see
    :data:`CALIBRATION_PATIENTS`): per seed, the mean over subsets of the held-out patients' score with the
    re-tuned thresholds (``per_seed``) and with the model's own (``per_seed_reference``). ``guarded``: the
    re-tuned thresholds only where, left one patient out at a time, they beat the model's on the given
    patients (:func:`_calibration.cross_validated`), the model's otherwise."""
    calibrated, reference = [], []
    for seed, trained in enumerate(models):
        flags, probs, patients, _ = units(rows, trained.predict_target(rows))
        rng = np.random.default_rng(seed)
        names = np.unique(patients)
        pairs = []
        for _ in range(CALIBRATION_REPEATS):
            given = np.isin(patients, rng.choice(names, patients_given, replace=False))
            classes = flags_to_classes(flags[given])
            if not (classes == 0).any() or not (classes > 0).any():
                continue  # fit-site refuses a sample without both normal and abnormal units
            tuned = choose_thresholds(flags[given], probs[given]).thresholds
            if guarded:
                sample = LabelledSample(probs[given], flags[given], patients[given], "unit")
                if not retuning_wins(cross_validated(sample, trained.thresholds)):
                    tuned = trained.thresholds
            rest = ~given
            pairs.append(
                (score(flags[rest], probs[rest], tuned)["icbhi_score"],
                 score(flags[rest], probs[rest], trained.thresholds)["icbhi_score"])
            )  # fmt: skip
        calibrated.append(statistics.fmean(p[0] for p in pairs))
        reference.append(statistics.fmean(p[1] for p in pairs))
    return {
        "icbhi_score": statistics.fmean(calibrated),
        "reference_score": statistics.fmean(reference),
        "per_seed": calibrated,
        "per_seed_reference": reference,
        "units": len(np.unique(rows["unit"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    sets = embed_sites(args.shared, args.work, args.work / "site_features")
    print(f"features: {time.perf_counter() - began:.0f} s", flush=True)
    for rows in sets.values():
        rows["patient"] = rows["patient"].astype(str)
    results = run(sets, [int(s) for s in args.seeds.split(",")])
    (args.work / "loso_results.json").write_text(json.dumps(results, indent=1))
    print(f"\nmachine: {cpu_name()}, {torch.get_num_threads()} threads, load {load_average()}")
    print(f"total {time.perf_counter() - began:.0f} s\n")
    print(table(results))
    print()
    print(paired(results))
    print()
    print(domain_gap(results))
    print()
    print(shipping(results, SHIPPING, reference="icbhi_only"))
    print()
    print(challenge(results["sprsound"], CHALLENGE_TASKS))


if __name__ == "__main__":
    main()

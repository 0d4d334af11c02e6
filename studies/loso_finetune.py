"""Leave one site out with the encoder fine-tuned on two hospitals, with and without stethoscope-guided
contrastive learning (Kim et al., ICASSP 2024): issue 33's last named way out, measured.

    python studies/loso_finetune.py --work /tmp/loso [--shared ../shared] [--seeds 0,1,2]

The units are those of ``studies/leave_one_site_out.py`` (ICBHI cycles, KAUH 4-s windows carrying their
recording's flags, SPRSound events; 32 kHz, 4 kHz low-pass), cut once and kept as waveforms. For each
held-out site and seed, the AudioSet EfficientAT mn04 (converted into ``--work``) is fine-tuned end to end on
the two other sites with the project's fine-tuning rows' settings (4-s input, AdamW 1e-4, batch 16) in a
plain loop at a constant learning rate (``respira train`` cannot hold ICBHI out), with a
shared layer of 128 before the head (``head_hidden_size``, SG-SCL's control), ``head_norm`` and dropout 0.3;
BCE on crackle and wheeze, a KAUH recording's windows weighted to count once. ``sg_scl`` adds λ = 1 times
:class:`respira.losses.StethoscopeGuidedSupConLoss` (the paper's positives: the same stethoscope model, τ
0.07) on a 128-d projector of that layer. The stethoscopes are ICBHI's four (AKG C417L, Littmann 3200,
Littmann Classic II SE, Meditron), KAUH's Littmann 3200 — the same model as ICBHI's — and SPRSound's
Yunting II. 5 epochs (each rotation's pool is 3-5× ICBHI's cycles: 490-830 steps), the last one kept.

One patient group in five of each training site (seeded) is held out of training for the decision: thresholds
tuned there, pooled and worst-site (``threshold_aggregation: worst_domain`` by site). Nothing of the held-out
site chooses anything. It is scored as ``leave_one_site_out.py`` scores it (ICBHI per cycle, KAUH per
recording by the maximum of its windows, SPRSound per event and per recording), with the same patient
bootstrap, AUCs and decision ceiling. Every run is saved
(``--work/loso_finetune/<site>/<method>/seed_<s>.npz``) and skipped when present, so the study resumes;
the tables are printed from what is saved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from _loso_tables import paired_cells, table
from _machine import cpu_name, load_average
from _site_features import RATE, SITES, unit_sets
from _study_methods import ROOT
from leave_one_site_out import evaluate_target, patient_groups, pool_of, take, targets_of, units
from respira.audio.dsp import pad_batch
from respira.labels import MULTI_LABEL
from respira.losses import StethoscopeGuidedSupConLoss
from respira.metrics.thresholds import tune_thresholds

EPOCHS, BATCH, LR, SECONDS, HIDDEN, DROPOUT, SG_SCL_WEIGHT = 5, 16, 1e-4, 4.0, 128, 0.3, 1.0
VALIDATION_GROUP = 0
RULES = ("pooled", "worst_site")


@dataclass(frozen=True)
class Method:
    name: str
    sg_scl: bool


METHODS = (Method("finetune", False), Method("finetune_sg_scl", True))


def waveform_sets(shared: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every unit set of the three sites: metadata arrays, ``wave`` (an object array of waveforms) and
    ``patient`` as text."""
    sets: dict[str, dict[str, np.ndarray]] = {}
    for site in SITES:
        for name, (waves, meta) in unit_sets(shared, site).items():
            column = np.empty(len(waves), dtype=object)
            column[:] = waves
            sets[name] = meta | {"wave": column, "patient": meta["patient"].astype(str)}
    return sets


def new_model(encoder: Path, method: Method):
    from respira.models import RespiraForAudioClassification

    return RespiraForAudioClassification.from_encoder_pretrained(
        str(encoder),
        sampling_rate=RATE,
        target_seconds=SECONDS,
        pooling="mean",
        problem_type=MULTI_LABEL,
        freeze_encoder=False,
        head_norm=True,
        head_dropout=DROPOUT,
        head_hidden_size=HIDDEN,
        projector_dim=HIDDEN if method.sg_scl else None,
    )


def fine_tune(encoder: Path, method: Method, rows: dict[str, np.ndarray], seed: int):
    """The model fine-tuned on ``rows`` (``wave``, ``flags``, ``weight``, ``stethoscope``); per epoch its
    mean task and contrastive losses are printed."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = new_model(encoder, method).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=LR)
    contrastive = (
        StethoscopeGuidedSupConLoss(temperature=0.07, domain_key="device") if method.sg_scl else None
    )
    codes = np.unique(rows["stethoscope"], return_inverse=True)[1]
    flags = torch.as_tensor(rows["flags"], dtype=torch.float32)
    weights = torch.as_tensor(rows["weight"] / rows["weight"].mean(), dtype=torch.float32)
    for epoch in range(EPOCHS):
        task_sum, aux_sum, steps = 0.0, 0.0, 0
        for batch in torch.randperm(len(flags), generator=generator).split(BATCH):
            index = batch.numpy()
            inputs, mask = pad_batch(list(rows["wave"][index]))
            output = model(input_values=inputs, attention_mask=mask)
            task = torch.nn.functional.binary_cross_entropy_with_logits(
                output.logits, flags[batch], reduction="none"
            ).sum(1)
            loss = (task * weights[batch]).mean()
            task_sum += loss.item()
            if contrastive is not None:
                aux = contrastive(output.projections, flags[batch], device=torch.as_tensor(codes[index]))
                loss = loss + SG_SCL_WEIGHT * aux
                aux_sum += aux.item()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            steps += 1
        print(
            f"  epoch {epoch + 1}: task {task_sum / steps:.4f} contrastive {aux_sum / steps:.4f}", flush=True
        )
    return model.eval()


def probabilities(model, waves: np.ndarray) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(waves), 32):
            inputs, mask = pad_batch(list(waves[start : start + 32]))
            out.append(torch.sigmoid(model(input_values=inputs, attention_mask=mask).logits).numpy())
    return np.concatenate(out)


def run_one(encoder: Path, sets: dict, site: str, method: Method, seed: int, path: Path) -> None:
    """Train, decide and predict one rotation x method x seed; saved to ``path`` (staged, then moved)."""
    pool = pool_of(sets, site)
    validation = patient_groups(pool["patient"], seed) == VALIDATION_GROUP
    began = time.perf_counter()
    model = fine_tune(encoder, method, take(pool, ~validation), seed)
    trained = time.perf_counter() - began
    held = take(pool, validation)
    flags, probs, _, sites = units(held, probabilities(model, held["wave"]))
    arrays = {
        "thresholds_pooled": np.asarray(tune_thresholds(flags, probs)),
        "thresholds_worst_site": np.asarray(tune_thresholds(flags, probs, domains=sites)),
        "train_seconds": np.asarray(trained),
    }
    for name, rows in targets_of(sets, site).items():
        arrays[f"probs/{name}"] = probabilities(model, rows["wave"])
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".partial.npz")
    np.savez(staged, **arrays)
    staged.replace(path)
    total = time.perf_counter() - began
    print(f"{site} {method.name} seed {seed}: trained {trained:.0f} s, total {total:.0f} s", flush=True)


def run_path(work: Path, site: str, method: Method, seed: int) -> Path:
    """Where one rotation x method x seed is saved."""
    return work / site / method.name / f"seed_{seed}.npz"


def report(sets: dict, work: Path, seeds: list[int]) -> dict:
    """``{site: {method:rule: {unit set: evaluate_target(...)}}}`` over the saved seeds (a rotation or
    seed not run yet is left out)."""
    results: dict = {}
    for site in SITES:
        for method in METHODS:
            present = [s for s in seeds if run_path(work, site, method, s).is_file()]
            saved = [np.load(run_path(work, site, method, s)) for s in present]
            if not saved:
                continue
            targets = targets_of(sets, site)
            for rule in RULES:
                runs = {
                    name: [(s[f"probs/{name}"], tuple(s[f"thresholds_{rule}"])) for s in saved]
                    for name in targets
                }
                results.setdefault(site, {})[f"{method.name}:{rule}"] = {
                    name: evaluate_target(name, targets[name], r) | {"seeds": present}
                    for name, r in runs.items()
                }
    return results


def paired(results: dict, reference: str, other: str) -> str:
    """``other`` − ``reference`` per held-out set x seed (both present), and the mean AUC shifts."""
    pairs, auc = [], {"auc_crackle": [], "auc_wheeze": []}
    for site, methods in results.items():
        if reference not in methods or other not in methods:
            continue
        for name, r in methods[other].items():
            base = methods[reference][name]
            pairs.append((f"{site}/{name}", r["per_seed"], base["per_seed"]))
            for key, shifts in auc.items():
                shifts.append(r[key] - base[key])
    if sum(len(scores) for _, scores, _ in pairs) < 2:
        return f"{other} − {reference}: fewer than two pairs"
    shifts = ", ".join(f"{key} {statistics.fmean(v):+.1f}" for key, v in auc.items())
    return f"| {other} − {reference} | {paired_cells(pairs)} | {shifts} |"


FROZEN_RULES = {"pooled": "pooled", "worst_site": "worst_site_thresholds"}
"""Each threshold rule's row of ``leave_one_site_out.py``'s frozen-encoder head."""


def with_frozen_head(results: dict, frozen: dict) -> dict:
    """``results`` with ``frozen:<rule>``: the frozen-encoder head of ``leave_one_site_out.py`` (its
    ``loso_results.json``, run with seeds 0, 1, 2, ...) at the same rule, on the same held-out sets, with
    the scores of the seeds ``results`` has (pairs are seed by seed)."""
    merged = {site: dict(methods) for site, methods in results.items()}
    for site, methods in merged.items():
        seeds = next(iter(next(iter(methods.values())).values()))["seeds"]
        for rule, name in FROZEN_RULES.items():
            methods[f"frozen:{rule}"] = {
                unit_set: entry | {"per_seed": [entry["per_seed"][s] for s in seeds]}
                for unit_set, entry in frozen[site][name].items()
            }
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--report_only", action="store_true", help="print the tables of the saved runs")
    args = parser.parse_args()
    encoder, out = args.work / "efficientat_mn04", args.work / "loso_finetune"
    if not (encoder / "config.json").is_file():
        raise SystemExit(
            f"{encoder}: run studies/leave_one_site_out.py --work {args.work} first (it converts mn04)"
        )
    seeds = [int(s) for s in args.seeds.split(",")]
    began = time.perf_counter()
    sets = waveform_sets(args.shared)
    print(f"units: {time.perf_counter() - began:.0f} s", flush=True)
    if not args.report_only:
        for seed in seeds:  # seed-major: an interrupted study has whole seeds of every rotation
            for site in SITES:
                for method in METHODS:
                    path = run_path(out, site, method, seed)
                    if not path.is_file():
                        run_one(encoder, sets, site, method, seed, path)
    results = report(sets, out, seeds)
    print(f"\nmachine: {cpu_name()}, {torch.get_num_threads()} threads, load {load_average()}\n")
    print(table(results))
    print(
        "\n| pair | Δ ICBHI score per rotation (mean over seeds) | mean Δ | 95 % t-interval | better in ",
        end="",
    )
    print("| Δ AUC |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rule in RULES:
        print(paired(results, f"finetune:{rule}", f"finetune_sg_scl:{rule}"))
    frozen = args.work / "loso_results.json"
    if frozen.is_file():
        with_frozen = with_frozen_head(results, json.loads(frozen.read_text()))
        for rule in RULES:
            for method in METHODS:
                print(paired(with_frozen, f"frozen:{rule}", f"{method.name}:{rule}"))


if __name__ == "__main__":
    main()

"""Issue 19's goal, checked on the transfer study's results (``studies/real_data.py --protocol``).

    python studies/transfer_report.py --work DIR [--shared ../shared] [--reference transfer_flagship]

For ``leave_one_device_out`` and ``icbhi_to_kauh``, each ``transfer_*`` method with results in
``DIR/results_<protocol>/``: its seeds, the ICBHI score's mean over fold x seed with two 95 % intervals
(Student t over the fold x seed runs, as ``real_data.py`` prints; and a stricter one: leave one device
out, t over the per-device means, since the seeds share the folds; ICBHI → KAUH, a patient bootstrap of
the mean over seeds of the score of the same 168 recordings), Sp, Se, both AUCs, the paired difference
to ``--reference`` by fold x seed (score and AUCs), the score per held-out device or KAUH filter mode
(mean over seeds), and whether it meets the goal: a mean of at least 55 with both intervals above 50,
and neither AUC below the reference's. The last column is the run's *decision ceiling*: its score at
the thresholds tuned on its own test data (the held-out device's cycles, the KAUH recordings), what any
threshold rule (label-free adaptation, few-shot calibration) could reach with that model's ranking.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

import _protocols as protocols
from respira.metrics.recording_level import patient_bootstrap, recording_level_scores
from respira.training.run.fold_summary import t_interval

GOAL, CHANCE = 0.55, 0.50
TRANSFER = ("leave_one_device_out", "icbhi_to_kauh")


def group_means(runs: list[dict[str, Any]], names: list[str]) -> dict[str, float]:
    """Leave one device out: the mean over seeds of each fold's score, named by its device."""
    scores = defaultdict(list)
    for run in runs:
        scores[names[run["fold"]]].append(run["icbhi_score"])
    return {name: statistics.fmean(values) for name, values in sorted(scores.items())}


def strict_interval(protocol: str, runs: list[dict[str, Any]], names: list[str]) -> tuple[float, float]:
    """The stricter 95 % interval of the mean score (see the module docstring)."""
    if protocol == "leave_one_device_out":
        return t_interval(list(group_means(runs, names).values()))
    return kauh_bootstrap(runs)


def kauh_bootstrap(runs: list[dict[str, Any]], resamples: int = 1000) -> tuple[float, float]:
    """Patient-bootstrap 95 % interval of the mean over seeds of the ICBHI-style score on KAUH, each seed
    scored at its own decisions on the same resampled recordings."""
    first = runs[0]["recordings"]
    targets = np.asarray(first["targets"])
    decided = [np.asarray(run["recordings"]["decisions"], float) for run in runs]

    def statistic(indices: np.ndarray) -> dict[str, float]:
        scores = [
            recording_level_scores(targets[indices], d[indices], (0.5, 0.5))["icbhi"]["icbhi_score"]
            for d in decided
        ]
        return {"score": float(np.mean(scores))}

    low, high = patient_bootstrap(statistic, first["patient_id"], resamples=resamples)["score"]
    return float(low), float(high)


def meets_goal(result: dict[str, Any], strict: tuple[float, float], reference: dict[str, Any]) -> bool:
    """Mean ≥ 55, both intervals above 50, and neither AUC lower than the reference's on the same fold x
    seed runs (paired mean difference ≥ 0; the reference itself meets this)."""
    low = min(result["icbhi_score_ci95"][0], strict[0]) if "icbhi_score_ci95" in result else strict[0]
    differences = [
        protocols.paired_difference(result["per_fold"], reference["per_fold"], f"auc_{label}").get(
            "mean", 0.0
        )
        for label in ("crackle", "wheeze")
    ]
    return result["icbhi_score_mean"] >= GOAL and low > CHANCE and min(differences) >= -1e-9


def kauh_modes(work: Path, name: str, seeds: list[int]) -> dict[str, float]:
    """ICBHI → KAUH: the mean over seeds of the score per filter mode (``respira evaluate``'s groups)."""
    scores = defaultdict(list)
    for seed in seeds:
        metrics = json.loads(
            (work / "icbhi_to_kauh/runs" / name / f"seed_{seed}/kauh/metrics.json").read_text()
        )
        for mode, group in metrics["groups"].items():
            if mode != "overall":
                scores[mode].append(group["icbhi"]["icbhi_score"])
    return {mode: statistics.fmean(values) for mode, values in sorted(scores.items())}


def report(work: Path, devices: list[str], reference: str) -> str:
    lines = []
    for protocol in TRANSFER:
        folder = work / f"results_{protocol}"
        results = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("transfer_*.json"))}
        if reference not in results:
            continue
        lines += [
            f"\n{protocol} (in %; paired = method − {reference} by fold x seed, 95 % t-interval, wins/n)",
            "| method | seeds | runs | ICBHI score | 95 % CI (fold x seed) | 95 % CI (strict) | Sp | Se "
            "| AUC crackle | AUC wheeze | − reference: score | AUC crackle | AUC wheeze | per device / mode "
            "| goal | decision ceiling (runs) |",
            "| --- " * 16 + "|",
        ]
        for name, result in sorted(results.items(), key=lambda item: item[0] != reference):
            runs = result["per_fold"]
            seeds = sorted({run["seed"] for run in runs})
            strict = strict_interval(protocol, runs, devices)
            low, high = result.get("icbhi_score_ci95", (None, None))
            cells = [name, ",".join(map(str, seeds)), str(len(runs)), pm(result, "icbhi_score")]
            cells.append("n/a" if low is None else f"{100 * low:.1f} – {100 * high:.1f}")
            cells.append(f"{100 * strict[0]:.1f} – {100 * strict[1]:.1f}")
            cells += [pm(result, key) for key in ("specificity", "sensitivity", "auc_crackle", "auc_wheeze")]
            for key in ("icbhi_score", "auc_crackle", "auc_wheeze"):
                same = name == reference
                cells.append(
                    ""
                    if same
                    else paired(protocols.paired_difference(runs, results[reference]["per_fold"], key))
                )
            groups = (
                group_means(runs, devices)
                if protocol == "leave_one_device_out"
                else kauh_modes(work, name, seeds)
            )
            cells.append(" / ".join(f"{100 * v:.1f}" for v in groups.values()))
            cells.append("yes" if meets_goal(result, strict, results[reference]) else "no")
            ceilings = protocols.ceiling_runs(protocol, result, work / protocol / "runs" / name)
            cells.append(ceiling_cell(ceilings, len(runs)))
            lines.append("| " + " | ".join(cells) + " |")
        names = devices if protocol == "leave_one_device_out" else list(kauh_modes(work, reference, [0]))
        lines.append(f"(per device / mode: {' / '.join(names)})")
    return "\n".join(lines)


def ceiling_cell(ceilings: list[dict[str, Any]], runs: int) -> str:
    """Mean ± sd of the runs' decision ceilings (thresholds tuned on their own test data), and how many
    of the method's runs had the predictions to compute it."""
    if not ceilings:
        return f"n/a (0/{runs})"
    values = [100 * c["icbhi_score"] for c in ceilings]
    spread = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.1f}{spread} ({len(values)}/{runs})"


def pm(result: dict[str, Any], key: str) -> str:
    text = f"{100 * result[f'{key}_mean']:.1f}"
    return text + (f" ± {100 * result[f'{key}_std']:.1f}" if f"{key}_std" in result else "")


def paired(difference: dict[str, Any]) -> str:
    if "mean" not in difference:
        return ""
    text = f"{100 * difference['mean']:+.1f}"
    if "ci95" in difference:
        text += f" ({100 * difference['ci95'][0]:+.1f} – {100 * difference['ci95'][1]:+.1f})"
    return text + f", {difference['wins']}/{difference['n']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--reference", default="transfer_flagship")
    args = parser.parse_args()
    devices = protocols.corpus_devices(Path(args.shared) / "icbhi")
    print(report(Path(args.work), devices, args.reference))


if __name__ == "__main__":
    main()

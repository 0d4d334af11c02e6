"""The real-data study's tables (``studies/real_data.py``): one row per method with its paired
difference to the reference, the KAUH patient-bootstrap comparisons, and the in- vs out-of-domain gaps."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import _protocols as protocols
from _study_methods import BASELINES, DIAGNOSTICS, LABELS, METHODS


def percent(result: dict[str, Any], key: str) -> str:
    if f"{key}_mean" not in result:
        return "n/a"
    text = f"{100 * result[f'{key}_mean']:.1f}"
    if f"{key}_std" in result:
        text += f" ± {100 * result[f'{key}_std']:.1f}"
    return text


def signed(difference: dict[str, Any]) -> str:
    """``+m ± s (low – high), w/n better`` of a paired difference, in points."""
    if "mean" not in difference:
        return ""
    text = f"{100 * difference['mean']:+.1f}"
    if "std" in difference:
        low, high = difference["ci95"]
        text += f" ± {100 * difference['std']:.1f} ({100 * low:+.1f} – {100 * high:+.1f})"
    return text + f", {difference['wins']}/{difference['n']}"


def table(results: dict[str, dict[str, Any]], reference: str = "") -> str:
    """One row per method; with ``reference`` present, its paired difference to it (fold x seed)."""
    compare = reference in results
    lines = [
        "| method | ICBHI score | 95 % CI | out-of-fold | Sp | Se | AUC crackle | AUC wheeze | time |"
        + (" − reference, paired (95 % CI), better |" if compare else ""),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if compare else ""),
    ]
    for name in (*BASELINES, *DIAGNOSTICS, *METHODS):
        if name not in results:
            continue
        result = results[name]
        low, high = result.get("icbhi_score_ci95", (math.nan, math.nan))
        seconds = result.get("seconds")
        row = (
            f"| {LABELS[name]} | {percent(result, 'icbhi_score')} | {100 * low:.1f} – {100 * high:.1f} "
            f"| {100 * result['out_of_fold_icbhi_score']:.1f} | {percent(result, 'specificity')} "
            f"| {percent(result, 'sensitivity')} | {percent(result, 'auc_crackle')} "
            f"| {percent(result, 'auc_wheeze')} | {'' if seconds is None else f'{seconds / 60:.1f} min'} |"
        )
        if compare:
            same = name == reference
            difference = (
                {}
                if same
                else protocols.paired_difference(result["per_fold"], results[reference]["per_fold"])
            )
            row += " reference |" if same else f" {signed(difference)} |"
        lines.append(row)
    return "\n".join(lines)


def kauh_comparisons(results: dict[str, dict[str, Any]], reference: str) -> str:
    """icbhi_to_kauh: each method's paired patient-bootstrap interval against ``reference`` per seed."""
    if reference not in results:
        return ""
    lines = []
    for name in METHODS:
        if name == reference or name not in results:
            continue
        for run in results[name]["per_fold"]:
            other = next((r for r in results[reference]["per_fold"] if r["seed"] == run["seed"]), None)
            if other is None:
                continue
            low, high = protocols.kauh_paired_bootstrap(run, other)
            difference = 100 * (run["icbhi_score"] - other["icbhi_score"])
            lines.append(
                f"- {name} − {reference}, seed {run['seed']}: {difference:+.1f} points "
                f"(paired patient bootstrap 95 % CI {100 * low:+.1f} – {100 * high:+.1f})"
            )
    return "\n".join(lines)


def gap_table(work: Path) -> str:
    """Per method: in-domain (patient_kfold) and out-of-domain (the two others) mean scores, and the gap
    in - out with a Welch 95 % interval (independent folds)."""
    every = {protocol: load_results(results_folder(work, protocol)) for protocol in protocols.PROTOCOLS}
    lines = [
        "| method | in domain (patient k-fold) | leave one device out | gap | ICBHI → KAUH | gap |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in (*BASELINES, *METHODS):
        inside = every["patient_kfold"].get(name)
        if inside is None or not any(name in every[p] for p in protocols.PROTOCOLS[1:]):
            continue
        scores = [run["icbhi_score"] for run in inside["per_fold"]]
        cells = [percent(inside, "icbhi_score")]
        for protocol in protocols.PROTOCOLS[1:]:
            outside = every[protocol].get(name)
            if outside is None:
                cells += ["", ""]
                continue
            others = [run["icbhi_score"] for run in outside["per_fold"]]
            gap = 100 * (statistics.fmean(scores) - statistics.fmean(others))
            interval = protocols.welch_interval(scores, others)
            cells += [
                percent(outside, "icbhi_score"),
                f"{gap:+.1f}"
                + ("" if interval is None else f" ({100 * interval[0]:+.1f} – {100 * interval[1]:+.1f})"),
            ]
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def results_folder(work: Path, protocol: str) -> Path:
    """Where a protocol's results live (``results/`` for patient_kfold, as before protocols existed)."""
    return work / ("results" if protocol == "patient_kfold" else f"results_{protocol}")


def load_results(folder: Path) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}

"""The tables ``studies/choose_detector.py`` writes, and its rule's verdict (:func:`verdict`).

``results`` is ``{held-out set: {"recordings", "patients", "reference", "entries": {entry: scores},
"pairs": {"A - B": {"gain", "low", "high"}}}}``: ``scores`` in %, with ``KEY_low`` / ``KEY_high`` interval
ends and ``per_seed``; a held-out set is a site (``kauh``, ``sprsound``) or ``icbhi <device>``.
"""

from __future__ import annotations

import math
import statistics

from _loso_tables import paired_cells
from respira.training.cross_validation import t_interval

TODAY, LODO_REFERENCE = "today", "recipe@26"


def _score(r: dict, key: str = "icbhi_score") -> str:
    low, high = r.get(f"{key}_low"), r.get(f"{key}_high")
    if low is None or math.isnan(low):  # no interval
        return "" if math.isnan(r[key]) else f"{r[key]:.1f}"
    return f"{r[key]:.1f} ({low:.1f}–{high:.1f})"


def scores_table(results: dict) -> str:
    lines = [
        "| held out | recordings (patients) | entry | ICBHI-style score (95 % CI) | Se | Sp | AUC crackle "
        "| AUC wheeze | seeds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for held, result in results.items():
        for entry, r in result["entries"].items():
            cells = [_score(r), f"{r['sensitivity']:.1f}", f"{r['specificity']:.1f}"]
            cells += [_score(r, "crackle_auc"), _score(r, "wheeze_auc")]
            seeds = ", ".join(f"{v:.1f}" for v in r["per_seed"])
            lines.append(
                f"| {held} | {result['recordings']} ({result['patients']}) | {entry} | {' | '.join(cells)} "
                f"| {seeds} |"
            )
    return "\n".join(lines)


def _gain(pair: dict | None) -> str:
    return "" if pair is None else f"{pair['gain']:+.1f} ({pair['low']:+.1f} to {pair['high']:+.1f})"


def sites_table(results: dict, sites: tuple[str, ...], candidates: tuple[str, ...]) -> str:
    """Each candidate on the held-out sites: its mean score over them and its paired difference with
    today's detector on each."""
    head = " | ".join(f"{site} − today's (95 % CI)" for site in sites)
    lines = [
        f"| candidate | mean score over {', '.join(sites)} | {head} |",
        "| --- " * (2 + len(sites)) + "|",
    ]
    for name in candidates:
        mean = statistics.fmean(results[s]["entries"][name]["icbhi_score"] for s in sites)
        gains = [_gain(results[s]["pairs"].get(f"{name} - {TODAY}")) for s in sites]
        lines.append(f"| {name} | {mean:.1f} | {' | '.join(gains)} |")
    return "\n".join(lines)


def _device_pairs(results: dict, devices: tuple[str, ...], name: str) -> list[tuple[str, list, list]]:
    return [
        (device, results[f"icbhi {device}"]["entries"][name]["per_seed"],
         results[f"icbhi {device}"]["entries"][LODO_REFERENCE]["per_seed"])
        for device in devices
    ]  # fmt: skip


def devices_table(results: dict, devices: tuple[str, ...], candidates: tuple[str, ...]) -> str:
    """Leave one device out: each candidate paired with :data:`LODO_REFERENCE` by device × seed."""
    lines = [
        f"| candidate − {LODO_REFERENCE} | Δ per device (mean over seeds) | mean Δ | 95 % t-interval "
        "| better in |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in (c for c in candidates if c != LODO_REFERENCE):
        lines.append(f"| {name} | {paired_cells(_device_pairs(results, devices, name))} |")
    return "\n".join(lines)


def bought_table(results: dict) -> str:
    """What the 39 patients bought: each kind's 65-patient form against its 26-patient form."""
    kinds = ("probe", "recipe", "multi_site")
    lines = ["| held out | " + " | ".join(f"{k}@65 − {k}@26 (95 % CI)" for k in kinds) + " |"]
    lines.append("| --- " * (1 + len(kinds)) + "|")
    for held, result in results.items():
        gains = [_gain(result["pairs"].get(f"{k}@65 - {k}@26")) for k in kinds]
        lines.append(f"| {held} | {' | '.join(gains)} |")
    return "\n".join(lines)


def verdict(
    results: dict, sites: tuple[str, ...], devices: tuple[str, ...], candidates: tuple[str, ...]
) -> str:
    """The rule of docs/history/sites.md, "Every patient we have", applied: one line."""
    eligible = [name for name in candidates if name.endswith("@65")]
    mean = {n: statistics.fmean(results[s]["entries"][n]["icbhi_score"] for s in sites) for n in eligible}
    challenger = max(eligible, key=lambda n: (round(mean[n], 1), n))
    pairs = [results[s]["pairs"][f"{challenger} - {TODAY}"] for s in sites]
    not_worse = all(p["high"] >= 0 for p in pairs)
    better = any(p["low"] > 0 for p in pairs)
    deltas = [
        a - b for _, s, r in _device_pairs(results, devices, challenger) for a, b in zip(s, r, strict=True)
    ]
    devices_ok = challenger == LODO_REFERENCE or t_interval(deltas)[1] >= 0
    ships = not_worse and better and devices_ok
    why = (
        f"held-out sites: not shown worse {'yes' if not_worse else 'no'}, shown better on one "
        f"{'yes' if better else 'no'}; leave one device out not shown worse than {LODO_REFERENCE} "
        f"{'yes' if devices_ok else 'no'}"
    )
    outcome = f"{challenger} replaces today's detector" if ships else "today's detector stays"
    over = ", ".join(sites)
    return f"Decision: challenger {challenger} (mean {mean[challenger]:.1f} over {over}); {why}: {outcome}."


def report(
    results: dict, sites: tuple[str, ...], devices: tuple[str, ...], candidates: tuple[str, ...]
) -> str:
    return "\n\n".join(
        [
            "Every held-out set, every entry (per recording; seed mean):",
            scores_table(results),
            "Held-out sites, paired with today's detector on the same recordings:",
            sites_table(results, sites, candidates),
            f"Leave one device out, paired with {LODO_REFERENCE} (today's recipe and data) by device × seed:",
            devices_table(results, devices, candidates),
            "What the 39 patients bought (65 − 26 patients, paired on the same recordings):",
            bought_table(results),
            verdict(results, sites, devices, candidates),
        ]
    )

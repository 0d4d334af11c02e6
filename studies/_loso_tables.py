"""The tables ``studies/leave_one_site_out.py`` prints from its results.

``results`` is ``{held-out site: {method: {unit set: scores}}}`` as ``leave_one_site_out.run`` returns it:
``scores`` has ``icbhi_score``, ``per_seed`` and usually ``ci``, ``sensitivity``, ``specificity``, the AUCs,
``ceiling`` and ``units``. A method named ``in_domain:<method>`` holds ``<method>`` with the site's own
patients in training (patient folds): it is present only where ``<method>`` learns from that site.
"""

from __future__ import annotations

import statistics

from respira.training.cross_validation import t_interval

BASELINES: tuple[str, ...] = ("all_normal", "class_prior", "logmel_lr")
IN_DOMAIN = "in_domain:"


def table(results: dict) -> str:
    lines = [
        "| held out | scored | method | ICBHI score (95 % CI) | Se | Sp | AUC crackle | AUC wheeze | ceiling "
        "| seeds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for site, methods in results.items():
        for method, sets in methods.items():
            for name, r in sorted(sets.items()):
                ci = f" ({r['ci'][0]:.1f}–{r['ci'][1]:.1f})" if r.get("ci") else ""
                auc = [f"{r[k]:.1f}" if k in r else "" for k in ("auc_crackle", "auc_wheeze", "ceiling")]
                seeds = ", ".join(f"{v:.1f}" for v in r.get("per_seed", []))
                if "reference_score" in r:
                    ci = f" (unchanged thresholds {r['reference_score']:.1f}, same patients)"
                se_sp = [f"{r[k]:.1f}" if k in r else "" for k in ("sensitivity", "specificity")]
                lines.append(
                    f"| {site} | {name} ({r['units']}) | {method} | {r['icbhi_score']:.1f}{ci} | "
                    f"{' | '.join(se_sp)} | {' | '.join(auc)} | {seeds} |"
                )
    return "\n".join(lines)


def paired_cells(pairs: list[tuple[str, list[float], list[float]]]) -> str:
    """The cells of a paired row — each rotation's mean difference, the mean difference, its 95 % t-interval
    and how many pairs are better — of ``pairs``: (rotation, scores, reference scores) seed by seed."""
    deltas, per_rotation = [], []
    for rotation, scores, reference in pairs:
        d = [a - b for a, b in zip(scores, reference, strict=True)]
        deltas += d
        per_rotation.append(f"{rotation} {statistics.fmean(d):+.1f}")
    low, high = t_interval(deltas)
    wins = sum(x > 0 for x in deltas)
    return (
        f"{'; '.join(per_rotation)} | {statistics.fmean(deltas):+.2f} | {low:+.2f} to {high:+.2f} | "
        f"{wins}/{len(deltas)}"
    )


def _paired_row(label: str, pairs: list[tuple[str, list[float], list[float]]]) -> str:
    return f"| {label} | {paired_cells(pairs)} |"


def paired(results: dict, reference: str = "pooled") -> str:
    """Each method against ``reference``, paired by held-out set x seed."""
    lines = ["| method | Δ ICBHI score per rotation (mean over seeds) | mean Δ | 95 % t-interval "
             "| better in |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    names = [
        m
        for m in dict.fromkeys(m for methods in results.values() for m in methods)
        if m not in (*BASELINES, reference) and not m.startswith(IN_DOMAIN)
    ]
    for method in names:
        pairs = []
        for site, methods in results.items():
            for name, r in methods.get(method, {}).items():
                base = r.get("per_seed_reference", methods[reference][name]["per_seed"])
                pairs.append((f"{site}/{name}", r["per_seed"], base))
        lines.append(_paired_row(method, pairs))
    return "\n".join(lines)


def domain_gap(results: dict) -> str:
    """Each site with its patients in training (in domain) beside the same method with the site held out."""
    lines = [
        "| site | scored | method | in domain (95 % CI) | held out (95 % CI) | Δ held out - in domain |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for site, methods in results.items():
        for key, inside in methods.items():
            method = key.removeprefix(IN_DOMAIN)
            if key == method or method not in methods:
                continue
            for name in sorted(inside):
                a, b = inside[name], methods[method][name]
                cells = [f"{r['icbhi_score']:.1f} ({r['ci'][0]:.1f}–{r['ci'][1]:.1f})" for r in (a, b)]
                gap = b["icbhi_score"] - a["icbhi_score"]
                lines.append(f"| {site} | {name} | {method} | {cells[0]} | {cells[1]} | {gap:+.1f} |")
    return "\n".join(lines)


def new_patients(results: dict, site: str, method: str) -> dict[str, dict] | None:
    """``method``'s scores on patients of ``site`` it never saw: in domain where it learns from the site,
    held out where it does not (then it never saw the site at all); ``None`` where it was not run."""
    methods = results[site]
    return methods.get(f"{IN_DOMAIN}{method}", methods.get(method))


def never_seen(results: dict, site: str, method: str) -> dict[str, dict] | None:
    """``method``'s scores on ``site`` when the site is not in its training at all (held out); ``None``
    where ``method`` always learns from it."""
    return results[site].get(method)


def _cell(r: dict | None) -> str:
    if r is None:
        return "—"
    ci = f" ({r['ci'][0]:.1f}–{r['ci'][1]:.1f})" if r.get("ci") else ""
    return f"{r['icbhi_score']:.1f}{ci}"


def shipping(results: dict, candidates: tuple[str, ...], reference: str) -> str:
    """Which detector to ship: each candidate on new patients of every site (in domain where it learns from
    the site) and on each site when it never heard it (held out), then each candidate against
    ``reference``, paired by site set x seed, on both."""
    head = " | ".join(f"{c}: new patients | {c}: site never seen" for c in candidates)
    lines = [f"| site | scored | {head} |", "| --- | --- |" + " --- |" * (2 * len(candidates))]
    for site in results:
        for name in sorted(new_patients(results, site, reference) or {}):
            cells = []
            for candidate in candidates:
                for scores_of in (new_patients, never_seen):
                    scores = scores_of(results, site, candidate)
                    cells.append(_cell(None if scores is None else scores[name]))
            lines.append(f"| {site} | {name} | {' | '.join(cells)} |")
    lines += [
        "",
        f"| candidate − {reference} | Δ per site set (mean over seeds) | mean Δ | 95 % t-interval "
        "| better in |",
        "| --- | --- | --- | --- | --- |",
    ]
    for candidate in candidates:
        if candidate == reference:
            continue
        for label, scores_of in (("new patients", new_patients), ("site never seen", never_seen)):
            pairs = []
            for site in results:
                mine, theirs = scores_of(results, site, candidate), scores_of(results, site, reference)
                if mine is None or theirs is None:
                    continue
                pairs += [(f"{site}/{n}", mine[n]["per_seed"], theirs[n]["per_seed"]) for n in sorted(mine)]
            if pairs:
                lines.append(_paired_row(f"{candidate}, {label}", pairs))
    return "\n".join(lines)


def challenge(methods: dict, tasks: dict[str, str], published: float = 73.7) -> str:
    """The SPRSound challenge's Score of every method with one (``methods``: one site's results), per unit
    set and its task (``tasks``), held out and in domain; ``published``: the 2022 challenge's best task 2-1
    Score, for reference (a model trained on the full release, scored on its official test part)."""
    names = sorted(tasks)
    cells = " | ".join(f"task {tasks[n]} Score ({n})" for n in names)
    lines = [f"| method | {cells} |", "| --- |" + " --- |" * len(names)]
    for method, sets in methods.items():
        if not any("challenge_score" in sets.get(n, {}) for n in names):
            continue
        values = [sets[n]["challenge_score"] if "challenge_score" in sets.get(n, {}) else None for n in names]
        lines.append(f"| {method} | " + " | ".join("" if v is None else f"{v:.1f}" for v in values) + " |")
    lines.append(
        "| (best published, task 2-1, 2022) | "
        + " | ".join(f"{published:.1f}" if tasks[n] == "2-1" else "" for n in names)
        + " |"
    )
    return "\n".join(lines)

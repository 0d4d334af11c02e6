"""Does ``respira suggest``'s second round gain from the site's own labels? Later rounds, out of sample.

    python benchmarks/suggest_rounds.py [--shared ../shared] [--sites kauh sprsound] [--draws 8]
                                        [--cache DIR] [--output FILE] [--json FILE]

Protocol (written and committed before any number was seen; issue 60):

- Sites, held-out patients and pool exactly ``benchmarks/suggest.py``'s: KAUH and SPRSound (Poor Quality
  left out), embedded once by the shipped detector (``--cache``: the same ``.npz`` files), a fixed third of
  the patients held out by :func:`suggest.held_out` (seed 2026, stratified), never seen by an arm; the rest
  is the pool.
- The serve-your-site loop: a site labels 10 patients per round; ``--draws`` draws per site (8). Round 1
  is the first 10 patients of the draw's random order (``suggest.order(pool, "random", draw)``): a site's
  first labels are whoever it labels first, so the draws vary the start. Rounds 2 and 3 add 10 patients
  each, by one of three arms (:data:`ARMS`), all from the same round-1 patients (paired by draw):

  - ``random``: the next patients of the same random order (``suggest.py``'s random at k = 20, 30);
  - ``model``: :func:`respira.sites.suggest.suggest_units` ``(pool, 10, labelled=labelled)``, today's
    later round: the doubt of the model as is;
  - ``refit``: fit-site's procedure (:func:`respira.sites.procedure.fit_procedure`, its defaults, seed 0,
    as ``suggest.py`` fits it) fitted on the labelled patients' recordings; the pool's unlabelled units
    ordered by the doubt of the fitted ``chosen`` rule, the same doubt as ``suggest_units`` (the minimum
    over the unit's recordings and both labels of ``|logit(p) - logit(threshold)|``, ties by the pool's
    unit order) with the chosen rule's recording probabilities and thresholds: ``suggest_units`` itself
    run on the pool with the rule's window logits, recording rule and thresholds in place of the model's.
    Where fit-site would refuse (no normal or no abnormal recording among the labelled), as ``model``.

- Scored as ``suggest.py`` scores (:func:`suggest.score_order` on each arm's 30 patients): fit-site's
  procedure fitted on the first k = 20 and k = 30 labelled patients, the chosen procedure scored on the
  held-out recordings (ICBHI-style score per recording): the mean over the draws with the
  patient-bootstrap 95 % interval of that mean (:func:`suggest.held_scores`), the model as is, the draws
  below the model as is, the draws fit-site could not fit, the abnormal patients among the k. Round 1
  (k = 10, the same for every arm) is shown once per site. Beside them, the paired per-draw differences
  refit - model and refit - random (and model - random) of the held-out score: their mean and the
  minimum and maximum over the draws (min/max, not a bootstrap: 8 draws).
- Decision (:func:`decision`): ``refit`` becomes ``suggest``'s behaviour for later rounds (when the
  archive holds labelled units fit-site can fit) only if (1) its mean over both sites and k = 20, 30
  exceeds ``model``'s by at least 0.5 points AND ``random``'s by at least 0.5 points, and (2) its draws
  below the model as is, summed over the sites and k = 20, 30, are no more than ``model``'s. Otherwise
  ``suggest`` is unchanged and the table goes to the history. The run also reports, with no decision
  attached, how ``model`` compares with ``random`` in later rounds.

Threads: OMP_NUM_THREADS / ``respira``'s choice. Output: ``--output`` (the table and the decision line)
and ``--json`` (every draw: orders, procedures, scores).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from _machine import run_and_write
from fit_site import NAMES, embedded
from suggest import held_out, held_scores, order, score_order

REPOSITORY = Path(__file__).resolve().parents[1]
ARMS = ("random", "model", "refit")
ROUND = 10
SIZES = (20, 30)  # the later rounds' labelled patients (round 1: 10)
MARGIN = 0.5  # points
PAIRS = (("refit", "model"), ("refit", "random"), ("model", "random"))


def refit_next(pool: Any, labelled: list[str], budget: int = ROUND) -> tuple[list[str], str]:
    """The next ``budget`` units by the doubt of fit-site's chosen rule fitted on ``labelled`` (the model
    as is where fit-site would refuse), and the procedure it chose (``unfit``: refused)."""
    from respira.sites.procedure import fit_procedure
    from respira.sites.suggest import suggest_units

    known = set(labelled)
    inside = np.array([str(unit) in known for unit in pool.units])
    classes = pool.classes[inside]
    if not ((classes == 0).any() and (classes != 0).any()):
        return [s.unit for s in suggest_units(pool, budget, labelled=known)], "unfit"
    procedure = fit_procedure(pool, np.flatnonzero(inside), seed=0)
    rule = procedure.rules["chosen"]
    aggregation, top_k = rule.recording_rule(pool)
    view = replace(
        pool,
        base_logits=rule.logits(pool),
        base_thresholds=tuple(rule.thresholds),
        aggregation=aggregation,
        top_k=top_k,
    )
    return [s.unit for s in suggest_units(view, budget, labelled=known)], "/".join(procedure.chosen)


def arm_order(pool: Any, arm: str, draw: int) -> tuple[list[str], list[str]]:
    """The 30 patients ``arm`` has labelled after round 3 of ``draw``, in order, and the procedures
    ``refit`` ordered rounds 2 and 3 by."""
    from respira.sites.suggest import suggest_units

    start = order(pool, "random", draw, budget=3 * ROUND)
    if arm == "random":
        return start, []
    labelled, procedures = start[:ROUND], []
    for _ in range(2):
        if arm == "model":
            chosen = [s.unit for s in suggest_units(pool, ROUND, labelled=set(labelled))]
        else:
            chosen, procedure = refit_next(pool, labelled)
            procedures.append(procedure)
        labelled = labelled + chosen
    return labelled, procedures


def _point(sample: Any, held: np.ndarray, part: tuple) -> float:
    return float(held_scores(sample, held, [part], resamples=1)["icbhi_score"])


def summary(sample: Any, held: np.ndarray, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One arm at one size over the draws: ``suggest.py``'s columns and every draw's score."""
    as_is = held_scores(sample, held, [rows[0]["as_is"]])
    per_draw = [_point(sample, held, r["chosen"]) for r in rows]
    return {
        "chosen": held_scores(sample, held, [r["chosen"] for r in rows]),
        "as_is": as_is,
        "per_draw": per_draw,
        "draws": len(rows),
        "below_as_is": int(sum(s < as_is["icbhi_score"] - 1e-9 for s in per_draw)),
        "unfit": int(sum(not r["fitted"] for r in rows)),
        "abnormal_units": float(np.mean([r["abnormal_units"] for r in rows])),
        "procedures": [r["procedure"] for r in rows],
    }


def compare(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    import respira

    detector = respira.Detector.from_pretrained()
    results: dict[str, Any] = {"round": ROUND, "sizes": list(SIZES), "draws": args.draws, "sites": {}}
    table = [
        "| site | arm | labelled patients | chosen | model as is | draws | below as is | unfit "
        "| abnormal patients chosen |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    paired = [
        "| site | labelled patients | refit − model | refit − random | model − random |",
        "| --- | --- | --- | --- | --- |",
    ]
    for site in args.sites:
        sample, _, _ = embedded(site, args.shared / site, args.cache, detector)
        held_units, held = held_out(sample)
        pool = sample.subset(np.flatnonzero(~held))
        pool_units = len(set(pool.units))
        arms: dict[str, Any] = {}
        first: list[dict[str, Any]] = []
        for arm in ARMS:
            by_size: dict[int, list[dict[str, Any]]] = {size: [] for size in SIZES}
            orders, refits = [], []
            for draw in range(args.draws):
                ranked, procedures = arm_order(pool, arm, draw)
                orders.append(ranked)
                refits.append(procedures)
                for row in score_order(sample, ranked, held):
                    if row["units"] in by_size:
                        by_size[row["units"]].append(row)
                    elif arm == ARMS[0]:
                        first.append(row)
            arms[arm] = {"orders": orders, "refit_procedures": refits}
            arms[arm].update({str(size): summary(sample, held, rows) for size, rows in by_size.items()})
        start = summary(sample, held, first)
        table.append(_row(site, "round 1 (every arm)", f"{ROUND} of {pool_units}", start))
        for size in SIZES:
            for arm in ARMS:
                table.append(_row(site, arm, f"{size} of {pool_units}", arms[arm][str(size)]))
        differences: dict[str, Any] = {}
        for size in SIZES:
            cells = []
            for a, b in PAIRS:
                gaps = [
                    100 * (x - y)
                    for x, y in zip(
                        arms[a][str(size)]["per_draw"], arms[b][str(size)]["per_draw"], strict=True
                    )
                ]
                differences[f"{a}-{b}@{size}"] = gaps
                cells.append(f"{np.mean(gaps):+.1f} ({min(gaps):+.1f} … {max(gaps):+.1f})")
            paired.append(f"| {NAMES[site]} | {size} of {pool_units} | {' | '.join(cells)} |")
        results["sites"][site] = {
            "held_out_units": sorted(held_units),
            "held_out_recordings": int(held.sum()),
            "pool_units": pool_units,
            "round_1": start,
            "arms": arms,
            "differences_points": differences,
        }
    say(
        "Per recording, ICBHI-style score in % of fit-site fitted on the k patients a site labelled in "
        f"rounds of {ROUND} (round 1: the draw's first {ROUND} at random; rounds 2 and 3 by each arm), on "
        "the fixed held-out patients (mean over the draws; patient-bootstrap 95 % interval of that mean):"
    )
    say()
    for line in table:
        say(line)
    say()
    say(
        "Paired by draw, the held-out score's difference in points: mean over the draws (minimum … "
        "maximum over the draws):"
    )
    say()
    for line in paired:
        say(line)
    say()
    say(model_line(results))
    say(decision(results))
    return results


def _row(site: str, arm: str, labelled: str, row: dict[str, Any]) -> str:
    chosen = row["chosen"]
    low, high = 100 * chosen["icbhi_score_low"], 100 * chosen["icbhi_score_high"]
    return (
        f"| {NAMES[site]} | {arm} | {labelled} | {100 * chosen['icbhi_score']:.1f} ({low:.1f}–{high:.1f}) | "
        f"{100 * row['as_is']['icbhi_score']:.1f} | {row['draws']} | {row['below_as_is']} | {row['unfit']} | "
        f"{row['abnormal_units']:.1f} |"
    )


def means(results: dict[str, Any]) -> dict[str, float]:
    """Each arm's mean, in points, over the sites and the later sizes of its mean held-out score."""
    sites = results["sites"].values()
    return {
        arm: 100
        * float(np.mean([s["arms"][arm][str(k)]["chosen"]["icbhi_score"] for s in sites for k in SIZES]))
        for arm in ARMS
    }


def model_line(results: dict[str, Any]) -> str:
    """How ``model`` compares with ``random`` in later rounds (no decision)."""
    mean = means(results)
    below = {
        arm: sum(s["arms"][arm][str(k)]["below_as_is"] for s in results["sites"].values() for k in SIZES)
        for arm in ("model", "random")
    }
    return (
        f"Model against random in later rounds (no decision; mean over the sites at {SIZES[0]} and "
        f"{SIZES[1]} patients): model {mean['model']:.1f}, random {mean['random']:.1f} "
        f"({mean['model'] - mean['random']:+.1f} points); draws below the model as is: model "
        f"{below['model']}, random {below['random']}."
    )


def decision(results: dict[str, Any]) -> str:
    """The protocol's decision, in one line (also stored in ``results["decision"]``)."""
    mean = means(results)
    below = {
        arm: sum(s["arms"][arm][str(k)]["below_as_is"] for s in results["sites"].values() for k in SIZES)
        for arm in ARMS
    }
    wins = (
        mean["refit"] - mean["model"] >= MARGIN
        and mean["refit"] - mean["random"] >= MARGIN
        and below["refit"] <= below["model"]
    )
    results["decision"] = {"means": mean, "below_as_is": below, "refit_wins": wins}
    shown = ", ".join(f"{arm} {mean[arm]:.1f}" for arm in ARMS)
    verdict = (
        "refit becomes suggest's later rounds"
        if wins
        else "suggest is unchanged (later rounds by the model as is)"
    )
    return (
        f"Decision (mean over the sites at {SIZES[0]} and {SIZES[1]} patients: {shown}; draws below the "
        f"model as is: model {below['model']}, refit {below['refit']}; refit must lead both by "
        f"{MARGIN} points with no more draws below): {verdict}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--sites", nargs="+", choices=["kauh", "sprsound"], default=["kauh", "sprsound"])
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/respira_fit_site"))
    parser.add_argument("--output", type=Path, default=REPOSITORY / "benchmarks/results/suggest_rounds.md")
    parser.add_argument("--json", type=Path, default=REPOSITORY / "benchmarks/results/suggest_rounds.json")
    args = parser.parse_args(argv)
    return run_and_write(lambda say: compare(args, say), args.output, args.json)


if __name__ == "__main__":
    sys.exit(main())

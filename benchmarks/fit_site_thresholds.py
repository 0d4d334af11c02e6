"""Do fit-site's thresholds fail when new patients have another label mix? The expected-score thresholds
against per-label balanced ones, out of sample (issue 60).

    python benchmarks/fit_site_thresholds.py [--arm {balanced,mixes}] [--shared ../shared] [--cache DIR]
        [--output FILE] [--json FILE]

Protocol (written and committed before any number was seen):

- Arms (:data:`ARMS`), each a way fit-site sets a candidate's thresholds, plugged in by replacing
  ``respira.sites.procedure._thresholds`` in this process (as ``fit_site_events.py`` replaces
  ``procedure._window_targets``), the rest of the procedure as is:

  - ``expected``: today's (:func:`respira.sites.heads.expected_thresholds`): the pair of thresholds that
    maximises the ICBHI-style score expected under Platt posteriors moved to the labelled recordings'
    prevalence, so it depends on the labelled class mix;
  - ``balanced``: per label on its own. A label the candidate does not re-threshold (``as_is``) keeps the
    model's own threshold, as today. Otherwise :func:`respira.sites.heads.platt_scaling` (class-balanced)
    of logit(probability) on that label's 0/1 labels; with slope > 0 the threshold is the probability
    where that balanced posterior is 1/2, ``p* = sigmoid(-intercept / slope)`` (it maximises the label's
    expected balanced accuracy whatever the prevalence); else today's fallback (the model's threshold for
    ``thresholds``, 0.5 for a head).

  Both arms see the same draws, the same folds and the same seeds: every comparison is paired.
- (A) ``benchmarks/fit_site.py``'s learning curve (its functions imported; its ``--cache``): sites ICBHI
  sample, KAUH, SPRSound (no Poor Quality); 10, 20, 30 labelled patients, 10 draws each (seed 0,
  :func:`respira.sites.out_of_sample.learning_curve`), each scored on the site's other patients; and its
  "all N, 5-fold nested CV" row (:func:`respira.sites.out_of_sample.fit_sample`, seed 0) per site.
  Amended before any number was seen (the first run stopped on it before printing one): the ICBHI sample
  has 26 patients, so its sizes are 10 and 20 only (a size must leave patients to score); a size a site
  cannot hold is left out of its rows and of the means below.
- (B) ``benchmarks/suggest.py``'s protocol (``held_out``, ``order``, ``score_order``, ``held_scores``
  imported): KAUH and SPRSound, its held-out third (seed 2026), strategies ``random`` (8 draws) and
  ``uncertainty`` (1), fit-site fitted on the first k = 10, 20, 30 patients of the order and scored on the
  held-out recordings.
- Reported per site, size (and strategy in B) and arm: the chosen procedure's ICBHI-style score, the mean
  over the draws with the patient-bootstrap 95 % interval of that mean; the draws whose chosen procedure
  scored below the model as is on the same patients; and the paired per-draw difference balanced −
  expected in points (mean, minimum … maximum over the draws). The nested-CV rows: each arm's chosen
  score with its interval, whether it is below the model as is, the difference. Beside them, with no
  decision attached, the issue's case: KAUH, the 20 patients of draw 0 of the ``model`` arm of
  ``benchmarks/results/suggest_rounds.json``, scored on suggest.py's held-out patients under each arm,
  with the chosen thresholds and the predicted class counts.
- Decision (:func:`decision`): ``balanced`` replaces ``expected`` as fit-site's threshold rule only if
  (1) on each of (A) and (B) its mean chosen score over sites and sizes is ≥ expected's + 0.5 points;
  (2) on each of (A) and (B) its draws below the model as is (summed) are no more than expected's;
  (3) the all-patient nested CV of KAUH and of SPRSound (the shipped site detectors' claims) is not lower
  than expected's. Otherwise the product is unchanged.
  Here, in (A) the mean is over the three sites and the sizes 10, 20, 30 of the mean over the draws (the
  nested CV is (3)'s alone), and the draws below are summed over the sites and sizes; in (B) the mean is
  over the two sites, both strategies and k = 10, 20, 30 of the mean over the strategy's draws, and the
  draws below are summed over the sites, strategies and k. In (3) each of the two sites' nested-CV chosen
  score under ``balanced`` must be ≥ its score under ``expected`` (to 1e-9).

The ``mixes`` arm (``--arm mixes``; protocol committed before any of its numbers was seen): as ``expected``,
but the pair of thresholds maximises the expected score averaged over 9 label mixes: each label's Platt
posterior moved to its labelled prevalence shifted by δ ∈ {−1, 0, +1} logits (:data:`DELTAS`, independently
per label, 3 × 3 mixes of equal weight), i.e. a new site whose odds of each label are up to e times higher or
lower than the labelled patients'. The expected-score matrix over the candidate pairs is computed per mix and
the 9 matrices averaged before the argmax; candidate grids, ``fixed`` and ``fallback`` thresholds as
``expected``'s (fit-site's ``_thresholds`` around :func:`mixed_expected_thresholds`; δ = 0 alone gives
``expected_thresholds``). The same (A) and (B) protocols, the same paired draws, the same reports with
``mixes`` in place of ``balanced``, the issue's case reported beside them with no decision attached, and the
same decision rule with ``mixes`` in place of ``balanced``: ``mixes`` replaces fit-site's expected-score
thresholds only if (1) on each of (A) and (B) its mean chosen score over sites and sizes is ≥ expected's + 0.5
points; (2) on each its draws below the model as is are no more than expected's; (3) KAUH's and SPRSound's
all-patient nested CV is not lower than expected's. Output benchmarks/results/fit_site_thresholds_mixes.md and
.json. The default ``--arm balanced`` reruns the committed study above.

Threads: OMP_NUM_THREADS / ``respira``'s choice. Output: ``--output`` (the tables and the decision line,
benchmarks/results/fit_site_thresholds.md) and ``--json`` (every draw), by ``_machine.run_and_write``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from _machine import run_and_write
from fit_site import NAMES, embedded
from suggest import held_out, held_scores, order, score_order

REPOSITORY = Path(__file__).resolve().parents[1]
ARMS = ["expected", "balanced"]  # main sets the second to --arm
DELTAS = (-1.0, 0.0, 1.0)  # the mixes arm: logit shifts of each label's prevalence
SIZES = (10, 20, 30)
DRAWS = 10
SITES_A = ("icbhi", "kauh", "sprsound")
SITES_B = ("kauh", "sprsound")
STRATEGIES = {"random": 8, "uncertainty": 1}  # draws
NESTED_SITES = ("kauh", "sprsound")  # the shipped site detectors
MARGIN = 0.5  # points
CASE = ("kauh", 20, 0)  # the issue's case: site, labelled patients, draw of suggest_rounds' model arm


def balanced_thresholds(
    labels: np.ndarray, probabilities: np.ndarray, pair: Sequence[str], own: tuple[float, float]
) -> tuple[float, float]:
    """The ``balanced`` arm's ``procedure._thresholds``: per label, where the class-balanced Platt
    posterior of logit(probability) is 1/2 (``as_is``: the model's ``own``; no ranking: the fallback)."""
    from respira.sites.heads import _logit, platt_scaling
    from respira.sites.procedure import _HEAD_THRESHOLD

    chosen = []
    for label in range(2):
        if pair[label] == "as_is":
            chosen.append(float(own[label]))
            continue
        slope, intercept = platt_scaling(_logit(probabilities[:, label]), labels[:, label])
        if slope > 0.0:
            chosen.append(float(1.0 / (1.0 + np.exp(intercept / slope))))
        else:
            chosen.append(float(own[label]) if pair[label] == "thresholds" else _HEAD_THRESHOLD)
    return chosen[0], chosen[1]


def mixed_expected_thresholds(
    labels: np.ndarray,
    probabilities: np.ndarray,
    fixed: Sequence[float | None],
    fallback: Sequence[float],
    deltas: Sequence[float] = DELTAS,
) -> tuple[float, float]:
    """:func:`respira.sites.heads.expected_thresholds` with the expected score averaged over the label mixes
    where each label's prevalence logit is shifted by each of ``deltas`` (per label independently)."""
    from respira.sites.heads import _logit, platt_scaling

    y = np.asarray(labels, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    posteriors, grids = [], []
    for label in range(2):
        slope, intercept = platt_scaling(_logit(p[:, label]), y[:, label])
        prevalence = (y[:, label].sum() + 0.5) / (y.shape[0] + 1.0)
        shifted = slope * _logit(p[:, label]) + intercept + _logit(prevalence)
        posteriors.append([1.0 / (1.0 + np.exp(-(shifted + delta))) for delta in deltas])
        if fixed[label] is not None:
            grids.append(np.array([float(fixed[label])]))  # type: ignore[arg-type]
        elif slope <= 0.0:
            grids.append(np.array([float(fallback[label])]))
        else:  # as expected_thresholds' grid
            distinct = np.unique(p[:, label])
            cuts = np.concatenate([(distinct[:-1] + distinct[1:]) / 2, [min(1.0, distinct[-1] + 1e-6)]])
            grids.append(np.unique(np.quantile(cuts, np.linspace(0.0, 1.0, 64))) if cuts.size > 64 else cuts)
    flags = [(p[None, :, label] >= grids[label][:, None]).astype(np.float64) for label in range(2)]
    off = [1.0 - f for f in flags]
    matrices = []
    for crackle in posteriors[0]:
        for wheeze in posteriors[1]:
            normal = (1 - crackle) * (1 - wheeze)
            called_normal = (off[0] * normal) @ off[1].T
            called_right = (
                (flags[0] * crackle * (1 - wheeze)) @ off[1].T
                + (off[0] * (1 - crackle) * wheeze) @ flags[1].T
                + (flags[0] * crackle * wheeze) @ flags[1].T
            )
            matrices.append(
                called_normal / max(normal.sum(), 1e-12) + called_right / max((1 - normal).sum(), 1e-12)
            )
    expected = np.mean(matrices, axis=0)
    best = np.unravel_index(int(np.argmax(expected)), expected.shape)
    return float(grids[0][best[0]]), float(grids[1][best[1]])


RULES = {
    "balanced": ("_thresholds", balanced_thresholds),
    "mixes": ("expected_thresholds", mixed_expected_thresholds),
}
"""Each arm: the name in :mod:`respira.sites.procedure` it replaces, and what replaces it (``mixes`` keeps
fit-site's ``_thresholds``, its ``fixed`` and ``fallback``, around its own expected score)."""


def use_arm(arm: str) -> None:
    """Make fit-site set thresholds by ``arm`` (``expected``: its own)."""
    from respira.sites import procedure

    originals = procedure.__dict__.setdefault(
        "_original_rules", {name: getattr(procedure, name) for name, _ in RULES.values()}
    )
    for name, function in originals.items():
        setattr(procedure, name, function)
    if arm != "expected":
        name, function = RULES[arm]
        setattr(procedure, name, function)


def _interval(row: dict[str, Any]) -> dict[str, float]:
    return {key: float(row[key]) for key in ("icbhi_score", "icbhi_score_low", "icbhi_score_high")}


def _cell(row: dict[str, Any]) -> str:
    low, high = 100 * row["icbhi_score_low"], 100 * row["icbhi_score_high"]
    return f"{100 * row['icbhi_score']:.1f} ({low:.1f}–{high:.1f})"


def _gap(gaps: list[float]) -> str:
    return f"{np.mean(gaps):+.1f} ({min(gaps):+.1f} … {max(gaps):+.1f})"


def sizes_of(sample: Any) -> list[int]:
    """The sizes of :data:`SIZES` that leave some of the site's patients to score."""
    return [size for size in SIZES if size < len(set(sample.units))]


def curve_arm(sample: Any) -> dict[str, Any]:
    """(A) for the arm in use: the learning curve's chosen rows per size and the nested CV."""
    from respira.sites.out_of_sample import fit_sample, learning_curve

    curve = learning_curve(sample, sizes=sizes_of(sample), draws=DRAWS, seed=0)
    by_size: dict[str, Any] = {}
    for size in sizes_of(sample):
        rows = {(r["draw"], r["candidate"]): r for r in curve.rows if r["units"] == size}
        draws = sorted({draw for draw, _ in rows})
        chosen = [float(rows[d, "chosen"]["icbhi_score"]) for d in draws]
        as_is = [float(rows[d, "as_is"]["icbhi_score"]) for d in draws]
        summary = {r["candidate"]: r for r in curve.summary if r["units"] == size}
        by_size[str(size)] = {
            "chosen": _interval(summary["chosen"]),
            "as_is": _interval(summary["as_is"]),
            "candidates": {name: _interval(row) for name, row in summary.items()},
            "draw_numbers": draws,
            "per_draw": chosen,
            "as_is_per_draw": as_is,
            "below_as_is": int(sum(c < a - 1e-9 for c, a in zip(chosen, as_is, strict=True))),
            "procedures": [rows[d, "chosen"]["chosen"] for d in draws],
            "recording_rules": [rows[d, "chosen"]["recording_aggregation"] for d in draws],
        }
    fit = fit_sample(sample, seed=0)
    chosen, as_is = _interval(fit.row("chosen")), _interval(fit.row("as_is"))
    by_size["nested"] = {
        "chosen": chosen,
        "as_is": as_is,
        "below_as_is": bool(chosen["icbhi_score"] < as_is["icbhi_score"] - 1e-9),
        "procedure": "/".join(fit.chosen),
        "thresholds": list(fit.thresholds),
        "recording_rule": fit.aggregation,
        "chosen_by_fold": ["/".join(pair) for pair in fit.chosen_by_fold],
    }
    return by_size


def protocol_a(args: argparse.Namespace, detector: Any, say: Any) -> dict[str, Any]:
    other = ARMS[1]
    table = [
        f"| site | labelled patients | model as is | expected | {other} | below as is (expected, {other}) "
        f"| {other} − expected, paired |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    results: dict[str, Any] = {}
    for site in SITES_A:
        sample, _, _ = embedded(site, args.shared / site, args.cache, detector)
        units = len(set(sample.units))
        arms = {}
        for arm in ARMS:
            use_arm(arm)
            arms[arm] = curve_arm(sample)
        use_arm("expected")
        differences = {}
        for size in sizes_of(sample):
            e, b = arms["expected"][str(size)], arms[other][str(size)]
            assert e["draw_numbers"] == b["draw_numbers"] and e["as_is_per_draw"] == b["as_is_per_draw"]
            gaps = [100 * (y - x) for x, y in zip(e["per_draw"], b["per_draw"], strict=True)]
            differences[str(size)] = gaps
            table.append(
                f"| {NAMES[site]} | {size} of {units} ({len(gaps)} draws) | {_cell(e['as_is'])} | "
                f"{_cell(e['chosen'])} | {_cell(b['chosen'])} | {e['below_as_is']}, {b['below_as_is']} | "
                f"{_gap(gaps)} |"
            )
        e, b = arms["expected"]["nested"], arms[other]["nested"]
        gap = 100 * (b["chosen"]["icbhi_score"] - e["chosen"]["icbhi_score"])
        yes = {True: "yes", False: "no"}
        table.append(
            f"| {NAMES[site]} | all {units}, 5-fold nested CV | {_cell(e['as_is'])} | {_cell(e['chosen'])} "
            f"({e['procedure']}) | {_cell(b['chosen'])} ({b['procedure']}) | "
            f"{yes[e['below_as_is']]}, {yes[b['below_as_is']]} | {gap:+.1f} |"
        )
        results[site] = {
            "units": units,
            "sizes": sizes_of(sample),
            "arms": arms,
            "differences_points": differences,
        }
    say(
        "(A) fit_site.py's learning curve: per recording, ICBHI-style score in % of the chosen procedure on "
        "the site's other patients (mean over the draws; patient-bootstrap 95 % interval of that mean), "
        "the same draws under both arms; the paired difference in points: mean (minimum … maximum over "
        "the draws); the nested-CV rows name the procedure fitted on all the patients:"
    )
    say()
    for line in table:
        say(line)
    say()
    return results


def protocol_b(args: argparse.Namespace, detector: Any, say: Any) -> dict[str, Any]:
    other = ARMS[1]
    table = [
        f"| site | strategy | labelled patients | model as is | expected | {other} | draws "
        f"| below as is (expected, {other}) | unfit | {other} − expected, paired |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    results: dict[str, Any] = {}
    for site in SITES_B:
        sample, _, _ = embedded(site, args.shared / site, args.cache, detector)
        held_units, held = held_out(sample)
        pool = sample.subset(np.flatnonzero(~held))
        pool_units = len(set(pool.units))
        strategies: dict[str, Any] = {}
        for strategy, draws in STRATEGIES.items():
            orders = [order(pool, strategy, draw) for draw in range(draws)]
            arms: dict[str, Any] = {}
            for arm in ARMS:
                use_arm(arm)
                by_size: dict[int, list[dict[str, Any]]] = {size: [] for size in SIZES}
                for ranked in orders:
                    for row in score_order(sample, ranked, held):
                        by_size[row["units"]].append(row)
                arms[arm] = {str(size): _summary(sample, held, rows) for size, rows in by_size.items()}
            use_arm("expected")
            differences = {}
            for size in SIZES:
                e, b = arms["expected"][str(size)], arms[other][str(size)]
                gaps = [100 * (y - x) for x, y in zip(e["per_draw"], b["per_draw"], strict=True)]
                differences[str(size)] = gaps
                table.append(
                    f"| {NAMES[site]} | {strategy} | {size} of {pool_units} | "
                    f"{100 * e['as_is']['icbhi_score']:.1f} | {_cell(e['chosen'])} | {_cell(b['chosen'])} | "
                    f"{e['draws']} | {e['below_as_is']}, {b['below_as_is']} | {e['unfit']} | {_gap(gaps)} |"
                )
            strategies[strategy] = {"orders": orders, "arms": arms, "differences_points": differences}
        results[site] = {
            "held_out_units": sorted(held_units),
            "held_out_recordings": int(held.sum()),
            "pool_units": pool_units,
            "strategies": strategies,
        }
    say(
        "(B) suggest.py's protocol: per recording, ICBHI-style score in % of fit-site fitted on the first k "
        "patients of each strategy's order, on the fixed held-out patients (mean over the draws; "
        "patient-bootstrap 95 % interval of that mean); the paired difference in points: mean (minimum … "
        "maximum over the draws):"
    )
    say()
    for line in table:
        say(line)
    say()
    return results


def _summary(sample: Any, held: np.ndarray, rows: list[dict[str, Any]]) -> dict[str, Any]:
    as_is = _interval(held_scores(sample, held, [rows[0]["as_is"]]))
    per_draw = [float(held_scores(sample, held, [r["chosen"]], resamples=1)["icbhi_score"]) for r in rows]
    return {
        "chosen": _interval(held_scores(sample, held, [r["chosen"] for r in rows])),
        "as_is": as_is,
        "per_draw": per_draw,
        "draws": len(rows),
        "below_as_is": int(sum(s < as_is["icbhi_score"] - 1e-9 for s in per_draw)),
        "unfit": int(sum(not r["fitted"] for r in rows)),
        "procedures": [r["procedure"] for r in rows],
    }


CLASSES = ("normal", "crackle", "wheeze", "both")


def the_case(args: argparse.Namespace, detector: Any, say: Any) -> dict[str, Any]:
    """The issue's case under each arm (no decision attached)."""
    from respira.sites.out_of_sample import _scored
    from respira.sites.procedure import fit_procedure

    site, size, draw = CASE
    rounds = json.loads((REPOSITORY / "benchmarks/results/suggest_rounds.json").read_text())
    chosen = set(rounds["sites"][site]["arms"]["model"]["orders"][draw][:size])
    sample, _, _ = embedded(site, args.shared / site, args.cache, detector)
    _, held = held_out(sample)
    inside = np.array([str(unit) in chosen for unit in sample.units])

    def mix(mask: np.ndarray, classes: np.ndarray) -> list[int]:
        return np.bincount(classes[mask], minlength=4).tolist()

    result: dict[str, Any] = {
        "labelled": mix(inside, sample.classes),
        "held_out": mix(held, sample.classes),
        "arms": {},
    }
    shown = []
    for arm in ARMS:
        use_arm(arm)
        procedure = fit_procedure(sample, np.flatnonzero(inside), seed=0)
        rule = procedure.rules["chosen"]
        predicted: dict[str, Any] = {}
        _scored(sample, {"chosen": rule}, np.flatnonzero(held), predicted)
        score = float(held_scores(sample, held, [(held, *predicted["chosen"])], resamples=1)["icbhi_score"])
        result["arms"][arm] = {
            "procedure": "/".join(procedure.chosen),
            "recording_rule": procedure.aggregation,
            "thresholds": [float(t) for t in rule.thresholds],
            "predicted": mix(held, predicted["chosen"][0]),
            "icbhi_score": score,
        }
        a = result["arms"][arm]
        shown.append(
            f"{arm}: {a['procedure']} at {a['recording_rule']}, thresholds crackle {a['thresholds'][0]:.2f} "
            f"wheeze {a['thresholds'][1]:.2f}, predicted {a['predicted']}, score {100 * score:.1f}"
        )
    use_arm("expected")
    say(
        f"The issue's case (no decision attached): {NAMES[site]}, the {size} patients of draw {draw} of "
        f"suggest_rounds.json's model arm (labelled recordings {result['labelled']}, held out "
        f"{result['held_out']}, as {'/'.join(CLASSES)}) — " + "; ".join(shown) + "."
    )
    say()
    return result


def decision(results: dict[str, Any]) -> str:
    """The protocol's decision, in one line (also stored in ``results["decision"]``)."""
    a, b = results["A"], results["B"]
    mean = {
        "A": {
            arm: 100
            * float(
                np.mean(
                    [a[s]["arms"][arm][str(k)]["chosen"]["icbhi_score"] for s in a for k in a[s]["sizes"]]
                )
            )
            for arm in ARMS
        },
        "B": {
            arm: 100
            * float(
                np.mean(
                    [
                        b[s]["strategies"][g]["arms"][arm][str(k)]["chosen"]["icbhi_score"]
                        for s in b
                        for g in b[s]["strategies"]
                        for k in SIZES
                    ]
                )
            )
            for arm in ARMS
        },
    }
    below = {
        "A": {
            arm: sum(a[s]["arms"][arm][str(k)]["below_as_is"] for s in a for k in a[s]["sizes"])
            for arm in ARMS
        },
        "B": {
            arm: sum(
                b[s]["strategies"][g]["arms"][arm][str(k)]["below_as_is"]
                for s in b
                for g in b[s]["strategies"]
                for k in SIZES
            )
            for arm in ARMS
        },
    }
    nested = {
        s: {arm: a[s]["arms"][arm]["nested"]["chosen"]["icbhi_score"] for arm in ARMS} for s in NESTED_SITES
    }
    other = ARMS[1]
    first = all(mean[p][other] - mean[p]["expected"] >= MARGIN for p in ("A", "B"))
    second = all(below[p][other] <= below[p]["expected"] for p in ("A", "B"))
    third = all(nested[s][other] >= nested[s]["expected"] - 1e-9 for s in NESTED_SITES)
    wins = first and second and third
    results["decision"] = {
        "means": mean,
        "below_as_is": below,
        "nested": nested,
        "conditions": [first, second, third],
        f"{other}_wins": wins,
    }
    parts = [
        f"({p}) mean expected {mean[p]['expected']:.1f}, {other} {mean[p][other]:.1f}; draws below the "
        f"model as is: expected {below[p]['expected']}, {other} {below[p][other]}"
        for p in ("A", "B")
    ]
    parts += [
        f"nested CV {NAMES[s]}: expected {100 * nested[s]['expected']:.1f}, "
        f"{other} {100 * nested[s][other]:.1f}"
        for s in NESTED_SITES
    ]
    verdict = (
        f"{other} replaces expected as fit-site's threshold rule"
        if wins
        else "the product is unchanged (fit-site keeps the expected-score thresholds)"
    )
    held = ", ".join(f"({i}) {'holds' if c else 'fails'}" for i, c in enumerate((first, second, third), 1))
    return f"Decision ({'; '.join(parts)}; {held}): {verdict}."


def compare(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    import respira

    detector = respira.Detector.from_pretrained()
    results: dict[str, Any] = {"arms": list(ARMS), "sizes": list(SIZES), "draws": DRAWS, "margin": MARGIN}
    results["A"] = protocol_a(args, detector, say)
    results["B"] = protocol_b(args, detector, say)
    results["case"] = the_case(args, detector, say)
    say(decision(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arm", choices=sorted(RULES), default="balanced")
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/respira_fit_site"))
    parser.add_argument(
        "--output", type=Path, help="default: benchmarks/results/fit_site_thresholds[_ARM].md"
    )
    parser.add_argument("--json", type=Path, help="default: the --output's .json")
    args = parser.parse_args(argv)
    ARMS[1] = args.arm
    stem = "fit_site_thresholds" + ("" if args.arm == "balanced" else f"_{args.arm}")
    args.output = args.output or REPOSITORY / f"benchmarks/results/{stem}.md"
    args.json = args.json or args.output.with_suffix(".json")
    return run_and_write(lambda say: compare(args, say), args.output, args.json)


if __name__ == "__main__":
    sys.exit(main())

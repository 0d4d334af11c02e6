"""Which patients a site should label first: the strategies of ``respira suggest``, out of sample.

    python benchmarks/suggest.py [--shared ../shared] [--sites kauh sprsound] [--draws 8] [--cache DIR]
                                 [--output FILE] [--json FILE] [--speed]

Protocol (written and committed before any number was seen):

- Sites: KAUH and SPRSound (Poor Quality left out) of ``../shared``, read and embedded once by the shipped
  detector as ``benchmarks/fit_site.py`` does (its ``--cache``: the same ``.npz`` files).
- Held out: per site, a fixed third of the patients (rounded), drawn once with seed 2026 within two
  strata (patients with any abnormal recording, patients with none), so both kinds are scored. No
  strategy ever sees them, not even their embeddings; the rest is the pool.
- Each strategy (:data:`STRATEGIES`) orders the pool's patients from the pool's embeddings and the model's
  outputs alone (no label), first 30. ``random`` draws (``--draws`` seeds: 8); ``uncertainty``
  (:func:`respira.sites.suggest.suggest_units`) is deterministic (one draw). The run that chose the
  default also measured ``coverage`` (k-means++ on the patients' mean embeddings), ``balance`` (the model's
  calls alternated) and ``hybrid``; they lost and left respira (docs/history/fit-site.md keeps their rows).
- For k = 10, 20, 30: the first k patients of the order are "labelled" (their true recording labels),
  fit-site's procedure (:func:`respira.sites.choice.fit_procedure`, its default candidates and rules,
  the same call its learning curve makes) is fitted on their recordings and scores every held-out
  recording. When the k patients lack a normal or an abnormal recording, fit-site would refuse: the draw
  scores the model as is (counted in the table as "unfit").
- Reported per site, strategy and k: the mean over the draws of the held-out ICBHI-style score of the
  chosen procedure, with the patient-bootstrap 95 % interval of that mean (1000 resamples of the
  held-out patients), the model as is beside it, the draws, the draws below the model as is, and the
  abnormal patients among the k chosen (mean).
- Decision: the default strategy is the one with the highest mean over the two sites of the chosen
  procedure's mean score at k = 20; within 0.5 points of the best, the higher mean over both sites and
  k = 10, 20, 30 wins. A strategy other than random becomes the default only if it beats random by that
  rule; otherwise ``suggest`` orders at random and says so.

``--speed``: ``respira.suggest`` over SPRSound's recordings as one unlabelled archive (a ``labels.csv``
naming every recording with its patient, labels blank) twice, after an untimed warm-up round over two of
them (the process's imports, as ``benchmarks/screen.py``; its wall time is reported too): the first
round's model pass with the model's load (× real time), the second round's wall time from the cache.

Threads: OMP_NUM_THREADS / ``respira``'s choice. Output: ``--output`` (the table BENCHMARKS.md pastes)
and ``--json`` (every draw).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from _machine import run_and_write
from fit_site import NAMES, embedded

REPOSITORY = Path(__file__).resolve().parents[1]
SIZES = (10, 20, 30)
HELD_OUT_SEED = 2026
STRATEGIES = ("random", "uncertainty")
DETERMINISTIC = ("uncertainty",)


def order(pool: Any, strategy: str, seed: int, budget: int = max(SIZES)) -> list[str]:
    """The first ``budget`` units of ``pool`` in ``strategy``'s order (``random``: a seeded permutation)."""
    from respira.sites.suggest import suggest_units

    if strategy == "uncertainty":
        return [s.unit for s in suggest_units(pool, budget)]
    units = tuple(dict.fromkeys(str(unit) for unit in pool.units))
    return [units[i] for i in np.random.default_rng(seed).permutation(len(units))[:budget]]


def held_out(sample: Any) -> tuple[set[str], np.ndarray]:
    """A fixed third of the patients, stratified by whether any of their recordings is abnormal, and which
    recordings are theirs."""
    units = sorted(set(str(unit) for unit in sample.units))
    abnormal = {unit: False for unit in units}
    for unit, label in zip(sample.units, sample.classes, strict=True):
        abnormal[str(unit)] |= bool(label != 0)
    rng = np.random.default_rng(HELD_OUT_SEED)
    held: set[str] = set()
    for kind in (True, False):
        stratum = [unit for unit in units if abnormal[unit] is kind]
        count = round(len(stratum) / 3)
        held |= set(rng.choice(stratum, size=count, replace=False).tolist())
    return held, np.array([str(unit) in held for unit in sample.units])


def score_order(sample: Any, order: list[str], held: np.ndarray) -> list[dict[str, Any]]:
    """Fit fit-site's procedure on the first k units of ``order`` (k in :data:`SIZES`) and score the
    held-out recordings: one row per k with the parts of the chosen procedure and the model as is."""
    from respira.sites.choice import FittedRule, fit_procedure
    from respira.sites.out_of_sample import held_out_scores

    rows = []
    model = {"as_is": FittedRule(heads=(None, None), thresholds=sample.base_thresholds)}
    base: dict[str, Any] = {}
    held_out_scores(sample, model, np.flatnonzero(held), base)
    for size in SIZES:
        chosen = set(order[:size])
        inside = np.array([str(unit) in chosen for unit in sample.units])
        classes = sample.classes[inside]
        fittable = bool((classes == 0).any() and (classes != 0).any())
        predicted: dict[str, Any] = {}
        if fittable:
            procedure = fit_procedure(sample, np.flatnonzero(inside), seed=0)
            held_out_scores(sample, {"chosen": procedure.rules["chosen"]}, np.flatnonzero(held), predicted)
        parts = predicted.get("chosen", base["as_is"])
        abnormal = len(
            {str(u) for u, c in zip(sample.units, sample.classes, strict=True) if str(u) in chosen and c}
        )
        rows.append(
            {
                "units": size,
                "fitted": fittable,
                "chosen": (held, *parts),
                "as_is": (held, *base["as_is"]),
                "abnormal_units": abnormal,
                "procedure": "/".join(procedure.chosen) if fittable else "unfit",
            }
        )
    return rows


def held_scores(sample: Any, held: np.ndarray, parts: list[tuple], resamples: int = 1000) -> dict[str, Any]:
    """Scores of ``parts`` on the held-out recordings alone, their patients resampled."""
    from respira.metrics.recording_level import scores_with_intervals

    index = np.flatnonzero(held)
    scored = [
        (np.ones(index.size, bool), predicted[index], None if probabilities is None else probabilities[index])
        for _, predicted, probabilities in parts
    ]
    return scores_with_intervals(sample.labels[index], sample.units[index], scored, resamples=resamples)


def compare(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    import respira

    detector = respira.Detector.from_pretrained()
    results: dict[str, Any] = {"sizes": list(SIZES), "draws": args.draws, "sites": {}}
    table = [
        "| site | strategy | labelled patients | chosen | model as is | draws | below as is | unfit "
        "| abnormal patients chosen |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for site in args.sites:
        sample, _, _ = embedded(site, args.shared / site, args.cache, detector)
        held_units, held = held_out(sample)
        pool = sample.subset(np.flatnonzero(~held))
        site_rows: dict[str, Any] = {}
        for strategy in STRATEGIES:
            draws = 1 if strategy in DETERMINISTIC else args.draws
            by_size: dict[int, list[dict[str, Any]]] = {size: [] for size in SIZES}
            for draw in range(draws):
                started = time.perf_counter()
                ranked = order(pool, strategy, draw)
                seconds = time.perf_counter() - started
                for row in score_order(sample, ranked, held):
                    by_size[row["units"]].append({**row, "order": ranked, "seconds": seconds})
            site_rows[strategy] = {}
            for size, rows in by_size.items():
                chosen = held_scores(sample, held, [r["chosen"] for r in rows])
                as_is = held_scores(sample, held, [r["as_is"] for r in rows])
                below = sum(
                    held_scores(sample, held, [r["chosen"]], resamples=1)["icbhi_score"]
                    < as_is["icbhi_score"] - 1e-9
                    for r in rows
                )
                unfit = sum(not r["fitted"] for r in rows)
                abnormal = float(np.mean([r["abnormal_units"] for r in rows]))
                site_rows[strategy][size] = {
                    "chosen": chosen,
                    "as_is": as_is,
                    "draws": len(rows),
                    "below_as_is": int(below),
                    "unfit": unfit,
                    "abnormal_units": abnormal,
                    "procedures": [r["procedure"] for r in rows],
                    "orders": [r["order"] for r in rows],
                }
                table.append(
                    f"| {NAMES[site]} | {strategy} | {size} of {len(set(pool.units))} | {_cell(chosen)} | "
                    f"{100 * as_is['icbhi_score']:.1f} | {len(rows)} | {below} | {unfit} | {abnormal:.1f} |"
                )
        results["sites"][site] = {
            "held_out_units": sorted(held_units),
            "held_out_recordings": int(held.sum()),
            "pool_units": len(set(pool.units)),
            "strategies": site_rows,
        }
    say(
        "Per recording, ICBHI-style score in % of fit-site fitted on the first k patients each strategy "
        "chose from the pool, on the fixed held-out patients (mean over the draws; patient-bootstrap 95 % "
        "interval of that mean):"
    )
    say()
    for line in table:
        say(line)
    say()
    say(decision(results))
    return results


def _cell(row: dict[str, Any]) -> str:
    low, high = 100 * row["icbhi_score_low"], 100 * row["icbhi_score_high"]
    return f"{100 * row['icbhi_score']:.1f} ({low:.1f}–{high:.1f})"


def decision(results: dict[str, Any]) -> str:
    """The protocol's decision, in one line."""
    sites = results["sites"]
    strategies = list(next(iter(sites.values()))["strategies"])

    def mean(strategy: str, sizes: tuple[int, ...]) -> float:
        return 100 * float(
            np.mean(
                [sites[s]["strategies"][strategy][k]["chosen"]["icbhi_score"] for s in sites for k in sizes]
            )
        )

    at20 = {strategy: mean(strategy, (20,)) for strategy in strategies}
    best = max(at20.values())
    close = [s for s in strategies if at20[s] >= best - 0.5]
    winner = max(close, key=lambda s: mean(s, SIZES))
    if winner != "random" and at20[winner] <= at20["random"]:
        winner = "random"
    shown = ", ".join(f"{s} {at20[s]:.1f}" for s in strategies)
    results["decision"] = {"at_20": at20, "winner": winner}
    return f"Decision (mean over the sites at 20 patients: {shown}): default strategy {winner}."


def speed(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    """``respira.suggest`` over SPRSound as one unlabelled archive, twice."""
    import csv
    import tempfile

    import respira
    from fit_site import READERS

    recordings = READERS["sprsound"](args.shared / "sprsound")
    with tempfile.TemporaryDirectory() as folder:
        for name, listed in (("warm", recordings[:2]), ("archive", recordings)):
            (Path(folder) / name).mkdir()
            with (Path(folder) / name / "labels.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["file", "crackle", "wheeze", "patient"])
                for item in listed:
                    writer.writerow([str(item.path), "", "", item.unit])
        archive = Path(folder) / "archive"
        started = time.perf_counter()  # the process's imports, paid once: untimed, as screen.py's warm-up
        respira.suggest(data_dir=str(Path(folder) / "warm"), budget=1, output=str(Path(folder) / "warm.csv"))
        warm_up = time.perf_counter() - started
        rounds = []
        for _ in range(2):
            started = time.perf_counter()
            output = str(Path(folder) / "next.csv")
            result = respira.suggest(data_dir=str(archive), budget=20, output=output, overwrite=True)
            rounds.append(time.perf_counter() - started)
        audio = result.audio_seconds
    say(
        f"suggest over SPRSound as one unlabelled archive ({len(recordings)} recordings, "
        f"{audio / 60:.1f} min of audio): first round {rounds[0]:.1f} s ({audio / rounds[0]:.0f} × real "
        "time, one model pass), "
        f"second round {rounds[1]:.1f} s (from the cache); before them, the process's imports and a first "
        f"round over 2 recordings {warm_up:.1f} s (counted in, the first round: "
        f"{audio / (rounds[0] + warm_up):.0f} × real time)"
    )
    return {
        "recordings": len(recordings),
        "audio_seconds": audio,
        "rounds_seconds": rounds,
        "warm_up_seconds": warm_up,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--sites", nargs="+", choices=["kauh", "sprsound"], default=["kauh", "sprsound"])
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/respira_fit_site"))
    parser.add_argument("--speed", action="store_true", help="time respira.suggest instead")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    name = "suggest_speed" if args.speed else "suggest"
    output = args.output or REPOSITORY / f"benchmarks/results/{name}.md"
    stored = args.json or REPOSITORY / f"benchmarks/results/{name}.json"
    return run_and_write(lambda say: speed(args, say) if args.speed else compare(args, say), output, stored)


if __name__ == "__main__":
    sys.exit(main())

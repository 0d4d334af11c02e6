"""Whether a site's unlabelled recordings make its labelled patients count more: fit-site's heads fitted
with the archive beside the labels, out of sample.

    python benchmarks/fit_site_archive.py [--shared ../shared] [--sites kauh sprsound] [--draws 8]
                                          [--cache DIR] [--output FILE] [--json FILE]

Protocol (written and committed before any number was seen):

- Sites: KAUH and SPRSound (Poor Quality left out) of ``../shared``, embedded once by the shipped detector
  as ``benchmarks/fit_site.py`` does (its ``--cache``: the same ``.npz`` files).
- Held out: per site, the fixed third of the patients ``benchmarks/suggest.py`` holds out (seed 2026,
  stratified by whether a patient has an abnormal recording). Nothing sees them, not even their
  embeddings. The rest is the pool: the site's archive.
- Orders: ``uncertainty`` (``respira suggest``'s default; one order) and ``random`` (``--draws`` orders,
  seeds ``0 ..``, 8: the orders ``benchmarks/suggest.py`` scores), each from the pool alone
  (``benchmarks/suggest.py``'s :func:`order`, first 30).
- For k = 10, 20, 30: the first k patients of an order are labelled (their true recording labels); every
  other recording of the pool is unlabelled (its windows' embeddings and the model's logits only).
- Variants: only how fit-site's heads (site head, anchored head) are fitted changes; everything else is
  fit-site's default procedure (:func:`respira.sites.procedure.fit_procedure`, seed 0: candidates, penalty
  by out-of-fold recording AUC, Platt scaling, thresholds, recording rules, the selection against the
  model as is, all on the labelled recordings):

  (a) ``labelled``: fit-site today (each feature standardised over the labelled windows it learns from);
  (b) ``archive_scale``: each feature standardised by the mean and spread of the windows it learns from
      together with the unlabelled ones (the unlabelled windows join the ridge fit with weight 0); the
      penalty grid, relative to the mean eigenvalue, follows;
  (c) ``self_training``: (b), and each unlabelled recording pseudo-labelled per label by the model as is
      (its recording probability through its own recording rule at or above its threshold); the
      pseudo-labelled windows join every head fit (the inner folds' and the final one; they are never
      scored), weighted by fit-site's balanced weights over labelled and pseudo-labelled recordings
      together (each recording the same, each class half), the pseudo-labelled ones then times 0.5;
  (d) ``propagation``: (b), and each unlabelled recording pseudo-labelled per label by label spreading on
      a kNN graph of recordings: a recording's place is the mean of its windows' embeddings, each
      feature standardised by the pool's windows; nodes are the labelled recordings a fit learns from
      (an inner fold's training recordings only: the fold left out is not in its graph) and the
      unlabelled ones; each node linked to its 10 nearest (Euclidean), symmetrised, binary weights;
      ``F = (I - 0.9 S)^-1 Y`` with ``S = D^-1/2 W D^-1/2`` and ``Y`` a labelled recording's class column
      set to 1 / (recordings of that class); the pseudo label is the larger column, and a recording
      with both columns 0 (no path to a label) gets none. Weighted as in (c).

  When the k patients lack a normal or an abnormal recording fit-site refuses: every variant scores the
  model as is (counted "unfit").
- Scored: the chosen procedure on every held-out recording, beside the model as is and all-normal.
- Reported per site, order, variant and k: the mean over the draws of the held-out ICBHI-style score with
  the patient-bootstrap 95 % interval of that mean (1000 resamples of the held-out patients), the draws,
  those below the model as is, the unfit ones; for (b)-(d), the paired gain over (a) (mean over the draws
  of each draw's difference, on the same resamples) with its 95 % interval.
- Decision (fixed now): a variant becomes fit-site's default only if, on each site, (1) its gain over (a)
  at k = 20, averaged over the two orders (random: the mean over its draws), is at least 1.0 point and
  neither order's gain is below 0; (2) its gain averaged over k = 10, 20, 30 and both orders is above 0;
  (3) it falls below the model as is in no more draws (all k, both orders) than (a). Among the variants
  that pass, the largest gain at k = 20 averaged over the sites and orders wins. Otherwise fit-site keeps
  fitting on the labelled recordings alone and the product does not change.

Threads: OMP_NUM_THREADS / ``respira``'s choice. Output: ``--output`` (the table) and ``--json`` (every
draw).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from _machine import run_and_write
from fit_site import NAMES, embedded
from suggest import SIZES, held_out
from suggest import order as unit_order

REPOSITORY = Path(__file__).resolve().parents[1]
VARIANTS = ("labelled", "archive_scale", "self_training", "propagation")
ORDERS = ("uncertainty", "random")
PSEUDO_WEIGHT, NEIGHBOURS, ALPHA = 0.5, 10, 0.9


def places(sample: Any, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``[recordings, hidden]``: each recording's mean window embedding, standardised."""
    sums = np.zeros((len(sample.recordings), sample.hidden_size))
    np.add.at(sums, sample.recording, sample.embeddings.astype(np.float64))
    counts = np.bincount(sample.recording, minlength=len(sample.recordings))[:, None]
    return (sums / counts - mean) / scale


def spread(labelled: np.ndarray, target: np.ndarray, unlabelled: np.ndarray) -> np.ndarray:
    """Label spreading (protocol, d): each unlabelled place's pseudo label (1, 0, or -1 for none)."""
    nodes = np.concatenate([labelled, unlabelled])
    squares = (nodes**2).sum(1)
    distance = squares[:, None] + squares[None, :] - 2 * nodes @ nodes.T
    np.fill_diagonal(distance, np.inf)
    near = np.argsort(distance, axis=1)[:, :NEIGHBOURS]
    graph = np.zeros(distance.shape)
    graph[np.repeat(np.arange(nodes.shape[0]), near.shape[1]), near.ravel()] = 1.0
    graph = np.maximum(graph, graph.T)
    root = 1.0 / np.sqrt(graph.sum(1))
    s = graph * root[:, None] * root[None, :]
    y = np.zeros((nodes.shape[0], 2))
    for kind in (0, 1):
        members = np.flatnonzero(target == kind)
        y[members, kind] = 1.0 / max(members.size, 1)
    f = np.linalg.solve(np.eye(nodes.shape[0]) - ALPHA * s, y)[labelled.shape[0] :]
    return np.where(f.max(1) <= 1e-12, -1, np.argmax(f, 1))


def use_archive(variant: str, archive: Any, stats: tuple[np.ndarray, np.ndarray]) -> None:
    """Make fit_procedure's heads learn with ``archive`` (the unlabelled recordings) by ``variant``."""
    from respira.sites import procedure
    from respira.sites.heads import PENALTIES, balanced_weights, ridge_paths
    from respira.sites.options import HEAD_CANDIDATES
    from respira.sites.scores import recording_probabilities

    original = procedure.__dict__.setdefault("_original_head_paths", procedure._head_paths)
    if variant == "labelled" or archive is None:
        procedure._head_paths = original
        return
    count = len(archive.recordings)
    model_calls = recording_probabilities(
        archive.base_logits, archive.recording, count, archive.aggregation, archive.top_k
    ) >= np.asarray(archive.base_thresholds)
    archive_places = places(archive, *stats)

    def head_paths(train: Any, folds: np.ndarray, label: int) -> dict[str, Any]:
        target = train.labels[:, label]
        if target.min() == target.max():
            return {}
        x, z = train.embeddings, train.base_logits[:, label]
        window_target = procedure._window_targets(train, label)
        train_places = places(train, *stats) if variant == "propagation" else None

        def fit(recordings_in: np.ndarray, inside: np.ndarray) -> tuple[Any, Any]:
            local = np.searchsorted(recordings_in, train.recording[inside])
            if variant == "archive_scale":
                weights = balanced_weights(local, target[recordings_in])
                extra_target, extra_weight = np.ones(archive.recording.size), np.zeros(archive.recording.size)
            else:
                if variant == "self_training":
                    pseudo = model_calls[:, label].astype(np.int64)
                else:
                    assert train_places is not None
                    pseudo = spread(train_places[recordings_in], target[recordings_in], archive_places)
                kept = pseudo >= 0
                renumber = np.cumsum(kept) - 1 + recordings_in.size
                kept_window = kept[archive.recording]
                union = np.concatenate([local, renumber[archive.recording][kept_window]])
                weights_all = balanced_weights(union, np.concatenate([target[recordings_in], pseudo[kept]]))
                weights = weights_all[: local.size]
                extra_weight = np.zeros(archive.recording.size)
                extra_weight[kept_window] = PSEUDO_WEIGHT * weights_all[local.size :]
                extra_target = np.where(pseudo[archive.recording] == 1, 1.0, -1.0)
            return ridge_paths(
                np.concatenate([x[inside], archive.embeddings]),
                np.concatenate([window_target[inside], extra_target]),
                np.concatenate([weights, extra_weight]),
                np.concatenate([z[inside], archive.base_logits[:, label]]),
            )

        windows_fold = folds[train.recording]
        out_of_fold = {name: np.zeros((x.shape[0], PENALTIES.size)) for name in HEAD_CANDIDATES}
        for fold in np.unique(folds):
            inside = windows_fold != fold
            recordings_in = np.flatnonzero(folds != fold)
            if target[recordings_in].min() == target[recordings_in].max():
                continue
            paths = fit(recordings_in, inside)
            for name, path in zip(HEAD_CANDIDATES, reversed(paths), strict=True):
                out_of_fold[name][~inside] = path.scores(x[~inside], z[~inside])
        full = fit(np.arange(len(train.recordings)), np.ones(x.shape[0], dtype=bool))
        model_row = (train.base_head[0][label], float(train.base_head[1][label]))
        rows = {"anchored_head": model_row, "site_head": None}
        return {
            name: procedure._HeadPaths(out_of_fold[name], path, rows[name])
            for name, path in zip(HEAD_CANDIDATES, reversed(full), strict=True)
        }

    procedure._head_paths = head_paths


def fitted(sample: Any, pool: np.ndarray, chosen: set[str], held: np.ndarray, variant: str) -> dict[str, Any]:
    """fit-site's procedure on the pool's recordings of ``chosen`` by ``variant``, scored on ``held``."""
    from respira.sites.out_of_sample import _scored
    from respira.sites.procedure import fit_procedure

    inside = np.array([str(u) in chosen for u in sample.units]) & pool
    classes = sample.classes[inside]
    if not ((classes == 0).any() and (classes != 0).any()):
        return {"fitted": False}
    archive = sample.subset(np.flatnonzero(pool & ~inside)) if (pool & ~inside).any() else None
    pooled = sample.embeddings[pool[sample.recording]].astype(np.float64)
    scale = pooled.std(0)
    use_archive(variant, archive, (pooled.mean(0), np.where(scale > 0, scale, 1.0)))
    try:
        procedure = fit_procedure(sample, np.flatnonzero(inside), seed=0)
    finally:
        use_archive("labelled", None, (pooled.mean(0), scale))
    predicted: dict[str, Any] = {}
    _scored(sample, {"chosen": procedure.rules["chosen"]}, np.flatnonzero(held), predicted)
    return {"fitted": True, "classes": predicted["chosen"][0], "procedure": "/".join(procedure.chosen)}


def run(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    import respira
    from respira.sites.out_of_sample import _scored
    from respira.sites.procedure import FittedRule
    from respira.sites.scores import _weights, _with_interval, weighted_icbhi_scores

    detector = respira.Detector.from_pretrained()
    results: dict[str, Any] = {"sizes": list(SIZES), "draws": args.draws, "sites": {}}
    table = [
        "| site | order | labelled patients | variant | score | gain over labelled | draws "
        "| below as is | unfit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for site in args.sites:
        sample, _, _ = embedded(site, args.shared / site, args.cache, detector)
        held_units, held = held_out(sample)
        index = np.flatnonzero(held)
        pool_sample = sample.subset(np.flatnonzero(~held))
        truth = sample.classes[index]
        weights = _weights(truth, sample.units[index], 1000, 0)
        base: dict[str, Any] = {}
        as_is_rule = FittedRule(heads=(None, None), thresholds=sample.base_thresholds)
        _scored(sample, {"as_is": as_is_rule}, index, base)
        as_is_classes = base["as_is"][0]
        as_is = weighted_icbhi_scores(truth, as_is_classes[index], weights)
        normal = weighted_icbhi_scores(truth, np.zeros(index.size, np.int64), weights)
        say(
            f"{NAMES[site]}: {len(sample.recordings)} recordings of {len(set(sample.units))} patients; "
            f"held out {index.size} recordings of {len(held_units)} patients; pool "
            f"{len(set(pool_sample.units))} patients ({len(pool_sample.recordings)} recordings). "
            f"Model as is {_cell(_with_interval('s', as_is))}, all-normal "
            f"{_cell(_with_interval('s', normal))}."
        )
        site_rows: dict[str, Any] = {"held_out_units": sorted(held_units), "orders": {}}
        for order_name in ORDERS:
            draws = 1 if order_name == "uncertainty" else args.draws
            orders = [unit_order(pool_sample, order_name, d) for d in range(draws)]
            site_rows["orders"][order_name] = {"orders": orders, "sizes": {}}
            for size in SIZES:
                scores: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
                rows: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
                for order in orders:
                    for variant in VARIANTS:
                        row = fitted(sample, ~held, set(order[:size]), held, variant)
                        classes = row.pop("classes", as_is_classes)
                        scores[variant].append(weighted_icbhi_scores(truth, classes[index], weights))
                        row["score"] = float(scores[variant][-1][0])
                        row["below_as_is"] = bool(row["score"] < as_is[0] - 1e-9)
                        rows[variant].append(row)
                entry: dict[str, Any] = {}
                for variant in VARIANTS:
                    mean = np.mean(scores[variant], axis=0)
                    gain = mean - np.mean(scores["labelled"], axis=0)
                    entry[variant] = {
                        "score": _with_interval("score", mean),
                        "gain": _with_interval("gain", gain),
                        "draws": rows[variant],
                        "below_as_is": sum(r["below_as_is"] for r in rows[variant]),
                        "unfit": sum(not r["fitted"] for r in rows[variant]),
                    }
                    shown_gain = "–" if variant == "labelled" else _cell(entry[variant]["gain"], signed=True)
                    table.append(
                        f"| {NAMES[site]} | {order_name} | {size} of {len(set(pool_sample.units))} | "
                        f"{variant} | {_cell(entry[variant]['score'])} | {shown_gain} | {len(orders)} | "
                        f"{entry[variant]['below_as_is']} | {entry[variant]['unfit']} |"
                    )
                site_rows["orders"][order_name]["sizes"][size] = entry
        site_rows["as_is"] = float(as_is[0])
        site_rows["all_normal"] = float(normal[0])
        results["sites"][site] = site_rows
    say()
    say(
        "Per recording, ICBHI-style score in % of fit-site fitted on the first k patients of each order, "
        "each variant of its heads, on the fixed held-out patients (mean over the draws; patient-bootstrap "
        "95 % interval of that mean; gain over `labelled` paired on the same resamples):"
    )
    say()
    for line in table:
        say(line)
    say()
    for line in decision(results):
        say(line)
    return results


def _cell(row: dict[str, float], signed: bool = False) -> str:
    key = next(iter(row))
    form = "+.1f"
    point, low, high = (100 * row[k] for k in (key, f"{key}_low", f"{key}_high"))
    if signed:
        return f"{point:{form}} ({low:{form}} to {high:{form}})"
    return f"{point:.1f} ({low:.1f}–{high:.1f})"


def decision(results: dict[str, Any]) -> list[str]:
    """The protocol's decision, one line per variant and one for the outcome."""
    sites = results["sites"]

    def gain(site: str, order: str, size: int, variant: str) -> float:
        return 100 * sites[site]["orders"][order]["sizes"][size][variant]["gain"]["gain"]

    def below(site: str, variant: str) -> int:
        return sum(
            sites[site]["orders"][o]["sizes"][k][variant]["below_as_is"] for o in ORDERS for k in SIZES
        )

    lines, passing = [], {}
    for variant in VARIANTS[1:]:
        verdicts, at20_all = [], []
        for site in sites:
            at20 = [gain(site, o, 20, variant) for o in ORDERS]
            overall = float(np.mean([gain(site, o, k, variant) for o in ORDERS for k in SIZES]))
            ok = (
                np.mean(at20) >= 1.0
                and min(at20) >= 0.0
                and overall > 0.0
                and below(site, variant) <= below(site, "labelled")
            )
            verdicts.append(ok)
            at20_all.extend(at20)
            lines.append(
                f"{variant} on {NAMES[site]}: gain at 20 {np.mean(at20):+.1f} (uncertainty {at20[0]:+.1f}, "
                f"random {at20[1]:+.1f}); over k = 10, 20, 30 {overall:+.1f}; below as is "
                f"{below(site, variant)} (labelled {below(site, 'labelled')}): "
                f"{'passes' if ok else 'fails'}"
            )
        if all(verdicts):
            passing[variant] = float(np.mean(at20_all))
    winner = max(passing, key=lambda v: passing[v]) if passing else None
    results["decision"] = {"passing": passing, "winner": winner}
    lines.append(
        f"Decision (protocol): {winner} becomes fit-site's default."
        if winner
        else "Decision (protocol): no variant helps on both sites by the protocol's rule; fit-site keeps "
        "fitting on the labelled recordings alone."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--sites", nargs="+", choices=["kauh", "sprsound"], default=["kauh", "sprsound"])
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/respira_fit_site"))
    parser.add_argument("--output", type=Path, default=REPOSITORY / "benchmarks/results/fit_site_archive.md")
    parser.add_argument("--json", type=Path, default=REPOSITORY / "benchmarks/results/fit_site_archive.json")
    args = parser.parse_args(argv)
    return run_and_write(lambda say: run(args, say), args.output, args.json)


if __name__ == "__main__":
    sys.exit(main())

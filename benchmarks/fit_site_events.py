"""Whether fit-site learns more from where the sounds are: SPRSound's event annotations against its
recording labels, out of sample.

    python benchmarks/fit_site_events.py [--shared ../shared] [--draws 20] [--cache DIR]
                                         [--output FILE] [--json FILE]

Protocol (written and committed before any number was seen):

- Site: SPRSound (Poor Quality left out) of ``../shared``, embedded once by the shipped detector as
  ``benchmarks/fit_site.py`` does (its ``--cache``: the same ``.npz``). Windows are those ``predict`` cuts
  (4 s every 2 s; window ``k`` of a recording spans ``[2k, min(2k + 4, duration)]`` seconds).
- Held out: the fixed third of the children ``benchmarks/suggest.py`` holds out (seed 2026, stratified by
  whether a child has an abnormal recording); no fit sees them. The rest is the pool.
- Draws: ``--draws`` (20) sets of 20 children drawn at random from the pool (seeded ``[2026, draw]``),
  redrawn until the 20 hold a normal and an abnormal recording.
- Per draw, fit-site's procedure (:func:`respira.sites.procedure.fit_procedure`, default candidates and
  rules) is fitted on the same 20 children twice:

  (a) ``recording``: as fit-site does today, every window labelled with its recording's flags;
  (b) ``events``: each head's window targets from the events (crackle events: Fine Crackle, Coarse
      Crackle, Wheeze+Crackle; wheeze events: Wheeze, Rhonchi, Stridor, Wheeze+Crackle): for a label L,
      a window of a recording that has at least one L event is positive when it overlaps an L event
      (any overlap) and negative otherwise, also inside a recording labelled L; a recording without an
      L event keeps its recording-level flag for L on every window (a recording labelled L whose
      events name no L event stays recording-level). Only the heads' window targets change: window
      weights (each recording the same, each recording class half), the penalty chosen by recording
      AUC, Platt scaling, thresholds, recording rules and the selection against the model as is are
      fit-site's, on recording labels.

  Each is scored on every held-out recording (the chosen procedure, and each head candidate used for
  both labels), beside the model as is and all-normal.
- Reported: per variant and candidate, the mean over the draws of the held-out ICBHI-style score with a
  patient-bootstrap 95 % interval of that mean (1000 resamples of the held-out children); the paired
  gain of (b) over (a) for the chosen procedure (mean over draws of the per-draw difference, on the
  same resamples), each draw's gain, how many draws fell below the model as is; the crackle and
  wheeze AUCs of the site head; not part of the decision, the same paired gain for each head candidate.
- Decision (fixed now): events become fit-site's way to learn where a site marked them only if, for the
  chosen procedure, the paired gain's 95 % interval lies above 0, or the gain is above 0 on every draw
  with a mean gain of at least 1 point. Otherwise fit-site keeps recording labels and the product does
  not change.

Threads: OMP_NUM_THREADS / ``respira``'s choice. Output: ``--output`` (the table) and ``--json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from _machine import run_and_write
from fit_site import embedded
from suggest import held_out

REPOSITORY = Path(__file__).resolve().parents[1]
SIZE = 20
WINDOW, HOP = 4.0, 2.0
CANDIDATES = ("chosen", "anchored_head", "site_head")
VARIANTS = ("recording", "events")


def event_spans(shared: Path) -> dict[str, list[tuple[float, float, int]]]:
    """Per recording stem: its crackle (0) and wheeze (1) events as ``(start, end, label)`` seconds."""
    from respira.data.sprsound import read_sprsound_events

    spans: dict[str, list[tuple[float, float, int]]] = {}
    for row in read_sprsound_events(shared / "sprsound").itertuples():
        for label, flag in enumerate((row.crackle, row.wheeze)):
            if flag:
                spans.setdefault(str(row.recording), []).append((float(row.start), float(row.end), label))
    return spans


def window_targets(sample: Any, spans: dict[str, list[tuple[float, float, int]]]) -> dict[str, np.ndarray]:
    """Per recording id: ``[windows, 2]`` 0/1 targets from its events (protocol, variant b)."""
    counts = np.bincount(sample.recording, minlength=len(sample.recordings))
    targets = {}
    from respira.core.windows import window_count

    for position, item in enumerate(sample.recordings):
        starts = HOP * np.arange(counts[position])
        stops = np.minimum(starts + WINDOW, item.duration)
        assert counts[position] == window_count(round(item.duration * 1000), 4000, 2000)
        target = np.tile(np.array([item.crackle, item.wheeze], dtype=np.float64), (counts[position], 1))
        for label in range(2):
            events = [(a, b) for a, b, kind in spans.get(item.recording_id, []) if kind == label]
            if events:
                target[:, label] = [
                    any(a < stop and b > start for a, b in events)
                    for start, stop in zip(starts, stops, strict=True)
                ]
        targets[item.recording_id] = target
    return targets


def use_targets(targets: dict[str, np.ndarray] | None) -> None:
    """Make fit_procedure's heads learn from ``targets`` (``None``: recording labels, fit-site's own): its
    window targets (``procedure._window_targets``) replaced, the rest of the procedure as is."""
    from respira.sites import procedure

    original = procedure.__dict__.setdefault("_original_window_targets", procedure._window_targets)
    if targets is None:
        procedure._window_targets = original
        return

    def window_targets(train: Any, label: int) -> np.ndarray:
        window = np.concatenate([targets[r.recording_id][:, label] for r in train.recordings])
        return np.where(window == 1, 1.0, -1.0)

    procedure._window_targets = window_targets


def draw(sample: Any, pool: list[str], number: int) -> set[str]:
    """20 children of the pool holding a normal and an abnormal recording (seeded)."""
    rng = np.random.default_rng([2026, number])
    for _ in range(200):
        chosen = set(rng.choice(pool, size=SIZE, replace=False).tolist())
        classes = sample.classes[[str(u) in chosen for u in sample.units]]
        if (classes == 0).any() and (classes != 0).any():
            return chosen
    raise RuntimeError("no draw with both kinds")


def run(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    import respira
    from respira.sites.out_of_sample import _scored
    from respira.sites.procedure import FittedRule, fit_procedure
    from respira.sites.scores import paired_gain, scores_with_intervals

    sample, _, _ = embedded(
        "sprsound", args.shared / "sprsound", args.cache, respira.Detector.from_pretrained()
    )
    targets = window_targets(sample, event_spans(args.shared))
    held_units, held = held_out(sample)
    index = np.flatnonzero(held)
    pool = sorted({str(u) for u in sample.units} - held_units)
    stacked = np.concatenate([targets[r.recording_id] for r in sample.recordings])
    window_labels = sample.labels[sample.recording]
    say(
        f"SPRSound (no Poor Quality): {len(sample.recordings)} recordings of "
        f"{len(set(sample.units))} children; "
        f"held out {int(held.sum())} recordings of {len(held_units)} children, pool {len(pool)} children. "
        f"Windows positive for crackle / wheeze: {int(window_labels[:, 0].sum())} / "
        f"{int(window_labels[:, 1].sum())} by recording labels, {int(stacked[:, 0].sum())} / "
        f"{int(stacked[:, 1].sum())} by events (of {len(stacked)})."
    )
    base: dict[str, Any] = {}
    _scored(sample, {"as_is": FittedRule((None, None), sample.base_thresholds)}, index, base)
    parts: dict[str, list[tuple]] = {}
    predicted_by_draw: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
    heads_by_draw: dict[str, dict[str, list[np.ndarray]]] = {}
    procedures: dict[str, list[str]] = {v: [] for v in VARIANTS}
    for number in range(args.draws):
        chosen = draw(sample, pool, number)
        inside = np.flatnonzero([str(u) in chosen for u in sample.units])
        for variant in VARIANTS:
            use_targets(targets if variant == "events" else None)
            procedure = fit_procedure(sample, inside, seed=0)
            predicted: dict[str, Any] = {}
            rules = {name: procedure.rules[name] for name in CANDIDATES if name in procedure.rules}
            _scored(sample, rules, index, predicted)
            for name in CANDIDATES:
                if name in predicted:
                    parts.setdefault(f"{variant}/{name}", []).append((held, *predicted[name]))
            predicted_by_draw[variant].append(predicted["chosen"][0])
            for name in CANDIDATES[1:]:
                if name in predicted:
                    heads_by_draw.setdefault(name, {v: [] for v in VARIANTS})[variant].append(
                        predicted[name][0]
                    )
            procedures[variant].append(f"{'/'.join(procedure.chosen)}@{procedure.aggregation}")
        say(f"draw {number}: recording {procedures['recording'][-1]}, events {procedures['events'][-1]}")
    use_targets(None)
    labels, units = sample.labels[index], sample.units[index]

    def scored(rows: list[tuple]) -> dict[str, Any]:
        return scores_with_intervals(
            labels,
            units,
            [(np.ones(index.size, bool), p[index], None if q is None else q[index]) for _, p, q in rows],
        )

    as_is = scored([(held, *base["as_is"])])
    all_normal = scored([(held, np.zeros(len(sample.recordings), np.int64), None)])
    rows = {name: scored(rows) for name, rows in parts.items()}
    # the paired gain of the mean over draws: one "predicted" per draw is not additive, so score each
    # draw's difference on the same resamples and average
    gains = [
        paired_gain(labels, units, b[index], a[index], resamples=1000)
        for a, b in zip(predicted_by_draw["recording"], predicted_by_draw["events"], strict=True)
    ]
    weights_gain = _mean_gain(labels, units, predicted_by_draw, index)
    below = {
        v: sum(
            paired_gain(labels, units, p[index], base["as_is"][0][index], resamples=1)["gain"] < -1e-9
            for p in predicted_by_draw[v]
        )
        for v in VARIANTS
    }
    say()
    say(
        f"Per recording, ICBHI-style score in % on the {len(held_units)} held-out children (mean over "
        f"{args.draws} draws of {SIZE} children; patient-bootstrap 95 % interval of that mean):"
    )
    say()
    say("| fitted from | candidate | score | crackle AUC | wheeze AUC | below as is |")
    say("| --- | --- | --- | --- | --- | --- |")
    say(f"| – | model as is | {_cell(as_is)} | {as_is['crackle_auc']:.2f} | {as_is['wheeze_auc']:.2f} | – |")
    say(f"| – | all-normal | {_cell(all_normal)} | – | – | – |")
    for variant in VARIANTS:
        for name in CANDIDATES:
            row = rows.get(f"{variant}/{name}")
            if row is None:
                continue
            note = f"{below[variant]} of {args.draws}" if name == "chosen" else "–"
            say(
                f"| {variant} labels | {name} | {_cell(row)} | {row['crackle_auc']:.2f} | "
                f"{row['wheeze_auc']:.2f} | {note} |"
            )
    each = ", ".join(f"{100 * g['gain']:+.1f}" for g in gains)
    say()
    say(
        f"Gain of events over recording labels, chosen procedure (paired, same held-out children): "
        f"{100 * weights_gain['gain']:+.1f} ({100 * weights_gain['gain_low']:+.1f} to "
        f"{100 * weights_gain['gain_high']:+.1f}); per draw {each}."
    )
    head_gains = {
        name: _mean_gain(labels, units, by_draw, index)
        for name, by_draw in heads_by_draw.items()
        if all(len(by_draw[v]) == args.draws for v in VARIANTS)
    }
    say(
        "Not part of the decision: the same paired gain for each head candidate used for both labels: "
        + "; ".join(
            f"{name} {100 * g['gain']:+.1f} ({100 * g['gain_low']:+.1f} to {100 * g['gain_high']:+.1f})"
            for name, g in head_gains.items()
        )
        + "."
    )
    positive_every = all(g["gain"] > 0 for g in gains) and weights_gain["gain"] >= 0.01
    helps = weights_gain["gain_low"] > 0 or positive_every
    say(
        "Decision (protocol): "
        + (
            "events help out of sample: fit-site learns from them."
            if helps
            else "events do not help out of sample by the protocol's rule: fit-site keeps recording labels."
        )
    )
    return {
        "draws": args.draws,
        "size": SIZE,
        "held_out_units": sorted(held_units),
        "as_is": as_is,
        "all_normal": all_normal,
        "rows": rows,
        "gain": weights_gain,
        "gain_by_draw": gains,
        "head_gains": head_gains,
        "below_as_is": below,
        "procedures": procedures,
        "helps": helps,
    }


def _mean_gain(
    labels: Any, units: Any, by_draw: dict[str, list[np.ndarray]], index: np.ndarray
) -> dict[str, float]:
    """Mean over draws of (events − recording) score, with a patient-bootstrap interval (same resamples)."""
    from respira.labels import flags_to_classes
    from respira.sites.scores import _weights, _with_interval, weighted_icbhi_scores

    truth = flags_to_classes(labels)
    weights = _weights(truth, units, 1000, 0)
    differences = [
        weighted_icbhi_scores(truth, b[index], weights) - weighted_icbhi_scores(truth, a[index], weights)
        for a, b in zip(by_draw["recording"], by_draw["events"], strict=True)
    ]
    return _with_interval("gain", np.mean(differences, axis=0))


def _cell(row: dict[str, Any]) -> str:
    low, high = 100 * row["icbhi_score_low"], 100 * row["icbhi_score_high"]
    return f"{100 * row['icbhi_score']:.1f} ({low:.1f}–{high:.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/respira_fit_site"))
    parser.add_argument("--output", type=Path, default=REPOSITORY / "benchmarks/results/fit_site_events.md")
    parser.add_argument("--json", type=Path, default=REPOSITORY / "benchmarks/results/fit_site_events.json")
    args = parser.parse_args(argv)
    return run_and_write(lambda say: run(args, say), args.output, args.json)


if __name__ == "__main__":
    sys.exit(main())

"""``respira evaluate``'s recording-level intervals: every patient-bootstrap resample scored alone
(:func:`~respira.metrics.recording_level.patient_bootstrap` of ``recording_level_scores``, the way before)
against every resample scored at once from its counts (``recording_level_intervals``, the way now).

    python benchmarks/recording_intervals.py [--recordings 168] [--patients 56] [--resamples 1000]

Seeded recordings shaped like KAUH's held-out set (168 recordings of 56 patients; crackle, wheeze, both or
neither; probabilities to 4 decimals, so some tie); both ways in this process, alternating, each timed
``--repeats`` times (3). The two must give the same intervals, float for float. Reported: each way's median
seconds and the ratio before / now (the baseline measured in the same run). Writes
``benchmarks/results/recording_intervals.{md,json}``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from _machine import run_and_write
from respira.metrics.recording_level import (
    flatten_scores,
    patient_bootstrap,
    recording_level_intervals,
    recording_level_scores,
    recording_strata,
)

RESULTS = Path(__file__).resolve().parent / "results"
THRESHOLDS = (0.5, 0.5)


def recordings(count: int, patients: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded targets ``[count, 3]`` (crackle, wheeze, normal), probabilities ``[count, 2]`` and patients."""
    rng = np.random.default_rng(0)
    flags = (rng.random((count, 2)) < 0.3).astype(np.int64)
    targets = np.column_stack([flags, flags.sum(axis=1) == 0]).astype(np.int64)
    probabilities = np.round(np.clip(0.35 * flags + 0.65 * rng.random((count, 2)), 0, 1), 4)
    return targets, probabilities, np.arange(count) % patients


def one_at_a_time(targets, probabilities, patients, resamples: int) -> dict[str, list[float]]:
    """The way before: each resample's recordings scored alone."""

    def statistic(indices: np.ndarray) -> dict[str, float]:
        return flatten_scores(recording_level_scores(targets[indices], probabilities[indices], THRESHOLDS))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        strata = recording_strata(targets)
        return patient_bootstrap(statistic, patients, resamples=resamples, strata=strata)


def at_once(targets, probabilities, patients, resamples: int) -> dict[str, list[float]]:
    return recording_level_intervals(targets, probabilities, THRESHOLDS, patients, resamples=resamples)


def run(args: argparse.Namespace, say) -> dict:
    data = recordings(args.recordings, args.patients)
    say(f"{args.recordings} recordings of {args.patients} patients, {args.resamples} resamples")
    say(f"median of {args.repeats} runs of each way")
    seconds: dict[str, list[float]] = {"one_at_a_time": [], "at_once": []}
    intervals: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, way in (("one_at_a_time", one_at_a_time), ("at_once", at_once)):
            start = time.perf_counter()
            intervals[name] = way(*data, args.resamples)
            seconds[name].append(time.perf_counter() - start)
    same = intervals["one_at_a_time"].keys() == intervals["at_once"].keys() and all(
        np.array_equal(intervals["at_once"][key], value, equal_nan=True)
        for key, value in intervals["one_at_a_time"].items()
    )
    median = {name: statistics.median(values) for name, values in seconds.items()}
    say("| way | median seconds |")
    say("| --- | --- |")
    say(f"| each resample scored alone (before) | {median['one_at_a_time']:.3f} |")
    say(f"| every resample at once from its counts (now) | {median['at_once']:.3f} |")
    say(f"before / now: {median['one_at_a_time'] / median['at_once']:.1f}x; the same intervals: {same}")
    return {"options": vars(args), "seconds": seconds, "median": median, "same_intervals": same}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=168)
    parser.add_argument("--patients", type=int, default=56)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    return run_and_write(
        lambda say: run(args, say), RESULTS / "recording_intervals.md", RESULTS / "recording_intervals.json"
    )


if __name__ == "__main__":
    sys.exit(main())

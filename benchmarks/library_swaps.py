"""Hand-written pieces against the libraries that could replace them, on real ../shared data, one run.

    OMP_NUM_THREADS=1 python benchmarks/library_swaps.py [--rounds 5] [--resamples 1000] [--seeds 10]

Three comparisons, each timing respira's former code and the library in the same rounds (interleaved,
the median over rounds of the per-round ratio):

- **time stretch**: the former phase vocoder (``tests/training/phase_vocoder_reference.py``) against
  Signalsmith Stretch (``python-stretch``, what ``TimeStretch`` runs now), with librosa's and
  audiomentations' ``TimeStretch`` for context when installed, on every real ICBHI cycle of 7 s or
  more (rates 0.8 and 1.2). Equivalence: the correlation of the long-term log power spectra (Welch,
  1024-point segments, 50-1500 Hz, mean removed) of the library's and the former output.
- **patient bootstrap**: the former loop (``tests/metrics/bootstrap_reference.py``) against
  ``scipy.stats.bootstrap`` (what ``patient_bootstrap`` runs now), percentile and BCa, on KAUH's 168
  real recordings of 56 patients (real labels and patients; the detector's probabilities are a fixed
  seeded draw, ``0.35 · label + 0.65 · uniform``, since no model is trained here), every recording-level
  score of ``recording_level_scores``.
- **patient k-fold**: ``respira.data.folds.patient_kfold`` against sklearn's ``StratifiedGroupKFold``
  (shuffled, seeded) on the real cycle index, the 76-recording sample (audio present) and all 920
  annotation files: time, fold-size and class-share deviations, and how often every class is in
  every fold (respira guarantees it; sklearn does not).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.signal

from _machine import cpu_name, load_average
from respira.audio import read_audio
from respira.data import read_icbhi_index
from respira.data.folds import patient_kfold
from respira.data.kauh import read_kauh_index
from respira.data.text_files import read_annotations
from respira.labels import CLASS_NAMES
from respira.metrics.recording_level import flatten_scores, patient_bootstrap, recording_level_scores
from respira.training.augment import stretch

ROOT = Path(__file__).resolve().parents[1]
RATE = 16_000


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _rounds(arms: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each arm per round, arms interleaved within a round (after one warm-up call each)."""
    for function in arms.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(rounds):
        for name, function in arms.items():
            times[name].append(_timed(function))
    return times


def _ratio(times: dict[str, list[float]], slow: str, fast: str) -> float:
    return statistics.median(s / f for s, f in zip(times[slow], times[fast], strict=True))


def _log_spectrum(signal: np.ndarray) -> np.ndarray:
    frequencies, power = scipy.signal.welch(signal.astype(np.float64), fs=RATE, nperseg=1024)
    spectrum = np.log(power[(frequencies >= 50) & (frequencies <= 1500)] + 1e-12)
    return spectrum - spectrum.mean()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_log_spectrum(a), _log_spectrum(b))[0, 1])


def time_stretch(icbhi: Path, rounds: int) -> None:
    from tests.training.phase_vocoder_reference import phase_vocoder

    cycles = []
    for wav in sorted((icbhi / "ICBHI_final_database").glob("*.wav")):
        kept = [c for c in read_annotations(wav.with_suffix(".txt")) if c.end - c.start >= 7.0]
        if kept:
            recording = read_audio(wav, RATE)
            cycles += [(wav.stem, recording[round(c.start * RATE) : round(c.end * RATE)]) for c in kept]
    print(f"\n## time stretch: {len(cycles)} real cycles of 7 s or more, rates 0.8 and 1.2, {rounds} rounds")
    extra: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {}
    try:
        import librosa

        extra["librosa"] = lambda x, rate: librosa.effects.time_stretch(x, rate=rate)
    except ImportError:
        pass
    try:
        import audiomentations

        def audiomentations_stretch(x: np.ndarray, rate: float) -> np.ndarray:
            transform = audiomentations.TimeStretch(rate, rate, leave_length_unchanged=False, p=1.0)
            return transform(samples=x, sample_rate=RATE)

        extra["audiomentations"] = audiomentations_stretch
    except ImportError:
        pass
    print(
        "| cycle | s | rate | former ms | library ms | former / library | "
        + "".join(f"{name} ms | " for name in extra)
        + "corr(library, former) | "
        + "".join(f"corr({name}, former) | " for name in extra)
    )
    ratios, correlations = [], []
    for name, cycle in cycles:
        for rate in (0.8, 1.2):
            arms = {
                "former": lambda c=cycle, r=rate: phase_vocoder(c, r),
                "library": lambda c=cycle, r=rate: stretch(c, r),
                **{key: (lambda c=cycle, r=rate, f=f: f(c, r)) for key, f in extra.items()},
            }
            times = _rounds(arms, rounds)
            former = phase_vocoder(cycle, rate)
            ratios.append(_ratio(times, "former", "library"))
            correlations.append(_correlation(stretch(cycle, rate), former))
            others = [_correlation(function(cycle, rate), former) for function in extra.values()]
            milliseconds = {key: 1000 * statistics.median(values) for key, values in times.items()}
            print(
                f"| {name} | {cycle.size / RATE:.2f} | {rate} | {milliseconds['former']:.0f} "
                f"| {milliseconds['library']:.0f} | {ratios[-1]:.2f}× | "
                + "".join(f"{milliseconds[key]:.0f} | " for key in extra)
                + f"{correlations[-1]:.4f} | "
                + "".join(f"{value:.4f} | " for value in others)
            )
    print(
        f"former / library: median {statistics.median(ratios):.2f}× (min {min(ratios):.2f}×); "
        f"spectral correlation: median {statistics.median(correlations):.4f}, min {min(correlations):.4f}"
    )


def bootstrap(kauh: Path, rounds: int, resamples: int) -> None:
    from tests.metrics.bootstrap_reference import old_patient_bootstrap

    index = read_kauh_index(kauh)
    targets = index[["crackle", "wheeze", "normal"]].to_numpy()
    probabilities = np.clip(
        0.35 * targets[:, :2] + 0.65 * np.random.default_rng(0).random((len(index), 2)), 0, 1
    )
    patients = index["patient_id"].to_numpy()

    def statistic(indices: np.ndarray) -> dict[str, float]:
        return flatten_scores(recording_level_scores(targets[indices], probabilities[indices], (0.5, 0.5)))

    print(
        f"\n## patient bootstrap: KAUH, {len(index)} recordings of {np.unique(patients).size} patients, "
        f"{resamples} resamples, {rounds} rounds"
    )
    times = _rounds(
        {
            "former": lambda: old_patient_bootstrap(statistic, patients, resamples=resamples, seed=0),
            "scipy": lambda: patient_bootstrap(statistic, patients, resamples=resamples, seed=0),
            "scipy_bca": lambda: patient_bootstrap(
                statistic, patients, resamples=resamples, seed=0, method="BCa"
            ),
        },
        rounds,
    )
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.2f} s")
    print(
        f"former / scipy: {_ratio(times, 'former', 'scipy'):.2f}×; former / scipy BCa: "
        f"{_ratio(times, 'former', 'scipy_bca'):.2f}×"
    )
    old = old_patient_bootstrap(statistic, patients, resamples=resamples, seed=0)
    other_seed = old_patient_bootstrap(statistic, patients, resamples=resamples, seed=1)
    new = patient_bootstrap(statistic, patients, resamples=resamples, seed=0)
    new_other = patient_bootstrap(statistic, patients, resamples=resamples, seed=1)
    bca = patient_bootstrap(statistic, patients, resamples=resamples, seed=0, method="BCa")
    print("| score | former (seed 0) | scipy (seed 0) | scipy (seed 1) | scipy BCa (seed 0) |")
    for name in old:
        cells = [old[name], new[name], new_other[name], bca[name]]
        print(f"| {name} | " + " | ".join(f"[{low:.3f}, {high:.3f}]" for low, high in cells) + " |")

    def largest(a: dict[str, list[float]], b: dict[str, list[float]]) -> float:
        return max(float(np.nanmax(np.abs(np.subtract(a[k], b[k])))) for k in a)

    print(
        f"largest bound difference: scipy vs former, same seed {largest(new, old):.4f}; former seed 0 vs "
        f"seed 1 (resampling noise) {largest(old, other_seed):.4f}; scipy seed 0 vs former seed 1 "
        f"{largest(new, other_seed):.4f}; BCa vs percentile {largest(bca, new):.4f}"
    )


def coverage(datasets: int, resamples: int) -> None:
    """How often the percentile and BCa intervals of ``patient_bootstrap`` cover a known sensitivity:
    simulated KAUH-sized studies (56 patients × 3 recordings, 60 % of patients positive, each patient's
    detection rate drawn from Beta with mean ``mu``, so recordings of one patient are correlated)."""
    print(
        f"\n## bootstrap coverage (nominal 95 %): {datasets} simulated studies per row, {resamples} resamples"
    )
    print("| true sensitivity | percentile: coverage | mean width | BCa: coverage | mean width |")
    for mu, concentration in ((0.6, 4.0), (0.9, 4.0)):
        rng = np.random.default_rng(0)
        hits, widths = {"percentile": 0, "BCa": 0}, {"percentile": [], "BCa": []}
        for study in range(datasets):
            positive = np.repeat(rng.random(56) < 0.6, 3)
            rate = np.repeat(rng.beta(mu * concentration, (1 - mu) * concentration, 56), 3)
            detected = (rng.random(168) < rate).astype(float)

            def statistic(indices: np.ndarray, p=positive, d=detected) -> dict[str, float]:
                chosen = p[indices]
                return {"sensitivity": float(d[indices][chosen].mean()) if chosen.any() else float("nan")}

            for method in hits:
                low, high = patient_bootstrap(
                    statistic, np.repeat(np.arange(56), 3), resamples=resamples, seed=study, method=method
                )["sensitivity"]
                hits[method] += low <= mu <= high
                widths[method].append(high - low)
        print(
            f"| {mu} | "
            + " | ".join(f"{100 * hits[m] / datasets:.1f} % | {np.mean(widths[m]):.3f}" for m in hits)
            + " |"
        )


def _sklearn_folds(index: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedGroupKFold

    folds = np.empty(len(index), dtype=np.int64)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(splitter.split(index, index["label"], index["patient_id"])):
        folds[test] = fold
    return folds


def _fold_quality(index: pd.DataFrame, folds: np.ndarray, k: int) -> tuple[float, float, bool]:
    """Largest relative fold-size deviation, largest class-share deviation (percentage points), and
    whether every class is in every fold."""
    sizes = np.bincount(folds, minlength=k)
    overall = index["label"].value_counts(normalize=True).reindex(CLASS_NAMES, fill_value=0)
    share_gaps, every_class = [], True
    for fold in range(k):
        labels = index.loc[folds == fold, "label"]
        every_class &= set(labels) == set(index["label"])
        share = labels.value_counts(normalize=True).reindex(CLASS_NAMES, fill_value=0)
        share_gaps.append(float((share - overall).abs().max()))
    return float(np.abs(sizes / (len(index) / k) - 1).max()), 100 * max(share_gaps), every_class


def folds(icbhi: Path, seeds: int, k: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        complete = Path(folder)
        (complete / "ICBHI_final_database").symlink_to(icbhi / "annotations_all", target_is_directory=True)
        for metadata in icbhi.glob("ICBHI_*.txt"):  # the split, diagnosis and demographics files
            (complete / metadata.name).symlink_to(metadata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            corpora = {
                "76-recording sample": read_icbhi_index(icbhi),
                "all 920 annotations": read_icbhi_index(complete),
            }
    for corpus, index in corpora.items():
        print(
            f"\n## patient {k}-fold: {corpus}, {len(index)} cycles of {index['patient_id'].nunique()} "
            f"patients, seeds 0..{seeds - 1}"
        )
        splitters = {
            "respira patient_kfold": lambda s, index=index: patient_kfold(index, k, seed=s).to_numpy(),
            "sklearn StratifiedGroupKFold": lambda s, index=index: _sklearn_folds(index, k, s),
        }
        rows: dict[str, list[tuple[float, float, float, bool]]] = {name: [] for name in splitters}
        partitions: dict[str, set[frozenset[frozenset[str]]]] = {name: set() for name in splitters}
        for seed in range(seeds):
            times = _rounds({name: (lambda f=f, s=seed: f(s)) for name, f in splitters.items()}, 3)
            for name, splitter in splitters.items():
                assignment = splitter(seed)
                rows[name].append((statistics.median(times[name]), *_fold_quality(index, assignment, k)))
                patients = index["patient_id"].astype(str).to_numpy()
                partitions[name].add(frozenset(frozenset(patients[assignment == f]) for f in range(k)))
        print(
            "| splitter | ms per call | fold size: largest deviation | class share: largest gap "
            "| every class in every fold | distinct fold sets over the seeds |"
        )
        for name, values in rows.items():
            sizes, gaps = [100 * v[1] for v in values], [v[2] for v in values]
            print(
                f"| {name} | {1000 * statistics.median(v[0] for v in values):.1f} "
                f"| {statistics.median(sizes):.1f} % (worst {max(sizes):.1f} %) "
                f"| {statistics.median(gaps):.1f} pp (worst {max(gaps):.1f}) "
                f"| {sum(v[3] for v in values)} of {seeds} | {len(partitions[name])} of {seeds} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the ../shared folder")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (default: 5)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default: 1000)")
    parser.add_argument("--seeds", type=int, default=10, help="fold seeds (default: 10)")
    parser.add_argument("--folds", type=int, default=5, help="folds (default: 5)")
    parser.add_argument(
        "--studies", type=int, default=200, help="simulated studies for coverage (default: 200)"
    )
    parser.add_argument(
        "--parts", default="stretch,bootstrap,folds", help="comma-separated parts: those and coverage"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # the former implementations live in tests/ as the tests' references
    if not (args.shared / "icbhi").is_dir():
        sys.exit(f"no real data at {args.shared}: pass --shared")
    print(f"machine: {cpu_name()}; load average before: {load_average()}")
    parts = set(args.parts.split(","))
    if "stretch" in parts:
        time_stretch(args.shared / "icbhi", args.rounds)
    if "bootstrap" in parts:
        bootstrap(args.shared / "kauh", max(1, args.rounds // 2), args.resamples)
    if "folds" in parts:
        folds(args.shared / "icbhi", args.seeds, args.folds)
    if "coverage" in parts:
        coverage(args.studies, min(args.resamples, 500))
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()

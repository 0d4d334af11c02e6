"""Few-shot calibration to a new site (``respira calibrate``): re-tune a multi-label model's thresholds on
a handful of labelled recordings from that site, and say how much the handful was worth.

The model scores the labelled sample once: an ICBHI-layout folder per annotated cycle, a KAUH folder
per recording (sliding windows aggregated by their maximum, as ``evaluate --dataset kauh``). Then

* **thresholds**: :func:`~respira.metrics.thresholds.choose_thresholds` (ICBHI score) on the whole
  sample, falling back to the model's own thresholds for a flag the sample cannot tune;
* **patient-bootstrap interval** (:func:`~respira.metrics.recording_level.patient_bootstrap`) of the
  ICBHI score at the model's thresholds and at the calibrated ones. The calibrated score is measured on
  the sample it was tuned on (optimistic);
* **applied only if it beats the model's out of sample**: each patient's examples decided at thresholds
  tuned on the other patients (leave one patient out) must score above the model's thresholds on the same
  examples, or the model's thresholds are kept (``apply_anyway`` overrides). Whichever are written must
  beat the all-normal classifier out of sample (:func:`written_below_baseline`), or ``respira calibrate``
  writes nothing (``--apply_anyway`` writes them, flagged). On leave-one-site-out
  (BENCHMARKS.md) re-tuning on 5 patients lowered the score of a head trained on ICBHI alone by 3.8 points
  (0 of 9 rotation x seed pairs better) while raising a two-site head's by 9.1; with this check, −1.2 and
  +5.5;
* **learning curve**: for ``n = 1 .. P - 1`` labelled patients, ``repeats`` random subsets of ``n``
  patients each tune the thresholds, scored on the sample's *other* patients (a held-out estimate),
  beside the model's own thresholds on those same patients; mean and standard deviation over subsets.

The ICBHI score here is (specificity + sensitivity) / 2 over the four classes that the two flags make
(:func:`respira.decision.decide_flags`), per cycle or per recording.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.corpora import resolve, scored_corpus
from ..decision import decide_flags
from ..labels import MULTI_LABEL_NAMES, flags_to_classes
from ..metrics import icbhi_scores, trivial_baselines
from ..metrics.baselines import BASELINE_PREFIX, BelowBaseline, below_baseline
from ..metrics.recording_level import aggregate_windows, patient_bootstrap
from ..metrics.thresholds import choose_thresholds
from ..utils.files import write_json_atomic, write_text_atomic
from ..utils.progress import progress, stage
from ..reports.figures import new_figure, save_figure

if TYPE_CHECKING:
    from ..models.respira import RespiraForAudioClassification

__all__ = [
    "LabelledSample",
    "calibrate",
    "cross_validated",
    "labelled_sample",
    "largest_scored_point",
    "learning_curve",
    "retuning_wins",
    "sample_score",
    "write_report",
    "written_below_baseline",
]


@dataclass(frozen=True)
class LabelledSample:
    """A model's ``[N, 2]`` (crackle, wheeze) probabilities on a labelled sample, its 0/1 targets and
    the patient of each example (``unit``: ``cycle`` or ``recording``)."""

    probabilities: np.ndarray
    targets: np.ndarray
    patients: np.ndarray
    unit: str


def labelled_sample(
    model: RespiraForAudioClassification,
    data_dir: str | Path,
    dataset: str = "icbhi",
    *,
    window: float = 4.0,
    hop: float = 2.0,
    batch_size: int = 32,
) -> LabelledSample:
    """Score ``model`` on every labelled example of ``data_dir`` (see the module docstring)."""
    from ..audio import read_audio
    from ..inference import predict_files, predict_windows

    spec = scored_corpus(dataset)
    if spec.labels != "cycle":  # recordings labelled per file (KAUH) or by their record label (SPRSound)
        if spec.read_index is None:
            raise ValueError(
                f"{spec.name} has no file index (its spec's read_index): calibrate cannot read it"
            )
        with warnings.catch_warnings():  # a partial folder (KAUH: some patients) is a sample, not an error
            warnings.simplefilter("ignore")
            index = resolve(spec.read_index)(data_dir)
        if "poor_quality" in index.columns:  # no crackle / wheeze label to calibrate on
            index = index[index["poor_quality"] == 0]
        targets = index[list(MULTI_LABEL_NAMES)].to_numpy(dtype=np.int64)
        patients = index[spec.group_by].to_numpy()
        check_sample(targets, patients, "recording")  # before any recording is scored
        rate = int(model.config.sampling_rate)
        probabilities = []
        for path in progress(index["path"], "scoring recordings", unit="recording"):
            rows = predict_windows(
                model, read_audio(path, rate), window=window, hop=hop, batch_size=batch_size
            )
            windows = np.array([[row[name] for name in MULTI_LABEL_NAMES] for row in rows])
            probabilities.append(aggregate_windows(windows, "max"))
        return LabelledSample(np.array(probabilities), targets, patients, "recording")
    layout = resolve(spec.locate)(data_dir)  # cycle labels: recordings with annotation files
    stems = sorted(set(layout.audio_files) & set(layout.annotation_files))
    if not stems:
        raise ValueError(f"{data_dir} has no recording with both audio and an annotation file")
    from ..data.text_files import read_annotations

    cycles = {stem: read_annotations(layout.annotation_files[stem]) for stem in stems}
    check_sample(
        np.array([[c.crackle, c.wheeze] for stem in stems for c in cycles[stem]], dtype=np.int64),
        np.array([stem.split("_")[0] for stem in stems for _ in cycles[stem]]),
        "cycle",
    )  # before any recording is scored
    paths = [str(layout.audio_files[stem]) for stem in stems]
    annotations = {str(layout.audio_files[stem]): layout.annotation_files[stem] for stem in stems}
    with stage("scoring the annotated cycles of recordings", len(paths), "recording") as shown:
        rows, errors = predict_files(
            model, paths, annotations=annotations, batch_size=batch_size, track=shown.track
        )
    if errors:
        raise ValueError(errors[0][1])
    flags = {"normal": (0, 0), "crackle": (1, 0), "wheeze": (0, 1), "both": (1, 1)}
    return LabelledSample(
        np.array([[row["crackle"], row["wheeze"]] for row in rows]),
        np.array([flags[row["annotated_label"]] for row in rows], dtype=np.int64),
        np.array([Path(row["file"]).name.split("_")[0] for row in rows]),
        "cycle",
    )


def check_sample(targets: np.ndarray, patients: np.ndarray, unit: str) -> None:
    """One-line ``ValueError`` unless a labelled sample can calibrate: examples (``unit``: cycle or
    recording) of at least 2 patients (the learning curve scores thresholds on patients it did not tune
    on), and both normal and abnormal ones (the ICBHI score needs both: specificity on the first,
    sensitivity on the second; without them no threshold is tuned and the "calibrated" model would be
    the model)."""
    count = len(np.unique(patients))
    if count < 2:
        raise ValueError(
            f"calibration needs labelled recordings of at least 2 patients (the learning curve scores "
            f"thresholds on patients it did not tune on); this sample has {count}"
        )
    normal = int((np.asarray(targets).sum(axis=1) == 0).sum())
    abnormal = len(targets) - normal
    if normal == 0 or abnormal == 0:
        raise ValueError(
            f"calibration needs both normal and abnormal (crackle or wheeze) {unit}s: the ICBHI score "
            f"weighs specificity on the first and sensitivity on the second; this sample has {normal} "
            f"normal and {abnormal} abnormal"
        )


def sample_score(targets: np.ndarray, probabilities: np.ndarray, thresholds: Sequence[float]) -> float:
    """ICBHI score of the flags decided at ``thresholds`` (NaN when the sample lacks normal or abnormal)."""
    labels = np.atleast_1d(flags_to_classes(np.asarray(targets)))
    predicted = decide_flags(probabilities, thresholds).classes
    normal, abnormal = int(np.sum(labels == 0)), int(np.sum(labels != 0))
    if normal == 0 or abnormal == 0:
        return math.nan
    return float(icbhi_scores(labels, predicted, warn=False)["icbhi_score"])


def _tuned(sample: LabelledSample, chosen: np.ndarray, fallback: Sequence[float]) -> tuple[float, float]:
    return choose_thresholds(
        sample.targets[chosen], sample.probabilities[chosen], fallback=fallback
    ).thresholds


def learning_curve(
    sample: LabelledSample, fallback: Sequence[float], *, repeats: int = 20, seed: int = 0
) -> list[dict[str, Any]]:
    """Per number of labelled patients ``n`` (1 .. P - 1): mean / std over ``repeats`` random patient
    subsets of the held-out ICBHI score with thresholds tuned on the subset, and with ``fallback``."""
    patients = np.unique(sample.patients)
    rng = np.random.default_rng(seed)
    rows = []
    for n in range(1, len(patients)):
        tuned_scores, base_scores = [], []
        for _ in range(repeats):
            subset = rng.choice(patients, size=n, replace=False)
            chosen = np.isin(sample.patients, subset)
            rest = ~chosen
            thresholds = _tuned(sample, chosen, fallback)
            tuned_scores.append(sample_score(sample.targets[rest], sample.probabilities[rest], thresholds))
            base_scores.append(sample_score(sample.targets[rest], sample.probabilities[rest], fallback))
        rows.append({"patients": n, **_spread("calibrated", tuned_scores), **_spread("model", base_scores)})
    return rows


def cross_validated(sample: LabelledSample, fallback: Sequence[float]) -> dict[str, float]:
    """Leave one patient out: each patient's examples decided at thresholds tuned on the sample's other
    patients. ``calibrated``: the ICBHI score of those out-of-sample decisions; ``model``: the score at
    ``fallback`` (the model's thresholds) on the same examples. Whether re-tuning on a sample like this one
    beats the model's thresholds on patients it did not see (:func:`calibrate` applies it only then)."""
    labels = np.atleast_1d(flags_to_classes(np.asarray(sample.targets)))
    predicted = np.zeros_like(labels)
    for patient in np.unique(sample.patients):
        own = sample.patients == patient
        predicted[own] = decide_flags(sample.probabilities[own], _tuned(sample, ~own, fallback)).classes
    return {
        "calibrated": float(icbhi_scores(labels, predicted, warn=False)["icbhi_score"]),
        "model": sample_score(sample.targets, sample.probabilities, fallback),
    }


def retuning_wins(held_out: Mapping[str, float]) -> bool:
    """Whether thresholds re-tuned on the sample beat the model's out of sample (:func:`cross_validated`'s
    scores): the rule :func:`calibrate` applies them by."""
    return held_out["calibrated"] > held_out["model"]


def _all_normal(sample: LabelledSample) -> float:
    classes = np.atleast_1d(flags_to_classes(np.asarray(sample.targets)))
    return trivial_baselines(classes)[f"{BASELINE_PREFIX}all_normal_icbhi_score"]


def written_below_baseline(
    sample: LabelledSample, held_out: Mapping[str, float], applied: bool
) -> BelowBaseline | None:
    """Whether the thresholds to be written (re-tuned when ``applied``, else the model's) fail to beat the
    all-normal classifier out of sample: their score with each patient left out of the tuning
    (:func:`cross_validated`) against calling every example normal (:mod:`respira.metrics.baselines`)."""
    which = "calibrated" if applied else "model"
    whose = "re-tuned" if applied else "model's"
    return below_baseline(
        f"leave-one-patient-out ICBHI score of the {whose} thresholds",
        f"cross_validated.{which}",
        held_out[which],
        {"all_normal": _all_normal(sample)},
    )


def largest_scored_point(curve: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The learning curve's point with the most labelled patients whose held-out score is defined (with one
    or two patients left over, they may all lack normal or abnormal examples: no ICBHI score)."""
    scored = [
        row for row in curve if not (math.isnan(row["calibrated_mean"]) or math.isnan(row["model_mean"]))
    ]
    return scored[-1] if scored else None


def _spread(name: str, values: list[float]) -> dict[str, float]:
    defined = [v for v in values if not math.isnan(v)]
    return {
        f"{name}_mean": statistics.fmean(defined) if defined else math.nan,
        f"{name}_std": statistics.stdev(defined) if len(defined) > 1 else math.nan,
        f"{name}_subsets": len(defined),
    }


def calibrate(
    sample: LabelledSample,
    fallback: Sequence[float],
    *,
    resamples: int = 1000,
    repeats: int = 20,
    seed: int = 0,
    confidence: float = 0.95,
    apply_anyway: bool = False,
) -> dict[str, Any]:
    """The calibrated thresholds, the scores before and after with patient-bootstrap intervals, and the
    learning curve (see the module docstring). The sample must pass :func:`check_sample`.

    The re-tuned thresholds (``tuned_thresholds``) become ``thresholds`` only when, one patient left out at
    a time, they beat the model's on the sample (:func:`cross_validated`; ``applied``), or with
    ``apply_anyway``; otherwise ``thresholds`` stay the model's."""
    check_sample(sample.targets, sample.patients, sample.unit)
    patients = np.unique(sample.patients)
    every = np.ones(len(sample.targets), dtype=bool)
    choice = choose_thresholds(sample.targets, sample.probabilities, fallback=fallback)
    held_out = cross_validated(sample, fallback)
    wins = retuning_wins(held_out)
    applied = apply_anyway or wins
    thresholds = choice.thresholds if applied else (float(fallback[0]), float(fallback[1]))
    below = written_below_baseline(sample, held_out, applied)

    def statistic(indices: np.ndarray) -> dict[str, float]:
        targets, probabilities = sample.targets[indices], sample.probabilities[indices]
        return {
            "model": sample_score(targets, probabilities, fallback),
            "calibrated": sample_score(targets, probabilities, thresholds),
        }

    intervals = patient_bootstrap(
        statistic, sample.patients, resamples=resamples, seed=seed, confidence=confidence
    )
    point = statistic(np.flatnonzero(every))
    return {
        "unit": sample.unit,
        "examples": len(sample.targets),
        "patients": len(patients),
        "thresholds_before": [float(t) for t in fallback],
        "thresholds": [float(t) for t in thresholds],
        "tuned_thresholds": [float(t) for t in choice.thresholds],
        "tuned": list(choice.tuned),
        "cross_validated": held_out,
        "applied": bool(applied),
        "applied_anyway": bool(apply_anyway and not wins),
        "baseline_all_normal_icbhi_score": _all_normal(sample),
        "below_baseline": [below.to_dict()] if below is not None else [],
        "icbhi_score": {
            name: {"value": point[name], "ci": intervals[name], "confidence": confidence} for name in point
        },
        "bootstrap": {"unit": "patient", "method": "percentile", "resamples": resamples, "seed": seed},
        "in_sample": "the calibrated score is measured on the sample it was tuned on (optimistic); "
        "the learning curve scores held-out patients",
        "learning_curve": learning_curve(sample, fallback, repeats=repeats, seed=seed),
        "learning_curve_repeats": repeats,
    }


def write_report(report: dict[str, Any], folder: str | Path) -> list[Path]:
    """``calibration.json``, ``learning_curve.csv`` and ``learning_curve.png`` in ``folder``."""
    folder = Path(folder)
    written = [write_json_atomic(folder / "calibration.json", report)]
    curve = report["learning_curve"]
    buffer = io.StringIO()
    if curve:
        writer = csv.DictWriter(buffer, fieldnames=list(curve[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(curve)
    written.append(write_text_atomic(folder / "learning_curve.csv", buffer.getvalue()))
    figure = new_figure(6.0, 4.0)
    ax = figure.add_subplot()
    x = [row["patients"] for row in curve]
    for name, label in (
        ("calibrated", "thresholds tuned on n patients"),
        ("model", "the model's thresholds"),
    ):
        mean = np.array([row[f"{name}_mean"] for row in curve], dtype=float)
        std = np.nan_to_num(np.array([row[f"{name}_std"] for row in curve], dtype=float))
        ax.plot(x, mean, marker="o", label=label)
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("labelled patients used for the thresholds")
    ax.set_ylabel(f"ICBHI score on the other patients (per {report['unit']})")
    ax.set_title(f"Few-shot calibration: mean ± sd over {report['learning_curve_repeats']} subsets")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    written.append(save_figure(figure, folder / "learning_curve.png"))
    return written


def calibration_card_section(report: dict[str, Any], data_dir: str) -> str:
    """The model card's section on the calibration (Markdown)."""
    before, after = report["icbhi_score"]["model"], report["icbhi_score"]["calibrated"]

    def cell(entry: dict[str, Any]) -> str:
        low, high = entry["ci"]
        return f"{entry['value']:.3f} ({100 * entry['confidence']:.0f} % CI {low:.3f}–{high:.3f})"

    last = largest_scored_point(report["learning_curve"])
    tuned, held_out = report["tuned_thresholds"], report["cross_validated"]
    sample = f"`{data_dir}` ({report['examples']} {report['unit']}s of {report['patients']} patients)"
    if report["applied"]:
        outcome = (
            f"The decision thresholds were re-tuned with `respira calibrate` on the labelled sample "
            f"{sample}: crackle {report['thresholds_before'][0]:.3f} → {tuned[0]:.3f}, wheeze "
            f"{report['thresholds_before'][1]:.3f} → {tuned[1]:.3f}"
        )
        outcome += (
            " (applied although they did not beat the previous ones out of sample)."
            if report["applied_anyway"]
            else "."
        )
    else:
        outcome = (
            f"`respira calibrate` kept the previous thresholds after scoring the labelled sample {sample}: "
            f"re-tuned there (crackle {tuned[0]:.3f}, wheeze {tuned[1]:.3f}), they did not beat them on "
            "patients left out of the tuning."
        )
    lines = [
        "## Few-shot calibration to a new site",
        "",
        outcome,
        f"Each patient left out in turn: {held_out['calibrated']:.3f} with thresholds tuned on the others, "
        f"{held_out['model']:.3f} with the previous ones.",
        "",
        f"- ICBHI score on that sample at the previous thresholds: {cell(before)}",
        f"- at the calibrated thresholds (tuned on the same sample, optimistic): {cell(after)}",
    ]
    if last is not None:
        lines.append(
            f"- held out: thresholds tuned on {last['patients']} patients score "
            f"{last['calibrated_mean']:.3f} on the others (the previous thresholds "
            f"{last['model_mean']:.3f}); see `learning_curve.png` / `learning_curve.csv`"
        )
    lines += [
        f"- **below the trivial baseline**: {BelowBaseline.from_dict(entry).line()}"
        for entry in report.get("below_baseline", [])
    ]
    lines += ["", "Intervals resample patients (bootstrap, percentile).", ""]
    return "\n".join(lines)

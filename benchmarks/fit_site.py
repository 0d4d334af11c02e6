"""Fitting the shipped detector to a site on a few labelled patients, judged on the site's other patients.

    python benchmarks/fit_site.py [--shared ../shared] [--sites icbhi kauh sprsound] [--sizes 5 10 20]
                                  [--draws 3] [--cache DIR] [--threads N] [--selection RULE]
                                  [--baseline FOLDER] [--output FILE] [--json FILE]

The three sites of ../shared, each labelled per recording: the ICBHI sample (a recording holds crackles
when any of its annotated cycles does; wheezes alike), KAUH (labels from the file names; each
recording's three filter modes are three recordings of one patient, one unit) and SPRSound (the record
labels, Poor Quality left out). The shipped detector (``respira.Detector.from_pretrained()``) embeds
each site once (:func:`respira.sites.site_sample.embed_recordings`, timed; the sample is kept in
``--cache`` so a rerun skips it). Then, per site:

- the learning curve (:func:`respira.sites.out_of_sample.learning_curve`): ``k`` labelled patients drawn at
  random (``--draws`` draws each), the procedure fitted on them (its recording rule chosen with the
  candidates) and scored per recording on the site's other patients: the model as is, re-tuned
  thresholds, the site head, the anchored head (each at the recording rule its inner score prefers), the
  chosen procedure and all-normal; the mean over the draws with a patient-bootstrap 95 % interval of
  that mean, how many draws' chosen procedure scored below the model as is, and the rules chosen;
- ``fit-site``'s own nested cross-validation on all the site's patients
  (:func:`respira.sites.out_of_sample.fit_sample`, 5 outer patient-wise folds, timed).

``--baseline FOLDER``: an earlier detector folder that differs from the shipped one only in its head
(classifier weights, thresholds, recording rule; anything else is refused). Its sample is the shipped
detector's embeddings under its head (checked against its own pass over each site's first two recordings),
and its learning curve is drawn with the same seeds, so the same labelled and held-out patients: per size,
each one's mean as is and chosen, the chosen procedure's paired difference with a patient-bootstrap 95 %
interval, the draws the shipped detector scored lower, and each one's draws below as is. The header names
both folders' ``model.safetensors`` and ``config.json`` by SHA-256.

``--selection``: one of :data:`respira.sites.options.SELECTIONS` instead of fit-site's default, to measure
a rule (the output's first line names it).

Torch threads: ``--threads``, else ``respira fit-site``'s own choice
(:func:`respira.utils.threads.apply_num_threads`: the usable cores other processes leave idle).
Timing: the embedding pass against ``fit_sample``, and audio seconds per wall second of the two (embedding
plus nested CV; start-up, the learning curve, writing and the ONNX export aside: the wall time a user waits is
``fit_site_wall.py``'s). Everything printed is written to ``--output``
(the table BENCHMARKS.md pastes) and the full rows to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from _machine import load_average, run_header, write_results

REPOSITORY = Path(__file__).resolve().parents[1]
COLUMNS = ("as_is", "thresholds", "site_head", "anchored_head", "chosen", "all_normal")
TITLES = ("as is", "thresholds", "site head", "anchored head", "chosen", "all-normal")


def icbhi_recordings(root: Path) -> list[Any]:
    """The ICBHI sample's recordings, labelled from their cycles, the patient as unit."""
    from respira.data.corpus_files import locate_corpus
    from respira.data.text_files import read_annotations
    from respira.sites import LabelledRecording

    layout = locate_corpus(root)
    recordings = []
    for stem, audio in sorted(layout.audio_files.items()):
        cycles = read_annotations(layout.annotation_files[stem])
        crackle = any(cycle.crackle for cycle in cycles)
        wheeze = any(cycle.wheeze for cycle in cycles)
        recordings.append(LabelledRecording(audio, crackle, wheeze, stem.split("_")[0], stem))
    return recordings


def kauh_recordings(root: Path) -> list[Any]:
    """KAUH's recordings (three filter modes each), labelled from the file names, the patient as unit."""
    from respira.data.kauh import read_kauh_index
    from respira.sites import LabelledRecording

    index = read_kauh_index(root)
    return [
        LabelledRecording(
            Path(row.path), bool(row.crackle), bool(row.wheeze), str(row.patient_id), row.recording
        )
        for row in index.itertuples()
    ]


def sprsound_recordings(root: Path) -> list[Any]:
    """SPRSound's recordings with their record labels, Poor Quality left out, the child as unit."""
    from respira.data.sprsound import locate_sprsound, sprsound_recordings
    from respira.sites import LabelledRecording

    recordings = []
    for item in sprsound_recordings(locate_sprsound(root)):
        flags = item.annotation.flags
        if flags["poor_quality"]:
            continue
        recordings.append(
            LabelledRecording(
                item.audio,
                bool(flags["crackle"]),
                bool(flags["wheeze"]),
                str(item.name.patient_id),
                item.name.stem,
            )
        )
    return recordings


READERS = {"icbhi": icbhi_recordings, "kauh": kauh_recordings, "sprsound": sprsound_recordings}
NAMES = {"icbhi": "ICBHI sample", "kauh": "KAUH", "sprsound": "SPRSound (no Poor Quality)"}


def embedded(site: str, root: Path, cache: Path, detector: Any) -> tuple[Any, float, bool]:
    """The site's sample, the embedding seconds, and whether they came from the cache."""
    from respira.sites import SiteSample
    from respira.sites.site_sample import embed_recordings

    stored, timing = cache / f"{site}.npz", cache / f"{site}.json"
    if stored.is_file() and timing.is_file():
        return SiteSample.load(stored), float(json.loads(timing.read_text())["embedding_seconds"]), True
    recordings = READERS[site](root)
    started = time.perf_counter()
    sample = embed_recordings(detector, recordings, progress=False)
    seconds = time.perf_counter() - started
    cache.mkdir(parents=True, exist_ok=True)
    sample.save(stored)
    timing.write_text(json.dumps({"embedding_seconds": seconds}))
    return sample, seconds, False


HEAD_ONLY = ("decision_thresholds", "recording_aggregation", "calibration", "_name_or_path")
"""The config entries a ``--baseline`` detector may hold apart from the default's: its head's alone."""


def folder_digest(folder: Path) -> str:
    """``model.safetensors``' and ``config.json``'s SHA-256 in ``folder`` (a results file's header)."""
    from respira.utils.files import sha256_of

    return ", ".join(f"{name} {sha256_of(folder / name)}" for name in ("model.safetensors", "config.json"))


def baseline_detector(folder: Path, detector: Any) -> Any:
    """The earlier detector of ``folder``, refused in one line unless it is ``detector`` but for its head
    (classifier weights, thresholds, recording rule): the encoder the same, so the embeddings are shared."""
    import torch

    import respira
    from respira.hub.loading import ModelLoadError

    if not (folder / "model.safetensors").is_file():
        raise SystemExit(f"--baseline {folder}: no model.safetensors there (a detector folder, unzipped)")
    try:
        baseline = respira.Detector.from_pretrained(folder, onnx=False)
    except ModelLoadError as error:
        raise SystemExit(f"--baseline {folder}: {error}") from None
    ours, theirs = detector.model.state_dict(), baseline.model.state_dict()
    apart = sorted(
        name
        for name in ours.keys() | theirs.keys()
        if name not in ours or name not in theirs or not torch.equal(ours[name], theirs[name])
    )
    ours_config, theirs_config = detector.config.to_dict(), baseline.config.to_dict()
    apart += sorted(
        name
        for name in ours_config.keys() | theirs_config.keys()
        if name not in HEAD_ONLY and ours_config.get(name) != theirs_config.get(name)
    )
    apart += [
        name for name in ("window", "hop", "smoothing") if detector.options[name] != baseline.options[name]
    ]
    beyond = [name for name in apart if not name.startswith("classifier.")]
    if beyond:
        raise SystemExit(
            f"--baseline {folder}: not the default detector but for its head ({beyond[0]} differs)"
        )
    return baseline


def reheaded(sample: Any, baseline: Any, check: int = 2) -> tuple[Any, dict[str, float]]:
    """``sample``'s windows under ``baseline``'s head, thresholds and recording rule, and the check: the
    largest differences from ``baseline``'s own pass over the first ``check`` recordings (embeddings,
    logits) and of the default's logits rebuilt from its head; a pass that embeds differently is refused."""
    import numpy as np

    from respira.inference.embeddings import WindowEmbeddings
    from respira.sites import SiteSample, embed_recordings, linear_head

    def logits(head: Any) -> Any:
        return sample.embeddings.astype(np.float64) @ np.asarray(head[0]).T + np.asarray(head[1])

    windows = WindowEmbeddings(
        sample.embeddings, sample.recording, logits(linear_head(baseline.model)), sample.duration
    )
    theirs = SiteSample.from_embeddings(baseline, windows, sample.recordings)
    own = embed_recordings(baseline, sample.recordings[:check], progress=False)
    first = sample.recording < check
    found = {
        "embedding_max_difference": float(np.abs(own.embeddings - sample.embeddings[first]).max()),
        "logit_max_difference": float(np.abs(own.base_logits - theirs.base_logits[first]).max()),
        "default_logit_max_difference": float(np.abs(logits(sample.base_head) - sample.base_logits).max()),
        "checked_recordings": check,
    }
    if found["embedding_max_difference"] > 1e-4 or found["logit_max_difference"] > 1e-3:
        raise SystemExit(f"--baseline: its own pass differs from the shared embeddings ({found})")
    return theirs, found


def cell(row: Mapping[str, Any]) -> str:
    """``score (low–high)`` in percent."""
    low, high = 100 * row["icbhi_score_low"], 100 * row["icbhi_score_high"]
    return f"{100 * row['icbhi_score']:.1f} ({low:.1f}–{high:.1f})"


def counts(values: Any) -> dict[str, int]:
    """How often each value occurs."""
    found: dict[str, int] = {}
    for value in values:
        found[str(value)] = found.get(str(value), 0) + 1
    return found


def below_and_rules(rows: list[dict[str, Any]], size: int) -> list[str]:
    """For the draws of ``size`` labelled patients: how many chose a procedure that scored below the
    model as is on the other patients, and the recording rules chosen."""
    scores = {(row["draw"], row["candidate"]): row for row in rows if row["units"] == size}
    draws = sorted({draw for draw, _ in scores})
    below = sum(
        scores[draw, "chosen"]["icbhi_score"] < scores[draw, "as_is"]["icbhi_score"] - 1e-9 for draw in draws
    )
    rules = counts(scores[draw, "chosen"]["recording_aggregation"] for draw in draws)
    return [f"{below} of {len(draws)}", ", ".join(f"{rule} {count}" for rule, count in sorted(rules.items()))]


def signed(value: float) -> str:
    """A difference in percent points, its sign always shown (``+1.2``, ``−0.3``)."""
    return f"{100 * value:+.1f}".replace("-", "−")


RESAMPLES = 1000
"""The patient-bootstrap resamples of the paired difference (:func:`learning_curve`'s own number)."""

PAIRED_HEADER = (
    "| site | labelled patients | as is: baseline | as is: default | chosen: baseline | chosen: default "
    "| chosen, default − baseline (paired) | draws the default lower | each draw, default − baseline "
    "| below as is: baseline "
    "| below as is: default |"
)


def paired_rows(
    site: str, sample: Any, curves: tuple[Any, Any], sizes: list[int], seed: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Per size, the (default, baseline) learning ``curves`` on the same draws: each one's mean as is and
    chosen, the chosen procedure's paired difference with its patient-bootstrap interval (each resample
    shared by both and by every draw), how many draws the default scored lower, and each one's draws below
    as is; the table's lines and the JSON rows."""
    from respira.metrics.recording_level import paired_differences

    ours, theirs = curves
    if ours.drawn != theirs.drawn:
        raise SystemExit(f"{site}: the baseline's draws are not the default's")
    lines, rows = [], []
    for size in sizes:
        gain = paired_differences(
            sample.labels, sample.units, ours.parts[size, "chosen"], theirs.parts[size, "chosen"],
            keys=("icbhi_score",), resamples=RESAMPLES, seed=seed,
        )["icbhi_score"]  # fmt: skip
        mean = [{r["candidate"]: r for r in c.summary if r["units"] == size} for c in (theirs, ours)]
        draws = [
            {(r["draw"], r["candidate"]): r["icbhi_score"] for r in c.rows if r["units"] == size}
            for c in curves
        ]
        count = len(ours.drawn[size])
        each = [
            draws[0][d, "chosen"] - draws[1][d, "chosen"] for d, name in sorted(draws[0]) if name == "chosen"
        ]
        lower = sum(difference < -1e-9 for difference in each)
        below = [below_and_rules(c.rows, size)[0] for c in (theirs, ours)]
        interval = (
            f"{signed(gain['gain'])} ({signed(gain['gain_low'])} to {signed(gain['gain_high'])}; "
            f"{gain['gain_undefined']} of {RESAMPLES} resamples undefined)"
        )
        cells = [
            cell(mean[0]["as_is"]),
            cell(mean[1]["as_is"]),
            cell(mean[0]["chosen"]),
            cell(mean[1]["chosen"]),
        ]
        lines.append(
            f"| {NAMES[site]} | {size} of {len(set(sample.units))} ({count} draws) | "
            + " | ".join([*cells, interval, f"{lower} of {count}", ", ".join(map(signed, each)), *below])
            + " |"
        )
        rows.append(
            {
                "units": size,
                "draws": count,
                "drawn": ours.drawn[size],
                **gain,
                "default_lower": lower,
                "each_draw": each,
            }
        )
    return lines, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument("--sites", nargs="+", choices=sorted(READERS), default=["icbhi", "kauh", "sprsound"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[5, 10, 20])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--selection", default=None, help="fit-site's selection rule (default: its own, procedure.SELECTION)"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/respira_fit_site"))
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="default: fit-site's (the usable cores other processes leave idle)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="an earlier detector folder (the default's encoder, another head): each site's learning curve "
        "again from it on the same draws, and the chosen procedure's paired difference",
    )
    parser.add_argument("--output", type=Path, default=REPOSITORY / "benchmarks/results/fit_site.md")
    parser.add_argument("--json", type=Path, default=REPOSITORY / "benchmarks/results/fit_site.json")
    args = parser.parse_args(argv)
    from respira.utils.threads import apply_num_threads

    args.threads = apply_num_threads(requested=args.threads).num_threads

    import respira
    from respira.sites.out_of_sample import fit_sample, learning_curve

    chosen_rule = {} if args.selection is None else {"selection": args.selection}
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    detector = respira.Detector.from_pretrained()
    baseline = None if args.baseline is None else baseline_detector(args.baseline, detector)
    details = [f"selection {args.selection}"] if args.selection is not None else []
    if baseline is not None:
        default_folder = Path(detector.config.name_or_path)
        details += [
            f"default {default_folder.name}: {folder_digest(default_folder)}",
            f"baseline {args.baseline}: {folder_digest(args.baseline)}",
        ]
    say(run_header(args.threads, *details))
    results: dict[str, Any] = {
        "sizes": args.sizes,
        "draws": args.draws,
        "seed": args.seed,
        "baseline": None if baseline is None else str(args.baseline),
        "sites": {},
    }
    paired_table = [PAIRED_HEADER, "| " + " | ".join(["---"] * 11) + " |"]
    timing_rows = []
    header = "| site | labelled patients | " + " | ".join(TITLES) + " | below as is | recording rule chosen |"
    table = [header, "| " + " | ".join(["---"] * (len(TITLES) + 4)) + " |"]
    for site in args.sites:
        sample, embed_seconds, cached = embedded(site, args.shared / site, args.cache, detector)
        audio = float(sample.duration.sum())
        started = time.perf_counter()
        fit = fit_sample(sample, seed=args.seed, **chosen_rule)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        curve = learning_curve(sample, sizes=args.sizes, draws=args.draws, seed=args.seed, **chosen_rule)
        curve_seconds = time.perf_counter() - started
        units = len(set(sample.units))
        for size in args.sizes:
            rows = {row["candidate"]: row for row in curve.summary if row["units"] == size}
            cells = [cell(rows[name]) if name in rows else "–" for name in COLUMNS]
            draws = max(row["draws"] for row in rows.values())
            table.append(
                f"| {NAMES[site]} | {size} of {units} ({draws} draws) | "
                + " | ".join([*cells, *below_and_rules(curve.rows, size)])
                + " |"
            )
        nested = [
            cell(fit.row(name)) if any(r["candidate"] == name for r in fit.outer) else "–" for name in COLUMNS
        ]
        below = "yes" if fit.row("chosen")["icbhi_score"] < fit.row("as_is")["icbhi_score"] - 1e-9 else "no"
        rules = ", ".join(
            f"{rule} {count}" for rule, count in sorted(counts(r[0] for r in fit.rules_by_fold).items())
        )
        table.append(
            f"| {NAMES[site]} | all {units}, 5-fold nested CV | "
            + " | ".join([*nested, below, f"{rules} (of the outer folds); all {units}: {fit.aggregation}"])
            + " |"
        )
        timing_rows.append(
            (
                NAMES[site],
                len(sample.recordings),
                units,
                audio,
                embed_seconds,
                cached,
                fit_seconds,
                curve_seconds,
            )
        )
        results["sites"][site] = {
            "recordings": len(sample.recordings),
            "units": units,
            "audio_seconds": audio,
            "embedding_seconds": embed_seconds,
            "embedding_cached": cached,
            "fit_site_seconds": fit_seconds,
            "learning_curve_seconds": curve_seconds,
            "fit_site": {
                k: v for k, v in fit.to_json().items() if k not in ("head_weight", "head_bias", "folds")
            },
            "learning_curve": {"rows": curve.rows, "summary": curve.summary},
        }
        if baseline is not None:
            theirs, check = reheaded(sample, baseline)
            their_curve = learning_curve(
                theirs, sizes=args.sizes, draws=args.draws, seed=args.seed, **chosen_rule
            )
            lines_, paired = paired_rows(site, sample, (curve, their_curve), args.sizes, args.seed)
            paired_table += lines_
            results["sites"][site]["baseline"] = {
                "check": check,
                "learning_curve": {"rows": their_curve.rows, "summary": their_curve.summary},
                "paired": paired,
            }
    say()
    say(
        "Per recording, ICBHI-style score in % (95 % patient-bootstrap interval), on the site's other "
        "patients; 'below as is': draws whose chosen procedure scored below the model as is on them:"
    )
    say()
    for line in table:
        say(line)
    if baseline is not None:
        say()
        say(
            "The same draws fitted from the baseline detector (--baseline: the default's encoder, its "
            "own head, thresholds and recording rule): each one's mean over the draws, the chosen "
            "procedure's paired difference (95 % patient-bootstrap interval, each resample shared by both "
            "and every draw; resamples lacking a normal or an abnormal recording are left out and counted), "
            "the draws whose chosen procedure scored lower from the default, each draw's difference, and "
            "each one's draws below as is:"
        )
        say()
        for line in paired_table:
            say(line)
    say()
    say(
        "| site | recordings | patients | audio | embedding | fit_site (nested CV) "
        "| × real time, embedding + fit_site | fit_site / embedding | learning curve |"
    )
    say("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, recordings, units, audio, embed, cached, fit_seconds, curve_seconds in timing_rows:
        note = " (an earlier run's)" if cached else ""
        say(
            f"| {name} | {recordings} | {units} | {audio / 60:.1f} min | {embed:.1f} s{note} "
            f"| {fit_seconds:.1f} s | "
            f"{audio / (embed + fit_seconds):.0f} | {fit_seconds / embed:.2f} | {curve_seconds:.1f} s |"
        )
    say(f"<!-- load average {load_average()} (end) -->")
    write_results(lines, args.output, results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

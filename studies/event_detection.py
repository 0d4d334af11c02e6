"""Frame-level event detection against the window baseline, on held-out patients (issue 34).

    python studies/event_detection.py [--work /tmp/respira_event_study] [--shared ../shared] [--seeds 0,1,2]

Does frame event detection (:meth:`respira.Detector.detect_events`, rule ``frames``: the head applied to
each of the encoder's time steps,
interpolated onto a 0.02 s grid, decided at the model's thresholds, made into events by
:func:`respira.models.respira.decision.posteriors_to_events` with the default
:class:`~respira.models.respira.decision.EventSettings`) say
*where* crackles and wheezes are better than what a user has today:
:func:`respira.inference.windowing.predict_windows`
(4-s windows every 1 s), every window whose flag is present an event of its span, overlapping or adjacent
positive windows merged, its confidence the windows' maximum probability (:func:`window_events`)?

**Held-out patients.** SPRSound: trained on the official ``train`` part, scored on ``inter_test``, whose
patients are not in ``train`` (asserted on the files). ICBHI: the official train/test split, made
patient-wise (a patient with a recording on the test side and one on the train side would train; in this
sample there is none; asserted). Poor Quality SPRSound records carry no crackle / wheeze annotation: they
neither train nor are scored.

**References**, as ``respira evaluate --task events`` makes them (the corpus plug-ins' ``reference_events``,
each label's merged by ``merge_references``; :func:`_event_units.references`). SPRSound: its annotated
events (fine / coarse crackle → crackle, wheeze / rhonchi / stridor → wheeze, wheeze+crackle → both).
ICBHI: each flagged cycle an event of its flag spanning the whole cycle: *weak* references (a flag says
the sound is somewhere in the cycle, not where), so ICBHI's event-based scores measure agreement with cycle
boundaries more than detection. Every reference is clipped to its recording.

**Models** (:mod:`_event_units`), on the flagship's frozen encoder (AudioSet EfficientAT mn04, 32 kHz,
4 kHz low-pass, 8-s input, mean pooling; the flagship recipe's head: each embedding feature standardised,
dropout 0.3, one linear layer, multi-label BCE), 3 seeds each; the head alone is trained (Adam 1e-3, 400
steps of 64: half ICBHI units, half SPRSound units) on cached encoder outputs of 80 % of the train
patients; per-label F1-optimal thresholds on the units of the other 20 % (seeded; the *validation*
patients) go into ``config.decision_thresholds``. ``clip``: pooled embeddings of the ICBHI train cycles
and of the SPRSound train events (the Normal events are the normal stretches); ``strong``: the ICBHI
cycles, and the SPRSound train recordings' encoder time steps (8-s chunks as ``predict_frames`` cuts them),
a step's target whether its centre lies in a reference event of the label.

**Tuned for events** (``tuned``, ``windows tuned``): per model and label, the frame threshold (one of
:data:`QUANTILES` of the validation recordings' frame posteriors) and the label's
:class:`~respira.models.respira.decision.LabelEventSettings` (:data:`MEDIAN_FILTERS` × :data:`MIN_DURATIONS` ×
:data:`MAX_GAPS`) that give the highest event-based F1 over the validation patients' whole recordings
(SPRSound with their events, ICBHI with their flagged cycles), pooled; the window baseline's threshold
per label likewise (the same quantiles of the validation windows' probabilities). Ties: fewer errors
(deletions + insertions), then the first in the grid's order (:func:`best_per_label`).

Every model is run on the held-out recordings through the product itself (``detect_events``, with its own
or the tuned thresholds and settings, and ``predict_windows`` on ``read_audio(path, 32000)``). Their
encoder is frozen and shared, so within one recording its outputs for an input it has seen are served
from memory (:class:`SharedEncoder`; checked bit-identical against a direct run on the first recording).

**Scores** (:mod:`respira.metrics.events`): event-based F1 per class (sed_eval: onset collar 0.2 s, offset
collar max(0.2 s, 20 % of the reference's length)), segment-based F1 (1-s segments, each recording its
full length), and for the frame posteriors sed_scores_eval's intersection-based F1 (at the thresholds and
at the best threshold; DTC = GTC = 0.5) and PSDS (its defaults). F1 = 2 TP / (N_ref + N_est) from counts
pooled over the recordings (sed_eval's class-wise F where defined; 0 with no estimates). Per seed; the
tables give the mean (± sd) over seeds, and the 95 % patient-bootstrap interval (``patient_bootstrap``,
1000 resamples of the held-out patients) of seed-mean differences (frames − windows, tuned − windows
tuned, tuned − windows). Trivial baselines: every recording one event of each label (all-positive), and
no events.

Cached in ``--work``: the converted encoder, ``icbhi_cycles.npz``, ``sprsound_events.npz``,
``sprsound_steps.npz``; results in ``event_results.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # its _machine.py

from _common import ROOT, respira
from _event_tuning import (
    COLLARS,
    Choice,
    best_per_label,
    paired_differences,
    pooled_f1,
    tune_frames,
    tune_windows,
    whole_recording_events,
    window_events,
)
from _event_units import (
    FLAGSHIP,
    MODELS,
    RATE,
    Recording,
    SharedEncoder,
    build_models,
    cached,
    embed_clips,
    embed_steps,
    icbhi_recordings,
    references,
    sprsound_recordings,
)
from _machine import cpu_name, load_average
from respira.data.text_files import PartialCorpusWarning
from respira.inference.frames import detection_of_frames, predict_frames
from respira.inference.windowing import predict_windows
from respira.metrics.events import event_based_scores, segment_based_scores, threshold_independent_scores
from respira.models.respira.audio_decoding import read_audio
from respira.models.respira.decision import FRAME_HOP_SECONDS, Event, posteriors_to_events, thresholds_of
from respira.models.respira.labels import MULTI_LABEL_NAMES

WINDOW, HOP, SEGMENT_SECONDS = 4.0, 1.0, 1.0
DATASETS: dict[str, str] = {"sprsound": "SPRSound inter_test", "icbhi": "ICBHI test"}
WAYS = ("frames", "windows", "tuned", "windows tuned")
COMPARISONS = (("frames", "windows"), ("tuned", "windows tuned"), ("tuned", "windows"))


def detect_events(model: Any, waveform: np.ndarray, **options: Any) -> Any:
    """Every frame event of ``waveform`` through ``model`` as it is (its shared encoder kept), as
    ``Detector.detect_events(..., rule="frames")`` finds them."""
    return detection_of_frames(model, predict_frames(model, waveform), **options)


# --------------------------------------------------------------------------------------------- tuning
def tune(
    models: Mapping[tuple[str, int], Any],
    shared: SharedEncoder,
    recordings: Sequence[Recording],
    validation_sets: Mapping[int, set[str]],
) -> dict[tuple[str, int], dict[str, Any]]:
    """Per model: frames and windows tuned for events on its seed's validation patients' recordings (each
    read once for every model), and the validation event F1 of its own thresholds and settings."""
    seen: dict[tuple[str, int], dict[str, dict]] = {key: {"p": {}, "rows": {}, "refs": {}} for key in models}
    for recording in recordings:
        keys = [key for key in models if recording.patient in validation_sets[key[1]]]
        if not keys:
            continue
        waveform = read_audio(recording.path, RATE)
        refs = references(recording.references, waveform.size / RATE)
        for key in keys:
            seen[key]["p"][recording.name] = predict_frames(models[key], waveform).posteriors
            seen[key]["rows"][recording.name] = predict_windows(models[key], waveform, window=WINDOW, hop=HOP)
            seen[key]["refs"][recording.name] = refs
        shared.clear()
    out = {}
    for key, model in models.items():
        p, rows, refs = seen[key]["p"], seen[key]["rows"], seen[key]["refs"]
        own = thresholds_of(model.config)
        found = {
            "frames": {f: posteriors_to_events(v, FRAME_HOP_SECONDS, own) for f, v in p.items()},
            "windows": {f: window_events(r, own) for f, r in rows.items()},
        }
        out[key] = {
            "frames": tune_frames(p, refs),
            "windows": tune_windows(rows, refs),
            "own": {
                way: [f for _, f in best_per_label([0], lambda _, e=e: e, refs)] for way, e in found.items()
            },
            "recordings": len(refs),
            "references": [
                sum(e.label == label for v in refs.values() for e in v) for label in MULTI_LABEL_NAMES
            ],
        }
    return out


# --------------------------------------------------------------------------------------- evaluation
def run_product(
    models: Mapping[tuple[str, int], Any],
    shared: SharedEncoder,
    recordings: Sequence[Recording],
    tuned: Mapping[tuple[str, int], Mapping[str, Any]],
) -> dict[str, Any]:
    """Every model through ``detect_events`` (its own and the tuned thresholds and settings) and
    ``predict_windows`` on every held-out recording."""
    out: dict[str, Any] = {"references": {}, "durations": {}, "patients": {}, "posteriors": {}}
    out["events"] = {way: {key: {} for key in models} for way in WAYS}
    for number, recording in enumerate(recordings):
        waveform = read_audio(recording.path, RATE)
        duration = waveform.size / RATE
        out["references"][recording.name] = references(recording.references, duration)
        out["durations"][recording.name] = duration
        out["patients"][recording.name] = recording.patient
        for key, model in models.items():
            frames, windows = tuned[key]["frames"], tuned[key]["windows"]
            detection = detect_events(model, waveform)
            rows = predict_windows(model, waveform, window=WINDOW, hop=HOP)
            if number == 0 and key == next(iter(models)):
                check_shared_encoder(model, shared, waveform, detection, rows)
            found = {
                "frames": detection.events,
                "windows": window_events(rows, thresholds_of(model.config)),
                "tuned": detect_events(
                    model, waveform, thresholds=frames.thresholds, settings=frames.settings
                ).events,
                "windows tuned": window_events(rows, windows.thresholds),
            }
            for way, events in found.items():
                out["events"][way][key][recording.name] = events
            out["posteriors"].setdefault(key, {})[recording.name] = detection.frames.posteriors
        shared.clear()
    return out


def check_shared_encoder(
    model: Any, shared: SharedEncoder, waveform: np.ndarray, detection: Any, rows: list
) -> None:
    """The shared encoder changes nothing: the same recording through the encoder itself."""
    model.respira = shared.inner
    try:
        direct = detect_events(model, waveform)
        direct_rows = predict_windows(model, waveform, window=WINDOW, hop=HOP)
    finally:
        model.respira = shared
    assert np.array_equal(direct.frames.posteriors, detection.frames.posteriors), "shared encoder differs"
    assert direct.events == detection.events and direct_rows == rows, "shared encoder differs"


def file_counts(
    references: Mapping[str, list[Event]],
    estimates: Mapping[str, list[Event]],
    durations: Mapping[str, float],
) -> dict[str, dict[str, np.ndarray]]:
    """Per level (``event``, ``segment``) and label: ``[files, 3]`` counts (TP, N_ref, N_est) of each
    recording, in the references' order (sed_eval per file, as ``respira evaluate --task events``
    counts); their sums checked against one pooled call."""
    names = list(references)
    counts = {
        level: {label: np.zeros((len(names), 3)) for label in MULTI_LABEL_NAMES}
        for level in ("event", "segment")
    }
    keys = ("true_positives", "reference", "estimated")
    for row, name in enumerate(names):
        one_ref, one_est = {name: references[name]}, {name: estimates.get(name, [])}
        levels = {
            "event": event_based_scores(one_ref, one_est, **COLLARS),
            "segment": segment_based_scores(
                one_ref, one_est, time_resolution=SEGMENT_SECONDS, durations={name: durations[name]}
            ),
        }
        for level, scores in levels.items():
            for label in MULTI_LABEL_NAMES:
                counts[level][label][row] = [scores[label][k] for k in keys]
    pooled = event_based_scores(references, estimates, **COLLARS)
    for label in MULTI_LABEL_NAMES:
        assert np.allclose(counts["event"][label].sum(axis=0), [pooled[label][k] for k in keys])
    return counts


def score(
    product: Mapping[str, Any],
    models: Mapping[tuple[str, int], Any],
    tuned: Mapping[tuple[str, int], Mapping[str, Any]],
    seeds: Sequence[int],
) -> dict[str, Any]:
    """Every method's per-recording counts per seed, and the frame posteriors' threshold-free scores (at
    the model's and at the tuned thresholds)."""
    references, durations = product["references"], product["durations"]
    methods: dict[str, list[dict]] = {}
    independent = {}
    for kind in MODELS:
        for way in WAYS:
            found = product["events"][way]
            methods[f"{kind} {way}"] = [file_counts(references, found[(kind, s)], durations) for s in seeds]
        for way, thresholds in (
            ("frames", lambda key: models[key].config.decision_thresholds),
            ("tuned", lambda key: list(tuned[key]["frames"].thresholds)),
        ):
            independent[f"{kind} {way}"] = [
                threshold_independent_scores(
                    product["posteriors"][(kind, seed)],
                    references,
                    frame_hop_seconds=FRAME_HOP_SECONDS,
                    thresholds=thresholds((kind, seed)),
                )
                for seed in seeds
            ]
    methods["all-positive"] = [
        file_counts(references, {n: whole_recording_events(d) for n, d in durations.items()}, durations)
    ]
    methods["no events"] = [file_counts(references, {}, durations)]
    return {"counts": methods, "independent": independent}


def differences(counts: Mapping[str, list[dict]], patients: Sequence[str], resamples: int) -> dict[str, Any]:
    """Per model, comparison (:data:`COMPARISONS`), level and label: :func:`paired_differences`."""
    pairs = [(f"{kind} {ours}", f"{kind} {theirs}") for kind in MODELS for ours, theirs in COMPARISONS]
    return paired_differences(counts, pairs, patients, resamples)


# -------------------------------------------------------------------------------------------- tables
def _pct(values: Sequence[float]) -> str:
    values = [100 * v for v in values]
    if any(math.isnan(v) for v in values):
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def _signed(value: float) -> str:
    """A difference in points, signed, with no negative zero."""
    return f"{round(100 * value, 1) + 0.0:+.1f}"


def results_table(results: Mapping[str, Any]) -> str:
    lines = [
        "| data | class | method | event F1 | segment F1 | intersection F1 at thresholds | intersection F1 "
        "best | PSDS | n ref | n est |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for data, result in results.items():
        for label in MULTI_LABEL_NAMES:
            for method, per_seed in result["counts"].items():
                event = [pooled_f1(c["event"][label]) for c in per_seed]
                segment = [pooled_f1(c["segment"][label]) for c in per_seed]
                n_ref = int(per_seed[0]["event"][label][:, 1].sum())
                n_est = np.mean([c["event"][label][:, 2].sum() for c in per_seed])
                free = ["—", "—", "—"]
                if method in result["independent"]:
                    scores = result["independent"][method]
                    free = [_pct([s[label][key] for s in scores]) for key in ("f1", "best_f1", "psds")]
                lines.append(
                    f"| {DATASETS[data]} | {label} | {method} | {_pct(event)} | {_pct(segment)} | "
                    f"{' | '.join(free)} | {n_ref} | {n_est:.1f} |"
                )
    return "\n".join(lines)


def difference_table(results: Mapping[str, Any]) -> str:
    lines = [
        "| data | class | model | comparison | Δ event F1 (95 % CI) | first better (seeds) | "
        "Δ segment F1 (95 % CI) | first better (seeds) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for data, result in results.items():
        for label in MULTI_LABEL_NAMES:
            for kind in MODELS:
                for ours, theirs in COMPARISONS:
                    cells = []
                    for level in ("event", "segment"):
                        d = result["differences"][f"{kind} {ours}/{kind} {theirs}/{level}/{label}"]
                        low, high = (_signed(v) for v in d["interval"])
                        cells.append(
                            f"{_signed(d['difference'])} ({low} – {high}) | {d['wins']} of {d['seeds']}"
                        )
                    lines.append(
                        f"| {DATASETS[data]} | {label} | {kind} | {ours} − {theirs} | {' | '.join(cells)} |"
                    )
    return "\n".join(lines)


def model_table(notes: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "| model | seed | train units (ICBHI, SPRSound) | validation units (ICBHI, SPRSound) | validation "
        "positives (crackle, wheeze) | thresholds (crackle, wheeze) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for n in notes:
        cells = [
            ", ".join(map(str, n[key])) for key in ("train_units", "validation_units", "validation_positives")
        ]
        thresholds = ", ".join(f"{t:.3f}" for t in n["thresholds"])
        lines.append(f"| {n['model']} | {n['seed']} | {' | '.join(cells)} | {thresholds} |")
    return "\n".join(lines)


def tuned_table(tuned: Mapping[tuple[str, int], Mapping[str, Any]]) -> str:
    lines = [
        "| model | seed | class | validation recordings (refs) | frame threshold (quantile) | median "
        "filter s | min duration s | max gap s | validation event F1, own → tuned | window threshold "
        "(quantile) | windows validation event F1, own → tuned |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (kind, seed), t in tuned.items():
        frames, windows, own = t["frames"], t["windows"], t["own"]
        for column, label in enumerate(MULTI_LABEL_NAMES):
            s = getattr(frames.settings, label)
            cells = [
                f"{t['recordings']} ({t['references'][column]})",
                f"{frames.thresholds[column]:.3f} ({frames.levels[column]})",
                f"{s.median_filter_seconds} | {s.min_duration_seconds} | {s.max_gap_seconds}",
                f"{100 * own['frames'][column]:.1f} → {100 * frames.f1[column]:.1f}",
                f"{windows.thresholds[column]:.3f} ({windows.levels[column]})",
                f"{100 * own['windows'][column]:.1f} → {100 * windows.f1[column]:.1f}",
            ]
            lines.append(f"| {kind} | {seed} | {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _json(value: Any) -> Any:
    if isinstance(value, Choice):
        settings = None if value.settings is None else value.settings.to_dict()
        return _json({**value.__dict__, "settings": settings})
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--work", type=Path, default=Path("/tmp/respira_event_study"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    warnings.filterwarnings("ignore", category=PartialCorpusWarning)  # this sample holds 76 of 920
    torch.set_num_threads(2)
    seeds = [int(s) for s in args.seeds.split(",")]
    began = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    encoder_dir = args.work / "efficientat_mn04"
    if not (encoder_dir / "config.json").is_file():
        respira(
            "convert",
            "efficientat",
            str(args.shared / "reference/efficientat_mn04_as_mAP_432.pt"),
            str(encoder_dir),
        )
    from respira.models import RespiraForAudioClassification

    base = RespiraForAudioClassification.from_encoder_pretrained(str(encoder_dir), **FLAGSHIP).eval()
    shared = SharedEncoder(base.respira).eval()
    spr = sprsound_recordings(args.shared / "sprsound")
    icbhi = icbhi_recordings(args.shared / "icbhi")
    units = {
        name: cached(
            args.work / file, lambda embed=embed, corpus=corpus: embed(shared.inner, corpus, base.config)
        )
        for name, file, embed, corpus in (
            ("icbhi", "icbhi_cycles.npz", embed_clips, icbhi["train"]),
            ("events", "sprsound_events.npz", embed_clips, spr["train"]),
            ("steps", "sprsound_steps.npz", embed_steps, spr["train"]),
        )
    }
    for arrays in units.values():
        arrays["patient"] = arrays["patient"].astype(str)
    timings = {"cached units": time.perf_counter() - began}
    models, notes, validation_sets = build_models(base, shared, units, seeds)
    start = time.perf_counter()
    tuned = tune(models, shared, spr["train"] + icbhi["train"], validation_sets)
    timings["tuning"] = time.perf_counter() - start
    results: dict[str, Any] = {}
    for data, recordings in (("sprsound", spr["test"]), ("icbhi", icbhi["test"])):
        start = time.perf_counter()
        product = run_product(models, shared, recordings, tuned)
        timings[f"{data} product"] = time.perf_counter() - start
        start = time.perf_counter()
        result = score(product, models, tuned, seeds)
        patients = [product["patients"][name] for name in product["references"]]
        result["differences"] = differences(result["counts"], patients, args.resamples)
        result["recordings"], result["patients"] = len(patients), len(set(patients))
        timings[f"{data} scores"] = time.perf_counter() - start
        results[data] = result
    total = time.perf_counter() - began
    chosen = [{"model": kind, "seed": seed, **t} for (kind, seed), t in tuned.items()]
    (args.work / "event_results.json").write_text(
        json.dumps(_json({"models": notes, "tuned": chosen, "results": results}), indent=1)
    )

    print(f"command: python {shlex.join(sys.argv)}")
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} threads, load {load_average()}")
    print(f"time: {total:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})")
    print(f"shared encoder: {shared.calls} calls, {shared.hits} served from memory")
    held = []
    for data, corpus in (("sprsound", spr), ("icbhi", icbhi)):
        trained = corpus["train"]
        held.append(
            f"{DATASETS[data]} {results[data]['recordings']} recordings of "
            f"{results[data]['patients']} patients (train: {len(trained)} recordings of "
            f"{len({r.patient for r in trained})} patients)"
        )
    print(f"held out: {'; '.join(held)}\n")
    for table in (model_table(notes), tuned_table(tuned), results_table(results), difference_table(results)):
        print(table, end="\n\n")


if __name__ == "__main__":
    main()

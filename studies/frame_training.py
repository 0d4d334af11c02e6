"""Training the encoder's time steps end to end (issue 34, item 1): strong labels against clip labels.

    python studies/frame_training.py [--work /tmp/respira_frame_training] [--shared ../shared] [--seeds 0,1,2]

The frozen-encoder study (``studies/event_detection.py``) found EfficientAT's 0.32-s steps too coarse to
place a crackle and a head on frozen steps no better from strong labels. Its note named the way out: an
encoder with a finer time axis trained end to end with the frame loss. This trains one, on this CPU,
through the product itself (``respira train`` with a recipe), and scores it as ``event_detection.py``
scores its heads.

**Models.** The seed CNN (four blocks of two 3×3 convolutions; channels 16-32-64-128 to fit this CPU), log-mel
input at 16 kHz after a 4 kHz low-pass (SPRSound is recorded at 8 kHz; ICBHI's band is cut to match), 5.12-s
input (repeat-padded), a step every 8 log-mel frames (0.128 s: 2.5 times finer than EfficientAT's), trained
from scratch, multi-label BCE, AdamW 1e-3, batch 32, up to :data:`EPOCHS` epochs, the checkpoint kept by the
ICBHI validation score (early stopping after 5 epochs without a better one), thresholds tuned on ICBHI's
validation cycles (the recipe's default). Training data: ICBHI's official training patients (their
cycles; 20 % of them validate) and SPRSound's official ``train`` part (a folder of links to it: its
``inter_test`` children never train). Methods, fixed before their results:

* ``clip``: SPRSound's events as clips (one example per annotated event: what ``respira train`` does today);
* ``strong``: SPRSound's recordings as 5.12-s windows every 2.56 s carrying their events (``strong_labels``),
  the clip loss on every example plus the frame loss (``frame_loss_weight: 1``) on the windows' steps;
* ``clip autopool``, ``strong autopool``: the same two with ``pooling: autopool`` (the clip's logits the
  auto-pool of the head's logits on each step, so clip labels train the steps as weak labels and the
  thresholds tuned on clips apply to the steps' scale). Added after seed 0 of ``strong`` showed its
  steps' posteriors far below the thresholds tuned on its mean-pooled clips (frames that the frame loss
  keeps low, clip means the clip loss keeps high); a third method planned before, ``strong`` plus a
  weak frame loss, was dropped for them.

``strong`` and ``strong autopool`` placed wheezes worse than clip training; their options
(``strong_labels``, ``frame_loss_weight``) were retired from respira, so this study now runs the two clip
methods (BENCHMARKS.md keeps the four methods' numbers as they were run).

**Scored** on held-out patients: SPRSound ``inter_test`` (Poor Quality records left out) and ICBHI's
official test patients, each recording through ``detect_events`` (frames, the model's thresholds and the
default event settings) and through ``predict_windows`` (4-s windows every 1 s: the window baseline, each
window decided present an event of its span). Scores and intervals as ``event_detection.py`` computes them
(sed_eval event-based F1 with a 0.2-s onset collar, 1-s segment F1, sed_scores_eval PSDS of the frame
posteriors; patient bootstrap of seed-mean differences).

Each run's folder is kept in ``--work/runs/<method>/seed_<s>``; a finished run is not trained again.
Results: ``--work/frame_training.json`` and the tables printed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from _common import respira
from _event_tuning import paired_differences, pooled_f1, whole_recording_events, window_events
from _event_units import icbhi_recordings, references, sprsound_recordings
from _machine import cpu_name, load_average
from _study_methods import ROOT
from event_detection import _pct, _signed, file_counts
from respira.audio import read_audio
from respira.core.decision import thresholds_of
from respira.core.events import FRAME_HOP_SECONDS
from respira.data.index import PartialCorpusWarning
from respira.inference.engine import predict_windows
from respira.inference.event_detection import detect_events
from respira.labels import MULTI_LABEL_NAMES
from respira.metrics.events import threshold_independent_scores

EPOCHS = 15
WINDOW, HOP = 4.0, 1.0
HELD_OUT: dict[str, str] = {"sprsound": "SPRSound inter_test", "icbhi": "ICBHI test"}
BASE_RECIPE: dict[str, Any] = {
    "encoder": "cnn",
    "encoder_config": {"channels": [16, 32, 64, 128]},
    "problem_type": "multi_label_classification",
    "sampling_rate": 16000,
    "lowpass_cutoff": 4000,
    "target_seconds": 5.12,
    "pad_mode": "repeat",
    "projector_dim": None,
    "head_dropout": 0.2,
    "split_strategy": "official",
    "validation_size": 0.2,
    "corpora": ["icbhi", "sprsound"],
    "corpus_window_seconds": 5.12,
    "corpus_hop_seconds": 2.56,
    "num_train_epochs": EPOCHS,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 64,
    "learning_rate": 0.001,
    "weight_decay": 0.0001,
    "lr_scheduler_type": "cosine",
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "load_best_model_at_end": True,
    "early_stopping_patience": 5,
    "logging_steps": 50,
    "report_to": "none",
    "disable_tqdm": True,
}
METHODS: dict[str, dict[str, Any]] = {
    "clip": {},
    "clip autopool": {"pooling": "autopool"},
}
COMPARISONS = (
    ("clip frames", "clip windows"),
    ("clip autopool frames", "clip windows"),
)


def sprsound_training_folder(shared: Path, work: Path) -> Path:
    """A folder of links to SPRSound's official ``train`` part alone (``corpora`` trains on every split
    of a corpus folder it is given)."""
    folder = work / "sprsound_train"
    for name in ("train_wav", "train_json"):
        link = folder / name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((shared / "sprsound" / name).resolve(), target_is_directory=True)
    return folder


def train(method: str, seed: int, shared: Path, work: Path, sprsound: Path) -> tuple[Path, float]:
    """``respira train`` of one method and seed (skipped when its folder holds a finished run)."""
    output = work / "runs" / method.replace(" ", "_") / f"seed_{seed}"
    if (output / "respira_run.json").is_file() and (output / "seconds.json").is_file():
        return output, json.loads((output / "seconds.json").read_text())["seconds"]
    recipe = {
        **BASE_RECIPE,
        **METHODS[method],
        "corpus_dirs": {"sprsound": str(sprsound)},
        "seed": seed,
    }
    path = work / "recipes" / f"{method}_seed_{seed}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe))
    began = time.perf_counter()
    respira(
        "train", str(path), "--data_dir", str(shared / "icbhi"), "--output_dir", str(output),
        "--dataset_cache_dir", str(work / "cache"), "--overwrite",
    )  # fmt: skip
    seconds = time.perf_counter() - began
    (output / "seconds.json").write_text(json.dumps({"seconds": seconds}))
    return output, seconds


def detections(model: Any, recordings: Sequence[Any]) -> dict[str, Any]:
    """Frames and windows of every held-out recording, with their references."""
    rate = model.config.sampling_rate
    out: dict[str, Any] = {"frames": {}, "windows": {}, "posteriors": {}}
    out.update(references={}, durations={}, patients={})
    for recording in recordings:
        waveform = read_audio(recording.path, rate)
        duration = waveform.size / rate
        out["references"][recording.name] = references(recording.references, duration)
        out["durations"][recording.name] = duration
        out["patients"][recording.name] = recording.patient
        found = detect_events(model, waveform)
        out["frames"][recording.name] = found.events
        out["posteriors"][recording.name] = found.frames.posteriors
        rows = predict_windows(model, waveform, window=WINDOW, hop=HOP)
        out["windows"][recording.name] = window_events(rows, thresholds_of(model.config))
    return out


def results_table(results: Mapping[str, Any]) -> str:
    lines = [
        "| held out | label | method | event F1 | segment F1 | PSDS | est. events (refs) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for data, result in results.items():
        counts, psds = result["counts"], result["psds"]
        for label in MULTI_LABEL_NAMES:
            for name, runs in counts.items():
                event = [pooled_f1(c["event"][label]) for c in runs]
                segment = [pooled_f1(c["segment"][label]) for c in runs]
                estimated = np.mean([c["event"][label][:, 2].sum() for c in runs])
                reference = runs[0]["event"][label][:, 1].sum()
                scores = psds.get(name.replace(" frames", ""))
                shown = _pct([s[label]["psds"] for s in scores]) if name.endswith("frames") and scores else ""
                lines.append(
                    f"| {HELD_OUT[data]} | {label} | {name} | {_pct(event)} | {_pct(segment)} | {shown} | "
                    f"{estimated:.0f} ({reference:.0f}) |"
                )
    return "\n".join(lines)


def difference_table(results: Mapping[str, Any]) -> str:
    lines = [
        "| held out | comparison | label | event F1 Δ (95 % CI), seeds better | segment F1 Δ (95 % CI) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for data, result in results.items():
        for ours, theirs in COMPARISONS:
            for label in MULTI_LABEL_NAMES:
                cells = []
                for level in ("event", "segment"):
                    found = result["differences"].get(f"{ours}/{theirs}/{level}/{label}")
                    if found is None:
                        break
                    low, high = found["interval"]
                    cell = f"{_signed(found['difference'])} ({_signed(low)} – {_signed(high)})"
                    if level == "event":
                        cell += f", {found['wins']}/{found['seeds']}"
                    cells.append(cell)
                if cells:
                    lines.append(f"| {HELD_OUT[data]} | {ours} − {theirs} | {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


def validation_table(runs: Mapping[tuple[str, int], Path], seconds: Mapping[tuple[str, int], float]) -> str:
    lines = [
        "| method | seed | ICBHI validation score (kept) | ICBHI test score | training time |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (method, seed), folder in runs.items():
        metrics = json.loads((folder / "metrics.json").read_text())
        validation = metrics.get("validation_icbhi_score")
        test = metrics.get("test_icbhi_score")
        shown = [f"{100 * v:.1f}" if isinstance(v, (int, float)) else "n/a" for v in (validation, test)]
        lines.append(
            f"| {method} | {seed} | {shown[0]} | {shown[1]} | {seconds[(method, seed)] / 60:.1f} min |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--work", type=Path, default=Path("/tmp/respira_frame_training"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--train_only", action="store_true", help="train the runs, score nothing")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=PartialCorpusWarning)  # this sample holds 76 of 920
    torch.set_num_threads(2)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown[0]!r} (known: {', '.join(METHODS)})")
    began = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    sprsound = sprsound_training_folder(args.shared, args.work)
    runs, seconds = {}, {}
    for seed in seeds:  # every method at a seed before the next seed
        for method in methods:
            runs[(method, seed)], seconds[(method, seed)] = train(
                method, seed, args.shared, args.work, sprsound
            )
            print(f"trained {method} seed {seed}: {seconds[(method, seed)] / 60:.1f} min", flush=True)
    if args.train_only:
        return
    from respira.models import RespiraForAudioClassification

    held_out = {
        "sprsound": sprsound_recordings(args.shared / "sprsound")["test"],
        "icbhi": icbhi_recordings(args.shared / "icbhi")["test"],
    }
    results: dict[str, Any] = {}
    for data, recordings in held_out.items():
        counts: dict[str, list[dict]] = {}
        psds: dict[str, list[dict]] = {}
        found: dict[str, Any] = {}
        for (method, _seed), folder in runs.items():
            model = RespiraForAudioClassification.from_pretrained(folder).eval()
            found = detections(model, recordings)
            refs, durations = found["references"], found["durations"]
            for way in ("frames", "windows"):
                counts.setdefault(f"{method} {way}", []).append(file_counts(refs, found[way], durations))
            psds.setdefault(method, []).append(
                threshold_independent_scores(
                    found["posteriors"], refs, frame_hop_seconds=FRAME_HOP_SECONDS,
                    thresholds=thresholds_of(model.config),
                )
            )  # fmt: skip
        refs, durations = found["references"], found["durations"]
        whole = {name: whole_recording_events(d) for name, d in durations.items()}
        counts["all-positive"] = [file_counts(refs, whole, durations)]
        counts["no events"] = [file_counts(refs, {}, durations)]
        patients = [found["patients"][name] for name in refs]
        compared = [pair for pair in COMPARISONS if pair[0] in counts and pair[1] in counts]
        results[data] = {
            "counts": counts,
            "psds": psds,
            "differences": paired_differences(counts, compared, patients, args.resamples),
            "recordings": len(patients),
            "patients": len(set(patients)),
        }
    total = time.perf_counter() - began
    serialisable = {
        data: {
            "differences": result["differences"],
            "psds": result["psds"],
            "f1": {
                name: {
                    level: {label: [pooled_f1(c[level][label]) for c in runs_] for label in MULTI_LABEL_NAMES}
                    for level in ("event", "segment")
                }
                for name, runs_ in result["counts"].items()
            },
        }
        for data, result in results.items()
    }
    (args.work / "frame_training.json").write_text(json.dumps(serialisable, indent=1, default=float))
    print(f"command: python {shlex.join(sys.argv)}")
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} threads, load {load_average()}")
    print(f"time: {total / 60:.1f} min")
    for data, result in results.items():
        print(f"{HELD_OUT[data]}: {result['recordings']} recordings of {result['patients']} patients")
    print()
    for table in (validation_table(runs, seconds), results_table(results), difference_table(results)):
        print(table, end="\n\n")


if __name__ == "__main__":
    main()

"""``respira bench``: every model on every protocol whose data is present (:func:`run_bench`)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..models.respira.number_checks import check_whole
from .options import BenchOptions
from .tasks import TASKS, Site, Task, read_sites

__all__ = ["BenchResult", "run_bench"]


@dataclass(frozen=True)
class BenchResult:
    """What :func:`run_bench` wrote: the folder, every score row, the seconds each stage took (``embedding``
    the recordings' windows, ``cycles`` ICBHI's cycles, ``scoring``), the audio embedded (the windows') and
    the processes that embedded it."""

    output_dir: Path
    rows: list[dict[str, Any]] = field(repr=False)
    seconds: dict[str, float]
    audio_seconds: float
    processes: int = 1

    def table(self) -> str:
        """The leaderboard in Markdown (``leaderboard.md``)."""
        return (self.output_dir / "leaderboard.md").read_text(encoding="utf-8")


def _tasks(asked: Sequence[str] | None, sites: Sequence[Site]) -> list[Task]:
    if asked is not None:
        unknown = [name for name in asked if name not in TASKS]
        if unknown:
            raise ValueError(f"--tasks {unknown[0]}: not a task (known: {', '.join(TASKS)})")
    chosen = [task for name, task in TASKS.items() if (task.default if asked is None else name in asked)]
    runnable = [task for task in chosen if task.needs(sites)]
    if not runnable:
        named = ", ".join(site.name for site in sites)
        raise ValueError(
            f"no task's data is present: {', '.join(t.name for t in chosen)} cannot run on {named}"
        )
    return runnable


def processes_line(processes: int, launched: bool) -> str:
    """How many processes embed; under ``accelerate launch`` with one, how to start several on CPUs
    (``--cpu --num_processes N`` starts one)."""
    line = f"embedding in {processes} process{'es' if processes > 1 else ''}"
    if processes == 1 and launched:
        line += (
            " (accelerate launch started one: on CPUs, accelerate launch --multi_gpu --num_processes N "
            "starts N gloo processes; --cpu --num_processes N starts one)"
        )
    return line


def _check(models: Sequence[str], options: BenchOptions) -> None:
    if not models:
        raise ValueError("name at least one MODEL to bench")
    if len(set(models)) != len(models):
        raise ValueError(f"MODEL {next(m for m in models if models.count(m) > 1)} is named twice")
    for name, least in (("folds", 2), ("draws", 1), ("resamples", 1)):
        check_whole(getattr(options, name), f"--{name}", least)
    if any(size < 2 for size in options.sizes):
        raise ValueError(f"--sizes must be at least 2 patients each, got {options.sizes}")
    if options.layer not in ("auto", "mean") and not options.layer.lstrip("-").isdigit():
        raise ValueError(f"--layer {options.layer}: give a number, mean or auto")


def _fingerprint(task: Task, samples: dict[str, Any], options: BenchOptions) -> str:
    """SHA-256 of what a task's scores depend on: the task, its protocol's options and every sample's
    embeddings, logits, owners and labels."""
    digest = hashlib.sha256(f"{task.name}|{options.sizes}|{options.folds}|{options.draws}".encode())
    digest.update(f"{options.resamples}|{options.seed}|{options.layer}|{options.layers}".encode())
    for name in sorted(samples):
        sample = samples[name]
        digest.update(name.encode())
        for array in (sample.embeddings, sample.base_logits, sample.recording):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(repr([(r.crackle, r.wheeze, str(r.unit)) for r in sample.recordings]).encode())
    return digest.hexdigest()


def _task_rows(
    task: Task, samples: dict[str, Any], sites: Sequence[Site], options: BenchOptions, folder: Path
):
    """``task``'s score rows, read from ``folder`` when this task already scored these samples (a second run
    scores nothing), else scored and kept there."""
    from ..utils.files import atomic_path

    path = folder / f"{task.name}-{_fingerprint(task, samples, options)[:32]}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    rows = task.score(samples, sites, options)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as staging:
        staging.write_text(json.dumps(rows, default=lambda value: value.item()), encoding="utf-8")
    return rows


def _load_models(models: Sequence[str], options: BenchOptions, cache: Path, device: str | None) -> list[Any]:
    """Each of ``models`` loaded (:func:`~respira.encoder_bench.models.load_model`), its refusal one line
    naming it; a ``--layer`` number checked against each model that embeds several hidden states."""
    from .models import load_model

    loaded = []
    for source in models:
        try:
            loaded.append(load_model(source, cache, device=device, layer=options.layer))
        except (OSError, ValueError) as error:
            message = str(error)
            raise ValueError(
                message if message.startswith(source) else f"MODEL {source}: {message}"
            ) from None
    for model in loaded:
        number = options.layer.lstrip("-").isdigit()
        if number and model.layers > 1 and not -model.layers <= int(options.layer) < model.layers:
            raise ValueError(
                f"--layer {options.layer}: MODEL {model.name} has hidden states 0 .. {model.layers - 1}"
            )
    if len({model.name for model in loaded}) != len(loaded):  # two of one name: each named as given
        loaded = [replace(model, name=source) for model, source in zip(loaded, models, strict=True)]
    return loaded


def run_bench(models: Sequence[str], options: BenchOptions) -> BenchResult | None:
    """Score each of ``models`` (:func:`respira.encoder_bench.models.build_model` names) on every task of
    ``options.tasks`` whose data ``options.data`` holds; write the leaderboard to ``options.output_dir``.
    Every input is checked, every site read and every model loaded before any embedding; the folder is
    written last, staged. Under ``accelerate launch`` every process embeds its share; the main one scores,
    writes and returns the result, the others ``None``."""
    import torch
    from accelerate import PartialState

    from ..utils.files import check_output_folder, staged_folder
    from ..utils.progress import progress
    from ..utils.threads import apply_num_threads
    from .leaderboard import write_leaderboard
    from .models import embed

    _check(models, options)
    output_dir = Path(options.output_dir).expanduser()
    check_output_folder(output_dir, overwrite=options.overwrite)
    sites = read_sites(options.data)
    tasks = _tasks(options.tasks, sites)
    cache = Path(options.cache_dir).expanduser()
    state = PartialState(cpu=options.device == "cpu" or not torch.cuda.is_available())
    apply_num_threads(requested=options.threads)
    device = options.device or (str(state.device) if state.num_processes > 1 else None)
    loaded = _load_models(models, options, cache, device)
    seconds = {"embedding": 0.0, "cycles": 0.0, "scoring": 0.0}
    if state.is_main_process:
        print(processes_line(state.num_processes, "ACCELERATE_USE_CPU" in os.environ), file=sys.stderr)

    def samples_of(model: Any, shard: tuple[int, int] | None = None) -> dict[str, Any]:
        samples = {}
        for site in sites:
            kinds = [(site.name, None, "embedding")]
            if site.cycles is not None and any(task.cycles for task in tasks):
                kinds.append((f"{site.name} cycles", site.cycles, "cycles"))
            for name, cycles, kind in kinds:
                started = time.perf_counter()
                samples[name] = embed(
                    model,
                    site.recordings.recordings,
                    cache,
                    cycles=cycles,
                    batch_size=options.batch_size,
                    shard=shard,
                    progress=state.is_main_process,
                    description=f"{model.name}: embedding {name}",
                )
                seconds[kind] += time.perf_counter() - started
        return samples

    if state.num_processes > 1:  # each process embeds its share into the cache; the main one scores
        for model in loaded:
            samples_of(model, shard=(state.process_index, state.num_processes))
        state.wait_for_everyone()
        if not state.is_main_process:
            return None
    rows: list[dict[str, Any]] = []
    audio = 0.0
    for model in loaded:
        samples = samples_of(model)
        audio += sum(float(samples[site.name].duration.sum()) for site in sites)
        started = time.perf_counter()
        scoring = replace(options)
        scoring.layers = model.layers
        for task in progress(tasks, f"{model.name}: scoring", unit="task"):
            for row in _task_rows(task, samples, sites, scoring, cache / "scores" / model.key[:24]):
                rows.append({"model": model.name, "task": task.name, "title": task.title, **row})
        seconds["scoring"] += time.perf_counter() - started
    with staged_folder(output_dir, overwrite=options.overwrite) as staging:
        write_leaderboard(rows, staging)
    written = "leaderboard.md, leaderboard.csv, leaderboard.png, results.csv, model_index/"
    print(f"wrote {output_dir} ({written})", file=sys.stderr)
    return BenchResult(output_dir, rows, seconds, audio, state.num_processes)

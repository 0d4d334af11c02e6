"""``respira bench``: every model on every protocol whose data is present (:func:`run_bench`)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..models.respira.audio_decoding import check_whole
from .options import BenchOptions
from .tasks import TASKS, Site, Task, read_sites

__all__ = ["BenchResult", "run_bench"]

SCORING_CODE = (
    *("respira.encoder_bench.tasks", "respira.sites.choice", "respira.sites.heads", "respira.sites.scores"),
    *("respira.sites.out_of_sample", "respira.metrics.recording_level", "respira.metrics.icbhi"),
    "respira.data.folds",
)
"""The modules whose source is part of every cached task score's key: a score
cached by other code is scored again, never read (a committed leaderboard once held a cell no run of its
code gave)."""


def _code_digest(modules: Sequence[str]) -> str:
    """SHA-256 of the source files of ``modules``."""
    import importlib

    digest = hashlib.sha256()
    for name in sorted(set(modules)):
        digest.update(Path(importlib.import_module(name).__file__ or name).read_bytes())
    return digest.hexdigest()


@dataclass(kw_only=True)
class ScoringOptions(BenchOptions):
    """What the tasks read: the run's options and the suite's ``splits`` (:func:`.suite.splits_of`)."""

    splits: dict[str, Any] = field(default_factory=dict)


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
    runnable = [task for task in chosen if task.present(sites)]
    if not runnable:
        needs = "; ".join(f"{task.name} needs {task.needs}" for task in chosen)
        raise ValueError(f"no task's data is present: {needs} (given: {', '.join(s.name for s in sites)})")
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
    code = _code_digest(SCORING_CODE)
    digest = hashlib.sha256(f"{code}|{task.name}|{options.sizes}|{options.folds}".encode())
    digest.update(
        f"{options.draws}|{options.resamples}|{options.seed}|{options.layer}|{options.layers}".encode()
    )
    digest.update(json.dumps(getattr(options, "splits", {}), sort_keys=True).encode())
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
    from ..utils.files import write_text_atomic

    path = folder / f"{task.name}-{_fingerprint(task, samples, options)[:32]}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    rows = task.score(samples, sites, options)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(rows, default=lambda value: value.item()))
    return rows


def _marks(rows: Sequence[dict[str, Any]], options: ScoringOptions, folder: Path) -> list[list[Any]]:
    """Every column's mark (:func:`.leaderboard.column_marks`), read from ``folder`` where these rows were
    marked by this code already (a second run pairs nothing again), else paired and kept there."""
    from ..utils.files import write_json_atomic
    from .leaderboard import column_marks

    digest = hashlib.sha256(_code_digest([*SCORING_CODE, "respira.encoder_bench.leaderboard"]).encode())
    digest.update(f"{options.resamples}|{options.seed}".encode())
    digest.update(json.dumps(rows, sort_keys=True, default=lambda value: value.item()).encode())
    path = folder / f"{digest.hexdigest()[:32]}.json"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, column_marks(rows, resamples=options.resamples, seed=options.seed))
    return json.loads(path.read_text(encoding="utf-8"))  # as kept: a second run's rows are the first's


def _load(models: Sequence[str], options: BenchOptions, cache: Path, device: str | None) -> list[Any]:
    """Every model loaded (:func:`.models.load_model`), its refusal one line naming it, each named as given
    where two share a name; a ``--layer`` number checked against each model that embeds several hidden
    states."""
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


def _cost(model: Any, samples: dict[str, Any], cache: Path) -> dict[str, Any]:
    """``model``'s cost columns: its encoder's parameters, its embedding's size, and how many times real
    time its recordings were embedded on the machine that embedded them (the cache's record)."""
    from .models import embedding_speed

    torch_model = model.detector.model
    encoder = getattr(getattr(torch_model, "respira", None), "encoder", torch_model)
    speed = embedding_speed(cache / "embeddings" / model.key[:24]) or {}
    seconds, audio = speed.get("seconds"), speed.get("audio_seconds")
    return {
        "parameters": int(sum(parameter.numel() for parameter in encoder.parameters())),
        "embedding_size": int(next(iter(samples.values())).embeddings.shape[1]),
        "real_time": audio / seconds if seconds and audio else math.nan,
        "machine": speed.get("machine"),
    }


def _scoring(options: BenchOptions, sites: Sequence[Site]) -> tuple[ScoringOptions, dict[str, Any] | None]:
    """The options the tasks read, with the splits of ``--suite`` where its file exists (its options
    replacing the run's), and that suite (``None`` without one)."""
    from .suite import FIXED, read_suite, splits_of

    suite = None if options.suite is None else read_suite(Path(options.suite).expanduser(), sites)
    values = {item.name: getattr(options, item.name) for item in fields(options)}
    if suite is not None:
        values |= {key: suite["options"][key] for key in FIXED}
    return ScoringOptions(**values, splits=splits_of(suite)), suite


def run_bench(models: Sequence[str], options: BenchOptions) -> BenchResult | None:
    """Score each of ``models`` (:func:`respira.encoder_bench.models.build_model` names) on every task of
    ``options.tasks`` whose data ``options.data`` holds; write the leaderboard to ``options.output_dir``.
    Every input is checked, every site read and every model loaded before any embedding; the folder is
    written last, staged. Under ``accelerate launch`` every process embeds its share; the main one scores,
    writes and returns the result, the others ``None``."""
    import torch
    from accelerate import PartialState

    from ..utils.files import check_output_folder, write_text_atomic
    from ..utils.threads import apply_num_threads
    from .leaderboard import mark_best, write_leaderboard
    from .suite import build_suite

    _check(models, options)
    output_dir = Path(options.output_dir).expanduser()
    check_output_folder(output_dir, overwrite=options.overwrite)
    sites = read_sites(options.data)
    tasks = _tasks(options.tasks, sites)
    scoring, suite = _scoring(options, sites)
    cache = Path(options.cache_dir).expanduser()
    state = PartialState(cpu=options.device == "cpu" or not torch.cuda.is_available())
    apply_num_threads(requested=options.threads)
    device = options.device or (str(state.device) if state.num_processes > 1 else None)
    loaded = _load(models, options, cache, device)
    if state.is_main_process:
        print(processes_line(state.num_processes, "ACCELERATE_USE_CPU" in os.environ), file=sys.stderr)
    seconds = {"embedding": 0.0, "cycles": 0.0, "scoring": 0.0}
    embedder = _Embedder(sites, tasks, cache, options.batch_size, state, seconds)
    if state.num_processes > 1:  # each process embeds its share into the cache; the main one scores
        for model in loaded:
            embedder(model, shard=(state.process_index, state.num_processes))
        state.wait_for_everyone()
        if not state.is_main_process:
            return None
    rows, costs, audio = _score(loaded, tasks, sites, scoring, cache, embedder)
    new_suite = suite is None and options.suite is not None
    if suite is None:
        name = Path(options.suite).stem if options.suite else output_dir.name
        suite = build_suite(name, sites, rows, scoring)
    rows = mark_best(rows, marks=_marks(rows, scoring, cache / "marks"))
    write_leaderboard(rows, output_dir, costs=costs, suite=suite, overwrite=options.overwrite)
    if new_suite:  # the run's own suite.json, where --suite named a file that was not there yet
        write_text_atomic(
            Path(str(options.suite)).expanduser(), (output_dir / "suite.json").read_text("utf-8")
        )
    written = "leaderboard.md, leaderboard.csv, leaderboard.png, results.csv, model_index/, suite.json"
    print(f"wrote {output_dir} ({written})", file=sys.stderr)
    return BenchResult(output_dir, rows, seconds, audio, state.num_processes)


@dataclass
class _Embedder:
    """Every site's sample of a model (:func:`.models.embed`: its windows, and a cycle-labelled site's
    cycles where a task reads them), timing each kind in ``seconds``."""

    sites: Sequence[Site]
    tasks: Sequence[Task]
    cache: Path
    batch_size: int | None
    state: Any
    seconds: dict[str, float]

    def __call__(self, model: Any, shard: tuple[int, int] | None = None) -> dict[str, Any]:
        from .models import embed

        samples = {}
        for site in self.sites:
            kinds = [(site.name, None, "embedding")]
            if site.cycles is not None and any(task.unit == "cycle" for task in self.tasks):
                kinds.append((f"{site.name} cycles", site.cycles, "cycles"))
            for name, cycles, kind in kinds:
                started = time.perf_counter()
                samples[name] = embed(
                    model,
                    site.recordings.recordings,
                    self.cache,
                    cycles=cycles,
                    batch_size=self.batch_size,
                    shard=shard,
                    progress=self.state.is_main_process,
                    description=f"{model.name}: embedding {name}",
                )
                self.seconds[kind] += time.perf_counter() - started
        return samples


def _score(
    loaded: Sequence[Any], tasks: Sequence[Task], sites: Sequence[Site], options: ScoringOptions, cache: Path,
    embedder: _Embedder,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], float]:  # fmt: skip
    """Every model's rows of every task (each task's read from the cache where it scored these samples),
    its cost columns, and the audio embedded (seconds of the sites' recordings, over all models)."""
    from ..utils.progress import progress

    rows: list[dict[str, Any]] = []
    costs, audio = {}, 0.0
    for model in loaded:
        samples = embedder(model)
        audio += sum(float(samples[site.name].duration.sum()) for site in sites)
        costs[model.name] = _cost(model, samples, cache)
        started = time.perf_counter()
        scoring = replace(options)
        scoring.layers = model.layers
        for task in progress(tasks, f"{model.name}: scoring", unit="task"):
            for row in _task_rows(task, samples, sites, scoring, cache / "scores" / model.key[:24]):
                rows.append({"model": model.name, "task": task.name, "title": task.title, **row})
        embedder.seconds["scoring"] += time.perf_counter() - started
    return rows, costs, audio

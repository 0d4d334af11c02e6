"""``respira bench`` (:func:`respira.bench`): which encoder serves respiratory sounds. Every model's frozen
linear probe on every protocol whose data is present (:data:`~respira.encoder_bench.tasks.TASKS`: in
domain, an unseen hospital, a site's own labels), with intervals and the baselines of the same samples;
embeddings cached per (encoder, recording)."""

from __future__ import annotations

from .options import BenchOptions
from .run import run_bench
from .tasks import TASKS, Site, Task, register_task

__all__ = ["TASKS", "BenchOptions", "Site", "Task", "register_task", "run_bench"]

"""An evaluation protocol, MTEB's task shape: the recordings it scores (the columns each needs), what the
detector runs on them, how its scores are grouped and the report it writes; and the one report writer
(:func:`write_report`: ``metrics.json`` and the protocol's files in a staged folder, moved into place on
success). Each protocol keeps its own scorer: four-class cycles (:mod:`respira.evaluation.cycles`),
per-recording flags (:mod:`respira.evaluation.external_validation`) and detected events
(:mod:`respira.evaluation.event_detection_report`) are scored from different things."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.respira.audio_decoding import decode_audio
from ..reports.figures import save_figures
from ..utils.files import staged_folder, write_json_atomic
from ..utils.progress import progress

if TYPE_CHECKING:
    import datasets
    from matplotlib.figure import Figure

    from ..inference.detector import Detector

__all__ = ["Protocol", "check_dataset", "json_ready", "write_json", "write_report"]

METRICS_FILE = "metrics.json"


def json_ready(value: Any) -> Any:
    """``value`` with numpy types turned into Python ones and non-finite floats into ``None``."""
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return json_ready(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def write_json(path: str | Path, value: Any) -> Path:
    """Write ``json_ready(value)`` as indented JSON (non-finite → ``null``) atomically; return the path."""
    return write_json_atomic(path, json_ready(value))


def check_dataset(dataset: datasets.Dataset, columns: Sequence[str], needs: str) -> None:
    """One line when ``dataset`` lacks one of ``columns`` (``needs``: what needs them) or is empty."""
    missing = [column for column in columns if column not in dataset.column_names]
    if missing:
        raise ValueError(
            f"the dataset lacks column(s) {', '.join(missing)} (columns: {', '.join(dataset.column_names)}); "
            f"{needs}"
        )
    if len(dataset) == 0:
        raise ValueError("the dataset is empty: there is nothing to evaluate")


@dataclass(frozen=True)
class Protocol:
    """What an evaluation scores and how: ``columns`` each example needs (``needs``: the words of the
    refusal), ``unit`` (``cycle`` or ``recording``), what the detector ``runs`` on each
    (:class:`~respira.inference.detector.Detector`'s ``run_dataset`` for cycles, ``predict``: sliding
    windows, ``detect_events``: the frame stream, ``embed``: the frozen encoder's embeddings), ``grouping``
    (what its scores are grouped and resampled by) and the ``files`` of its report (``metrics.json`` first
    where it has one; figures follow)."""

    name: str
    columns: tuple[str, ...]
    needs: str
    unit: str
    runs: str
    grouping: str
    files: tuple[str, ...]

    def check(self, dataset: datasets.Dataset, columns: Sequence[str] = ()) -> None:
        """One line when ``dataset`` lacks a column this protocol (or ``columns``) needs, or is empty."""
        check_dataset(dataset, (*self.columns, *columns), self.needs)

    def run(
        self,
        detector: Detector,
        dataset: datasets.Dataset,
        what: str,
        options: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
    ) -> Iterator[tuple[dict[str, Any], Any]]:
        """Each example of ``dataset`` (a recording) with what ``detector.<runs>`` gives for its audio,
        decoded at the detector's rate (``options``: that method's, of the example), under a progress bar
        of ``what``."""
        rate = detector.sampling_rate
        method = getattr(detector, self.runs)
        for example in progress(dataset, what, unit=self.unit):
            given = options(example) if options is not None else {}
            yield example, method(decode_audio(example["audio"], rate), rate, **given)


def write_report(
    protocol: Protocol,
    output_dir: str | Path,
    metrics: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None,
    writers: Mapping[str, Callable[[Path], Any]],
    figures: Callable[[], Mapping[str, Figure]] | None = None,
    *,
    overwrite: bool = True,
) -> list[str]:
    """Write each of ``protocol.files`` by its writer (``writers``: file name → a function of its path),
    ``metrics`` as ``metrics.json`` (a function: what it gives once those are written; ``None``: a report
    whose files hold its scores, without one) and the ``figures`` drawn, into a staged folder moved to
    ``output_dir`` on success (``overwrite``: as :func:`~respira.utils.files.staged_folder`); return the
    names of the files written, the protocol's then its figures'."""
    named = protocol.files[1:] if metrics is not None else protocol.files
    missing = [name for name in named if name not in writers]
    if (metrics is not None and protocol.files[0] != METRICS_FILE) or missing:
        raise ValueError(f"protocol {protocol.name}: no writer for {', '.join(missing) or METRICS_FILE}")
    with staged_folder(output_dir, overwrite=overwrite) as output:
        for name in named:
            writers[name](output / name)
        if metrics is not None:
            write_json(output / METRICS_FILE, metrics() if callable(metrics) else metrics)
        drawn = save_figures(figures(), output) if figures is not None else []
    return [*protocol.files, *(path.name for path in drawn)]

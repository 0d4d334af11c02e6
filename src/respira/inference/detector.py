"""One object to predict crackles and wheezes: :class:`Detector` (also behind ``respira predict``).

Typical use::

    import respira

    detector = respira.Detector.from_pretrained("my_model")   # a model folder, an ONNX export or a Hub id
    result = detector.predict_file("recording.wav")            # sliding windows of 4 s every 2 s
    result.label, result.crackle, result.wheeze                # the recording's verdict and probabilities
    result.to_pandas()                                         # one row per window
    detector.plot("recording.wav", "recording.png")            # spectrogram + probabilities + labels
    detector.detect_events("recording.wav").events              # crackle / wheeze onsets and offsets

Bad input raises :class:`~respira.inference.prediction.PredictionError` (a ``ValueError``) or
:class:`~respira.hub.loading.ModelLoadError` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.respira.audio_decoding import integer_pcm_bits
from ..models.respira.decision import FRAME_HOP_SECONDS, Event, EventSettings, aggregation_of, flag_order
from ..models.respira.windows import DEFAULT_HOP_SECONDS, DEFAULT_TOP_K, DEFAULT_WINDOW_SECONDS
from .embeddings import WindowEmbeddings
from .event_rules import FRAMES_RULE, VERDICT_RULE, EventDetection, gate_by_verdict
from .forward import InferenceForm, default_batch_size, run, run_dataset
from .prediction import Prediction, PredictionError
from .streaming import Prepared, read_cycles, read_plan, stream_recordings
from .windowing import (
    DEFAULT_BATCH_SIZE,
    MAX_WINDOWS,
    WindowPlan,
    check_call_options,
    plan_windows,
    resampled,
    run_windows,
    window_rows,
)

__all__ = ["Detector", "Prediction", "PredictionError"]


class Detector:
    """A trained respira classifier (torch or ONNX) ready to predict recordings.

    The keyword arguments are every call's defaults, which each call may override; ``aggregation`` left
    out is the model's own rule. ``name`` names the model in pages and figures (default: its folder's).
    """

    def __init__(
        self,
        model: Any,
        *,
        window: float = DEFAULT_WINDOW_SECONDS,
        hop: float = DEFAULT_HOP_SECONDS,
        smoothing: int = 1,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_windows: int | None = MAX_WINDOWS,
        aggregation: str | None = None,
        top_k: int | None = None,
        name: str | None = None,
    ) -> None:
        self.model = model
        if aggregation is None:
            aggregation, own_top_k = aggregation_of(model.config)
            top_k = own_top_k if top_k is None else top_k
        self._inference_form = InferenceForm()
        self.name = (
            name or Path(str(getattr(model.config, "_name_or_path", "") or "")).name or type(model).__name__
        )
        self.options: dict[str, Any] = {
            "window": window,
            "hop": hop,
            "smoothing": smoothing,
            "batch_size": batch_size,
            "max_windows": max_windows,
            "aggregation": aggregation,
            "top_k": top_k,
        }
        self.settings(self.options)

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path | None = None,
        *,
        device: str | torch.device | None = None,
        onnx: bool | None = None,
        **options: Any,
    ) -> Detector:
        """Load a model folder, an ONNX export, a shipped detector's name (``respira detectors``) or a Hub
        id; left out, respira's shipped detector (offline).

        ``onnx``: run ``model.onnx`` with onnxruntime (``None``: when the folder has no torch weights).
        Other keyword arguments are the call defaults. Raises :class:`~respira.hub.loading.ModelLoadError`.
        """
        from ..hub.onnx import load_model_or_onnx

        model, name = load_model_or_onnx(source, device=device, onnx=onnx)
        options.setdefault("name", name)
        return cls(model, **options)

    @property
    def config(self) -> Any:
        """The model's :class:`~respira.RespiraConfig`."""
        return self.model.config

    @property
    def inference_model(self) -> Any:
        """The model as run: on the CPU its batch norms folded into their convolutions
        (:func:`respira.inference.forward.inference_form`), elsewhere :attr:`model` itself."""
        return self._inference_form.get(self.model)

    @property
    def sampling_rate(self) -> int:
        """The rate (Hz) the model's input is resampled to."""
        return int(self.config.sampling_rate)

    def settings(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """The call's options: :attr:`options` overridden by ``overrides``, checked."""
        unknown = sorted(set(overrides) - set(self.options))
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(unknown)}; expected {', '.join(self.options)}")
        options = {**self.options, **{k: v for k, v in overrides.items() if v is not None}}
        if "max_windows" in overrides and overrides["max_windows"] is None:
            options["max_windows"] = None
        if options["aggregation"] != "topk_mean":
            if overrides.get("top_k") is not None:
                raise PredictionError(
                    f"top_k applies to aggregation='topk_mean' only, got {options['aggregation']!r}"
                )
            options["top_k"] = None  # a default of the topk_mean this call does not use
        elif options["top_k"] is None:
            options["top_k"] = DEFAULT_TOP_K
        try:
            check_call_options(self.model, options)
        except ValueError as error:
            raise PredictionError(str(error)) from None
        return options

    def predict(
        self,
        waveform: Any,
        sampling_rate: int,
        *,
        cycles: Sequence[tuple[float, float]] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> Prediction:
        """Predict a mono waveform (numpy or torch, floats in [-1, 1] or integer PCM) at ``sampling_rate`` Hz,
        in sliding windows or the ``cycles`` given as ``(start, end)`` seconds.

        A recording the model cannot judge
        (:func:`respira.models.respira.audio_decoding.check_input`) warns, and the result's ``warning``
        says why. ``name`` names it in messages and is the result's ``file``.
        """
        plan = self.plan_windows(waveform, sampling_rate, cycles=cycles, name=name, **options)
        batch_size = self.settings(options)["batch_size"]
        try:
            probabilities = run_windows(self.inference_model, plan.windows, batch_size)
        except ValueError as error:
            raise PredictionError.of(error, None) from None
        return self.planned_prediction(plan, probabilities, name=name, **options)

    def plan_windows(
        self,
        waveform: Any,
        sampling_rate: int,
        *,
        cycles: Sequence[tuple[float, float]] | None = None,
        name: str | None = None,
        recorded_rate: int | None = None,
        pcm_bits: int | None = None,
        **options: Any,
    ) -> WindowPlan:
        """What :meth:`predict` does before the model (:func:`respira.inference.windowing.plan_windows`).
        ``recorded_rate``, ``pcm_bits``: the recording's own, when the waveform was converted already."""
        settings = self.settings(options)
        audio = self._resampled(waveform, sampling_rate, name)
        try:
            return plan_windows(
                self.model,
                audio,
                cycles=cycles,
                **{k: settings[k] for k in ("window", "hop", "smoothing", "max_windows")},
                name=name,
                recorded_rate=int(sampling_rate) if recorded_rate is None else recorded_rate,
                pcm_bits=integer_pcm_bits(waveform) if pcm_bits is None else pcm_bits,
            )
        except ValueError as error:
            raise PredictionError.of(error, None) from None

    def planned_prediction(
        self,
        plan: WindowPlan,
        probabilities: np.ndarray,
        *,
        name: str | None = None,
        **options: Any,
    ) -> Prediction:
        """:meth:`predict`'s result for a :meth:`plan_windows` plan and its windows' probabilities."""
        settings = self.settings(options)
        rows = window_rows(self.config, plan, probabilities)
        return Prediction.from_rows(rows, self.config, settings["aggregation"], settings["top_k"], name)

    def _resampled(self, waveform: Any, sampling_rate: Any, name: str | None = None) -> np.ndarray:
        try:
            return resampled(waveform, sampling_rate, self.sampling_rate, name)
        except ValueError as error:
            raise PredictionError.of(error, None) from None

    def predict_file(
        self, path: str | Path, *, annotations: str | Path | None = None, **options: Any
    ) -> Prediction:
        """Predict an audio file (any rate and channels), or the cycles of its ICBHI ``annotations`` file."""
        settings = self.settings(options)
        try:
            plan = read_plan(self, path, str(path), annotations=annotations, **options)
            probabilities = run_windows(self.inference_model, plan.windows, settings["batch_size"])
        except (OSError, ValueError) as error:
            raise PredictionError.of(error, str(path)) from None
        rows = [{"file": str(path), **row} for row in window_rows(self.config, plan, probabilities)]
        return Prediction.from_rows(rows, self.config, settings["aggregation"], settings["top_k"], str(path))

    def plot(
        self,
        path: str | Path,
        output: str | Path | None = None,
        *,
        prediction: Prediction | None = None,
        annotations: str | Path | None = None,
        events: Sequence[Event] | None = None,
        detection: EventDetection | None = None,
        **options: Any,
    ) -> Path:
        """Draw the recording as predicted (spectrogram, probabilities and thresholds, labels, ``annotations``
        cycles, ``events`` or a ``detection``'s) to ``output`` (format by suffix; default ``NAME.png``
        beside it); return its path. ``prediction`` reuses a :meth:`predict_file` result."""
        from ..reports.figures import check_figure_target
        from ..reports.recording_plot import plot_recording

        settings = self.settings(options)
        target = Path(output) if output is not None else Path(path).with_suffix(".png")
        check_figure_target(target)
        if prediction is None:
            prediction = self.predict_file(path, annotations=annotations, **options)
        return plot_recording(
            self.inference_model,
            path,
            target,
            rows=prediction.rows,
            annotations=annotations,
            window=settings["window"],
            hop=settings["hop"],
            smoothing=settings["smoothing"],
            events=detection.events if detection is not None else events,
            frames=(detection.frames.times, detection.frames.posteriors) if detection is not None else None,
            events_caption=detection.describe() if detection is not None else None,
            left_out=detection.left_out if detection is not None else None,
        )

    def detect_events(
        self,
        source: str | Path | Any,
        sampling_rate: int | None = None,
        *,
        thresholds: Sequence[float] | None = None,
        settings: EventSettings | None = None,
        frame_hop_seconds: float = FRAME_HOP_SECONDS,
        name: str | None = None,
        prediction: Prediction | None = None,
        rule: str = VERDICT_RULE,
    ) -> EventDetection:
        """Crackle and wheeze events (onset, offset, confidence) of a file or waveform, kept where the
        recording's verdict (``prediction``, when made already) holds them; ``rule="frames"``: every frame
        event, no verdict made (what ``respira evaluate --task events`` scores)."""
        from .frames import detection_of_frames, predict_frames

        if rule not in (VERDICT_RULE, FRAMES_RULE):
            raise PredictionError(f"rule must be {VERDICT_RULE!r} or {FRAMES_RULE!r}, got {rule!r}")
        gated = rule == VERDICT_RULE
        if isinstance(source, (str, Path)):
            if sampling_rate is not None:
                raise PredictionError("sampling_rate applies to a waveform; a file's rate is read from it")
            name, audio = str(source), source
            prediction = prediction or (self.predict_file(source) if gated else None)
        else:
            prediction = prediction or (self.predict(source, sampling_rate, name=name) if gated else None)
            audio = self._resampled(source, sampling_rate, name)
        runner, batch_size = self.inference_model, self.options["batch_size"]
        try:
            frames = predict_frames(runner, audio, frame_hop_seconds=frame_hop_seconds, batch_size=batch_size)
            options = {"thresholds": thresholds, "settings": settings, "file": name}
            detection = detection_of_frames(runner, frames, **options)
        except (OSError, ValueError) as error:
            raise PredictionError.of(error, name) from None
        return self._gated(detection, prediction) if gated else detection

    def stream(self, recordings: Iterable[Any], **options: Any) -> Iterator[Prepared]:
        """Many recordings (paths, or items with ``path`` and ``data``: :class:`respira.screening.Recording`)
        predicted, their windows batched across recordings: each one's ``prediction`` (with ``events=True``
        its event rows) or its ``row``'s ``error``, in order; ``options``:
        :func:`~respira.inference.streaming.stream_recordings`'."""
        return stream_recordings(self, recordings, **options)

    def embed(
        self,
        recordings: Sequence[Any],
        *,
        batch_size: int | None = None,
        progress: bool = False,
        description: str = "embedding recordings",
    ) -> WindowEmbeddings:
        """The pooled embeddings and logits of every window :meth:`predict` cuts in ``recordings`` (paths, or
        items with ``path`` and ``data``), read side by side; one-line error naming a file that fails."""
        from ..utils.progress import stage

        if not recordings:
            raise PredictionError("no recordings to embed")
        if not isinstance(self.model, torch.nn.Module):
            raise PredictionError("an ONNX export gives no embeddings: load the model's torch weights")
        size = batch_size or default_batch_size(str(next(self.model.parameters()).device))
        outputs, durations = [], []
        with stage(description, len(recordings), "recording", enabled=progress) as shown:
            items = stream_recordings(
                self, recordings, output=("embeddings", "logits"), batch_size=size, side_by_side=True
            )
            for item in items:
                if item.row.get("error") is not None or not item.outputs:
                    raise PredictionError(f"{item.row['path']}: {item.row.get('error') or 'no windows'}")
                outputs.append(item.outputs)
                durations.append(float(item.row["duration"]))
                shown.update()
        return WindowEmbeddings.of(outputs, durations, flag_order(self.config))

    def embed_cycles(self, path: str | Path, cycles: Sequence[tuple[float, float]]) -> WindowEmbeddings:
        """:meth:`embed` of one recording's annotated ``cycles`` (``(start, end)`` in seconds), cut as
        :meth:`predict` cuts them, each cycle one window, all in one batch."""
        plan = read_cycles(self, path, cycles)
        rows = run(self.inference_model, plan.windows, ("embeddings", "logits"), len(plan.windows))
        duration = plan.samples.shape[0] / self.sampling_rate
        return WindowEmbeddings.of([rows], [duration], flag_order(self.config))

    def run_dataset(
        self,
        dataset: Any,
        output: str = "logits",
        *,
        audio_column: str = "audio",
        batch_size: int | None = None,
        track: Callable[[Iterable[np.ndarray]], Iterable[np.ndarray]] = iter,
    ) -> list:
        """The ``output`` (:data:`~respira.inference.forward.OUTPUTS`) of each cycle of a dataset's
        ``datasets.Audio`` column, each one window as it is (:func:`~respira.inference.forward.run_dataset`;
        ``track``: their progress)."""
        size = batch_size or self.options["batch_size"]
        return run_dataset(
            self.inference_model, dataset, output, batch_size=size, audio_column=audio_column, track=track
        )

    def _gated(self, detection: EventDetection, prediction: Prediction) -> EventDetection:
        return gate_by_verdict(
            detection,
            prediction.rows,
            self.config,
            aggregation=prediction.aggregation,
            top_k=prediction.top_k,
        )

    def planned_events(
        self,
        plan: WindowPlan,
        chunks: Sequence[tuple[int, int, bool]],
        outputs: Sequence[tuple[np.ndarray, np.ndarray]],
        prediction: Prediction,
        *,
        frame_hop_seconds: float = FRAME_HOP_SECONDS,
    ) -> EventDetection:
        """:meth:`detect_events` of a :meth:`plan_windows` plan's waveform, from its chunks
        (:func:`~respira.inference.frames.plan_chunks`) and their ``frames`` outputs."""
        from .frames import detection_of_frames, frames_from_chunks

        try:
            frames = frames_from_chunks(
                self.config, chunks, outputs, plan.samples.shape[0], frame_hop_seconds
            )
        except ValueError as error:
            raise PredictionError(str(error)) from None
        detection = detection_of_frames(self.inference_model, frames, file=prediction.file)
        return self._gated(detection, prediction)

    def __repr__(self) -> str:
        return f"Detector({self.name!r}, labels={list(self.config.id2label.values())})"

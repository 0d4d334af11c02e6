"""How respira runs its model, the one place that does: :func:`forward` (a batch of waveforms → the outputs a
job asks, torch or ONNX, in eval mode, inference mode and full float32), :func:`run` (one recording's windows)
and :func:`stream` (many recordings' windows batched across them); :func:`computing_in_place` around a pass
of many batches (each activation after a batch norm in place: the same values). On the CPU a Detector runs
the model's :func:`inference_form`: every ``Conv2d`` → ``BatchNorm2d`` pair of an ``nn.Sequential`` folded
into one channels-last convolution, the activation after it in place (the model's outputs to float
rounding; docs/history/speed.md).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..hub.onnx import steps_within
from ..metrics.thresholds import sigmoid
from ..models.respira.audio_decoding import decode_audio, pad_batch
from ..models.respira.labels import MULTI_LABEL
from ..models.respira.windows import run_batched, window_batches
from ..utils.precision import full_float32

if TYPE_CHECKING:
    import datasets

__all__ = ["InferenceForm", "default_batch_size", "forward", "inference_form", "run", "run_dataset", "stream"]

OUTPUTS = ("probabilities", "frames", "embeddings", "logits")
"""What :func:`forward` gives per waveform: ``probabilities`` ``[labels]`` float64; ``frames``: its time
steps' centres (seconds) and ``[steps, labels]`` probabilities (float64); ``embeddings``: the pooled embedding
(float32, before ``head_norm``); ``logits`` ``[labels]`` float32, in the model's label order."""
CPU_BATCH_SIZE = 8  # windows per forward pass: faster than 32 on the CPU (BENCHMARKS.md, respira screen)
GPU_BATCH_SIZE = 64


def default_batch_size(device: str) -> int:
    """:data:`CPU_BATCH_SIZE` on the CPU, :data:`GPU_BATCH_SIZE` on any other device."""
    return CPU_BATCH_SIZE if str(device).startswith("cpu") else GPU_BATCH_SIZE


def _onnx(model: Any, waveforms: Sequence[np.ndarray], output: str, batch_size: int) -> list[Any]:
    if output not in ("probabilities", "frames"):
        raise ValueError(f"an ONNX export gives probabilities and frames, not {output}")
    method = model.predict_probabilities if output == "probabilities" else model.predict_frames
    return list(method(list(waveforms), batch_size))


def forward(
    model: Any, waveforms: Sequence[np.ndarray], output: str | Sequence[str] = "probabilities"
) -> list:
    """One batch of prepared waveforms at the model's rate through ``model`` (torch or ONNX): per waveform its
    :data:`OUTPUTS` ``output`` (a tuple of them for several names)."""
    names = (output,) if isinstance(output, str) else tuple(output)
    if not isinstance(model, nn.Module):
        columns = [_onnx(model, waveforms, name, len(waveforms)) for name in names]
        return columns[0] if isinstance(output, str) else list(zip(*columns, strict=True))
    multi_label = model.config.problem_type == MULTI_LABEL
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    try:
        with torch.inference_mode(), full_float32():
            values, mask = pad_batch(list(waveforms))
            out = model(
                input_values=values.to(device),
                attention_mask=mask.to(device),
                output_frames="frames" in names,
                return_dict=True,
            )
            columns = []
            for name in names:
                if name == "probabilities" and multi_label:
                    columns.append(list(sigmoid(out.logits.float().cpu().numpy())))
                elif name == "probabilities":
                    columns.append(list(out.logits.float().softmax(dim=-1).cpu().numpy().astype(np.float64)))
                elif name == "frames":
                    columns.append(_frames(out, waveforms, multi_label, int(model.config.sampling_rate)))
                else:
                    columns.append(list(getattr(out, name).float().cpu().numpy()))
    finally:
        model.train(was_training)
    return columns[0] if isinstance(output, str) else list(zip(*columns, strict=True))


def _frames(out: Any, waveforms: Sequence[np.ndarray], multi_label: bool, rate: int) -> list[Any]:
    logits = out.frame_logits.float()
    probabilities = (logits.sigmoid() if multi_label else logits.softmax(dim=-1)).cpu().numpy()
    times = out.frame_times.float().cpu().numpy().astype(np.float64)
    masks, rows = out.frame_mask.cpu().numpy(), []
    for row, waveform in enumerate(waveforms):
        keep = masks[row] & steps_within(times, waveform.shape[0] / rate)
        keep[0] = True  # the first step even where the mask calls it padding
        rows.append((times[keep], probabilities[row].astype(np.float64)[keep]))
    return rows


def run(
    model: Any, waveforms: Sequence[np.ndarray], output: str = "probabilities", batch_size: int = 32
) -> list:
    """:func:`forward` over ``waveforms``, ``batch_size`` at a time."""
    if not isinstance(model, nn.Module):
        return _onnx(model, waveforms, output, batch_size)
    return run_batched([list(waveforms)], partial(forward, model, output=output), batch_size)[0]


def stream(
    model: Any,
    items: Iterable[Any],
    windows: Callable[[Any], Sequence[np.ndarray]],
    output: str | Sequence[str],
    batch_size: int,
) -> Iterator[tuple[Any, list[Any] | None, BaseException | None]]:
    """:func:`batched` of ``items``' ``windows`` through :func:`forward`."""
    return batched(items, windows, partial(forward, model, output=output), batch_size)


def batched(
    items: Iterable[Any],
    parts: Callable[[Any], Sequence[Any]],
    run: Callable[[list[Any]], Sequence[Any]],
    batch_size: int,
) -> Iterator[tuple[Any, list[Any] | None, BaseException | None]]:
    """``(item, outputs, error)`` of each of ``items`` in order, as soon as its ``parts`` have run through
    ``run`` (``batch_size`` at a time across items); a part's ``ValueError`` fails its item alone."""
    waiting: deque[list[Any]] = deque()  # [item, part count, outputs, error] of the items not yet yielded

    def windows() -> Iterator[list[tuple[list[Any], Any]]]:
        for item in items:
            found = list(parts(item))
            entry = [item, len(found), [], None]
            waiting.append(entry)
            yield [(entry, window) for window in found]

    def finished() -> Iterator[tuple[Any, list[Any] | None, BaseException | None]]:
        while waiting and len(waiting[0][2]) == waiting[0][1]:
            item, _, outputs, error = waiting.popleft()
            yield item, None if error is not None else outputs, error

    for batch in window_batches(windows(), batch_size):
        pairs = [pair for _, pair in batch]
        try:
            outputs: Sequence[Any] | None = run([window for _, window in pairs])
        except ValueError:
            outputs = None
        for position, (entry, window) in enumerate(pairs):
            if outputs is not None:
                entry[2].append(outputs[position])
                continue
            try:
                entry[2].append(run([window])[0])
            except ValueError as error:
                entry[2].append(None)
                entry[3] = entry[3] or error
        yield from finished()
    yield from finished()


def run_each(model: Any, waveforms: Iterable[np.ndarray], output: str, batch_size: int) -> list:
    """:func:`forward`'s ``output`` of each of ``waveforms`` (one window each), streamed ``batch_size`` at a
    time; the first error raised."""
    rows = []
    for _, outputs, error in stream(model, waveforms, lambda waveform: [waveform], output, batch_size):
        if error is not None:
            raise error
        rows.append(outputs[0])
    return rows


def run_dataset(
    model: Any,
    dataset: datasets.Dataset,
    output: str,
    *,
    batch_size: int = 32,
    audio_column: str = "audio",
    track: Callable[[Iterable[np.ndarray]], Iterable[np.ndarray]] = iter,
) -> list:
    """:func:`run_each` of the cycles of a dataset's ``datasets.Audio`` column, decoded at the model's rate
    (``track``: their progress)."""
    import datasets

    rate = int(model.config.sampling_rate)
    feature = dataset.features[audio_column]
    if not isinstance(feature, datasets.Audio):
        raise ValueError(f"column {audio_column!r} is a {type(feature).__name__}, not datasets.Audio")
    if feature.sampling_rate != rate:
        dataset = dataset.cast_column(audio_column, datasets.Audio(sampling_rate=rate))

    def cycles() -> Iterator[np.ndarray]:
        for first in range(0, len(dataset), batch_size):
            for audio in dataset[first : first + batch_size][audio_column]:
                samples = decode_audio(audio, rate)
                if samples.size == 0:
                    raise ValueError("the dataset holds an empty cycle (0 samples)")
                yield samples

    return run_each(model, track(cycles()), output, batch_size)


def foldable_pairs(model: nn.Module) -> Iterator[tuple[nn.Sequential, int]]:
    """``(sequential, i)`` for each ``Conv2d`` at ``sequential[i]`` followed by a foldable ``BatchNorm2d``."""
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index, (conv, norm) in enumerate(pairwise(module)):
            if (
                type(conv) is nn.Conv2d
                and type(norm) is nn.BatchNorm2d
                and norm.running_mean is not None
                and norm.running_var is not None
                and conv.out_channels == norm.num_features
            ):
                yield module, index


def fold_batch_norms(model: nn.Module) -> int:
    """Fold every :func:`foldable_pairs` pair in ``model`` itself (eval mode); return how many."""
    model.eval()
    activations = activations_in_place(model)
    folded = 0
    for sequential, index in list(foldable_pairs(model)):
        conv, norm = sequential[index], sequential[index + 1]
        fused = fuse_conv_bn_eval(conv, norm)
        # strides set explicitly: a 1×1 or depthwise kernel counts as "contiguous" in both layouts, and
        # .contiguous(memory_format=...) would leave it as it is, which oneDNN reads as NCHW
        weight = torch.empty_like(fused.weight, memory_format=torch.channels_last)
        fused.weight = nn.Parameter(weight.copy_(fused.weight.detach()), requires_grad=False)
        sequential[index], sequential[index + 1] = fused, nn.Identity()
        folded += 1
    for activation in activations:
        activation.inplace = True
    return folded


def activations_in_place(model: nn.Module) -> list[nn.Module]:
    """The activations right after a :func:`foldable_pairs` pair that are used in one place only: their
    input is the batch norm's own output, so they may compute in place (the same values, no new tensor)."""
    seen = Counter(id(module) for _, module in model.named_modules(remove_duplicate=False))
    after = (
        sequential[index + 2] for sequential, index in foldable_pairs(model) if index + 2 < len(sequential)
    )
    return [module for module in after if hasattr(module, "inplace") and seen[id(module)] == 1]


@contextlib.contextmanager
def computing_in_place(model: Any) -> Iterator[None]:
    """A block in which :func:`activations_in_place` of ``model`` compute in place, put back as they were
    after it: for passes of :func:`forward` (inference: nothing needs their input), the same values without
    a new tensor for each."""
    activations = activations_in_place(model) if isinstance(model, nn.Module) else []
    switched = [activation for activation in activations if not activation.inplace]
    for activation in switched:
        activation.inplace = True
    try:
        yield
    finally:
        for activation in switched:
            activation.inplace = False


def inference_form(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with its batch norms folded, without gradients, sharing the model's configs;
    ``model`` itself when it has nothing to fold."""
    if next(iter(foldable_pairs(model)), None) is None:
        return model
    configs = (getattr(module, "config", None) for module in model.modules())
    form = copy.deepcopy(model, memo={id(c): c for c in configs if c is not None})
    form.requires_grad_(False)
    fold_batch_norms(form)
    return form


def runs_on_cpu(model: object) -> bool:
    """Whether ``model`` computes on the CPU (an ONNX export, which is no ``nn.Module``, does)."""
    tensors = (*model.parameters(), *model.buffers()) if isinstance(model, nn.Module) else ()
    return all(t.device.type == "cpu" for t in tensors)


class InferenceForm:
    """The :func:`inference_form` of a model, rebuilt when the model or any of its tensors changes; off
    the CPU and for an ONNX export, the model itself."""

    def __init__(self) -> None:
        self._form: nn.Module | None = None
        self._state: tuple | None = None
        self._lock = threading.Lock()

    def get(self, model: object) -> object:
        if not isinstance(model, nn.Module) or not runs_on_cpu(model):
            return model
        state = (id(model), *((t.data_ptr(), t._version) for t in (*model.parameters(), *model.buffers())))
        with self._lock:
            if self._form is None or state != self._state:
                self._form, self._state = inference_form(model), state
            return self._form

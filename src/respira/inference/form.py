"""A loaded model in the form the CPU runs fastest: what :class:`respira.Detector` predicts with.

Every ``Conv2d`` → ``BatchNorm2d`` pair of an ``nn.Sequential`` (EfficientAT's and the CNN's blocks)
becomes one channels-last convolution, the activation after it in place; the outputs are the model's to
float rounding (docs/history/speed.md).
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["InferenceForm", "fold_batch_norms", "foldable_pairs", "inference_form", "runs_on_cpu"]


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
    seen = Counter(id(module) for _, module in model.named_modules(remove_duplicate=False))
    folded = 0
    for sequential, index in list(foldable_pairs(model)):
        conv, norm = sequential[index], sequential[index + 1]
        fused = fuse_conv_bn_eval(conv, norm)
        # strides set explicitly: a 1×1 or depthwise kernel counts as "contiguous" in both layouts, and
        # .contiguous(memory_format=...) would leave it as it is, which oneDNN reads as NCHW
        weight = torch.empty_like(fused.weight, memory_format=torch.channels_last)
        fused.weight = nn.Parameter(weight.copy_(fused.weight.detach()), requires_grad=False)
        sequential[index], sequential[index + 1] = fused, nn.Identity()
        if index + 2 < len(sequential):
            activation = sequential[index + 2]
            if hasattr(activation, "inplace") and seen[id(activation)] == 1:  # not shared
                activation.inplace = True
        folded += 1
    return folded


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
        if not isinstance(model, nn.Module):
            return model
        tensors = [*model.parameters(), *model.buffers()]
        if any(t.device.type != "cpu" for t in tensors):
            return model
        state = (id(model), *((t.data_ptr(), t._version) for t in tensors))
        with self._lock:
            if self._form is None or state != self._state:
                self._form, self._state = inference_form(model), state
            return self._form

"""A loaded model in the form the CPU runs fastest: what :class:`respira.Detector` predicts with.

:func:`inference_form` returns a copy of a model in which every ``Conv2d`` → ``BatchNorm2d`` pair of an
``nn.Sequential`` (EfficientAT's and the small CNN's blocks) is one convolution with the norm folded in,
its weights channels-last (oneDNN's fast kernels), the activation after it in place. The outputs are the
model's to float rounding; the model itself is left as it is (its weights, fingerprint and
``save_pretrained``). What it gives: docs/history/speed.md ("respira screen against respira predict, and
the roofline"). A model with no such pair (AST, BEATs) is returned as it is; training keeps its own form.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from itertools import pairwise

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["InferenceForm", "fold_batch_norms", "foldable_pairs", "inference_form", "runs_on_cpu"]


def foldable_pairs(model: nn.Module) -> Iterator[tuple[nn.Sequential, int]]:
    """``(sequential, i)`` for each ``Conv2d`` at ``sequential[i]`` followed by a ``BatchNorm2d`` with
    running statistics at ``sequential[i + 1]`` (the pairs :func:`fold_batch_norms` folds)."""
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


def _used_once(model: nn.Module) -> set[int]:
    """``id`` of every module that appears once in ``model``'s tree (an activation shared by two
    places cannot compute in place for one of them)."""
    seen: dict[int, int] = {}
    for _, module in model.named_modules(remove_duplicate=False):
        seen[id(module)] = seen.get(id(module), 0) + 1
    return {key for key, count in seen.items() if count == 1}


def fold_batch_norms(model: nn.Module) -> int:
    """Fold, in ``model`` itself (in eval mode), every :func:`foldable_pairs` pair: the convolution
    becomes the fused one (channels-last weights), the norm an ``nn.Identity``, and an activation right
    after it with an ``inplace`` switch (``ReLU``, ``Hardswish``, …) computes in place (it is the only
    reader of the fresh convolution output). Returns the number of pairs folded."""
    model.eval()
    once = _used_once(model)
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
            if hasattr(activation, "inplace") and id(activation) in once:
                activation.inplace = True
        folded += 1
    return folded


def inference_form(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with its batch norms folded (:func:`fold_batch_norms`), in eval mode and
    without gradients; ``model`` itself when it has nothing to fold. The copy shares the model's configs
    (thresholds or labels changed on the model hold for the copy)."""
    if next(iter(foldable_pairs(model)), None) is None:
        return model
    configs = (getattr(module, "config", None) for module in model.modules())
    form = copy.deepcopy(model, memo={id(c): c for c in configs if c is not None})
    form.requires_grad_(False)
    fold_batch_norms(form)
    return form


def _on_cpu(tensors: list[torch.Tensor]) -> bool:
    return all(t.device.type == "cpu" for t in tensors)


def runs_on_cpu(model: object) -> bool:
    """Whether ``model`` computes on the CPU: a torch model whose parameters and buffers are all there,
    or a model that is no ``nn.Module`` (an ONNX export, run by onnxruntime on the CPU)."""
    return not isinstance(model, nn.Module) or _on_cpu([*model.parameters(), *model.buffers()])


class InferenceForm:
    """The :func:`inference_form` of a model, kept in step with it: :meth:`get` builds the form on first
    use and again once the model is another one or a parameter or buffer of it has changed (a site fit
    changes the model in place; ``model.to(...)`` moves them), else returns the one it has. Off the CPU
    (not measured there) and for a model that is no ``nn.Module`` (an ONNX export) it is the model itself."""

    def __init__(self) -> None:
        self._form: nn.Module | None = None
        self._state: tuple | None = None
        self._lock = threading.Lock()

    def get(self, model: object) -> object:
        """The model to run now in place of ``model``."""
        if not isinstance(model, nn.Module):
            return model
        tensors = [*model.parameters(), *model.buffers()]  # once: runs_on_cpu's rule and the signature
        if not _on_cpu(tensors):
            return model
        state = (id(model), *((t.data_ptr(), t._version) for t in tensors))
        with self._lock:
            if self._form is None or state != self._state:
                self._form, self._state = inference_form(model), state
            return self._form

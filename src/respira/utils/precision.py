"""The float32 precision respira predicts at: TF32 off for CUDA's convolutions and matrix products, so a
model on CUDA computes what it computes on the CPU, where the shipped detectors' thresholds were tuned."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager

import torch

# (owner, attribute, full-float32 value) for cuDNN's convolutions and CUDA's matrix products: the
# fp32_precision API torch >= 2.9 recommends, before it the allow_tf32 flags
_SWITCHES: tuple[tuple[object, str, object], ...] = (
    (
        (torch.backends.cudnn.conv, "fp32_precision", "ieee"),
        (torch.backends.cuda.matmul, "fp32_precision", "ieee"),
    )
    if hasattr(torch.backends.cudnn, "conv")
    else ((torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False))
)


class _FullFloat32(AbstractContextManager):
    """TF32 off while any thread is inside: the first in saves torch's switches, the last out restores."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._saved: list[object] = []

    def __enter__(self) -> None:
        with self._lock:
            if not self._inside:
                self._saved = [getattr(owner, name) for owner, name, _ in _SWITCHES]
                for owner, name, value in _SWITCHES:
                    setattr(owner, name, value)
            self._inside += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._inside -= 1
            if not self._inside:
                for (owner, name, _), value in zip(_SWITCHES, self._saved, strict=True):
                    setattr(owner, name, value)


_FULL_FLOAT32 = _FullFloat32()


def full_float32() -> AbstractContextManager[None]:
    """A block whose CUDA convolutions and matrix products compute in full float32 (TF32 off); torch's
    settings before it come back after it, also when blocks nest or run in several threads at once."""
    return _FULL_FLOAT32

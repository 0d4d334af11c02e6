"""Feature modules whose constant tensors (windows, filter banks) are derived from their arguments.

They are non-persistent buffers, which transformers 5 leaves uninitialised after ``from_pretrained``
(meta device); ``reset_buffers`` recomputes them from ``_init_weights``. They stay float32 whatever the
model's dtype (FFTs have no half-precision CPU kernels); the model casts the features to its encoder's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_REDUCED_PRECISION = (torch.float16, torch.bfloat16)


class DerivedBuffers(nn.Module):
    """Base for modules with derived, non-persistent buffers: implement :meth:`derived_buffers`."""

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _full_precision_buffers(self) -> dict[str, torch.Tensor]:
        previous = torch.get_default_dtype()
        if previous in _REDUCED_PRECISION:
            torch.set_default_dtype(torch.float32)
        try:
            return {
                name: value.float() if value.dtype in _REDUCED_PRECISION else value
                for name, value in self.derived_buffers().items()
            }
        finally:
            torch.set_default_dtype(previous)

    def register_derived_buffers(self) -> None:
        for name, value in self._full_precision_buffers().items():
            self.register_buffer(name, value, persistent=False)

    @torch.no_grad()
    def reset_buffers(self) -> None:
        """Recompute every derived buffer in place (on its current device, never in half precision)."""
        for name, value in self._full_precision_buffers().items():
            buffer = getattr(self, name)
            if buffer.device.type == "meta" or buffer.dtype in _REDUCED_PRECISION:
                self.register_buffer(name, value.to(buffer.device), persistent=False)
            else:
                buffer.copy_(value.to(buffer.device, buffer.dtype))

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> DerivedBuffers:
        # model.to(dtype) / .half() / .bfloat16() convert every floating buffer: keep these in their
        # full precision, with their exact values (a round trip through bfloat16 would round them)
        before = {name: b for name, b in self._buffers.items() if b is not None and b.is_floating_point()}
        super()._apply(fn, recurse)
        for name, original in before.items():
            converted = self._buffers[name]
            if converted is not None and converted.dtype in _REDUCED_PRECISION:
                self._buffers[name] = original.to(converted.device)
        return self

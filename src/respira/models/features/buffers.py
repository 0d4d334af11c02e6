"""Feature modules whose constant tensors (windows, filter banks) are derived from their arguments.

They are registered as non-persistent buffers (not saved with the weights). transformers 5 creates
models on the meta device and leaves such buffers uninitialised after ``from_pretrained``, asking
``_init_weights`` to recompute them; ``reset_buffers`` is that hook.
"""

from __future__ import annotations

import torch
from torch import nn


class DerivedBuffers(nn.Module):
    """Base for modules with derived, non-persistent buffers: implement :meth:`derived_buffers`."""

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def register_derived_buffers(self) -> None:
        for name, value in self.derived_buffers().items():
            self.register_buffer(name, value, persistent=False)

    @torch.no_grad()
    def reset_buffers(self) -> None:
        """Recompute every derived buffer in place (on its current device)."""
        for name, value in self.derived_buffers().items():
            buffer = getattr(self, name)
            if buffer.device.type == "meta":
                self.register_buffer(name, value, persistent=False)
            else:
                buffer.copy_(value.to(buffer.device, buffer.dtype))

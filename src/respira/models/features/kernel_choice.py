"""When the feature modules run their hand-written kernel and when their plain torch path.

The kernel runs only for inference on the CPU, where it pays off (docs/history/speed.md); the ONNX export
traces a third path (:mod:`.frame_dft`). The code shipped with a model keeps the plain path alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class FasterPaths:
    """Hooks of a feature module whose features have faster paths than its plain one (``forward_plain``)."""

    def prepare_faster_paths(self) -> None:
        """Build what the faster paths need (plans, submodules); nothing without them."""

    def faster_path_buffers(self) -> dict[str, torch.Tensor]:
        """The faster paths' derived buffers (none without them)."""
        return {}

    def faster_path(
        self, waveforms: torch.Tensor, plain: bool | None
    ) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The path that computes the features of ``waveforms`` (``None``: the plain one)."""
        return None


def kernel_or_export(
    module: torch.nn.Module, waveforms: torch.Tensor, plain: bool | None
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``module``'s ``forward_export`` while ``torch.export`` traces, else its ``_forward_kernel`` unless
    ``plain`` (by default: compiling, off the CPU, or gradients must reach ``waveforms``); ``None``: the
    plain path."""
    export = getattr(module, "forward_export", None)
    # torch.export traces (torch.onnx.export uses it) a convolution/matrix-product formulation
    exporting = torch.compiler.is_exporting() and isinstance(waveforms.shape[-1], int)
    if plain is None and export is not None and exporting:
        return export
    if plain is None:
        plain = (
            torch.compiler.is_compiling()
            or waveforms.device.type != "cpu"
            or (torch.is_grad_enabled() and waveforms.requires_grad)
        )
    return None if plain else module._forward_kernel

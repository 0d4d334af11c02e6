"""When the feature modules run their hand-written kernel and when their plain torch path.

``KaldiFbank``, ``LogMelSpectrogram`` and ``EfficientATMel`` each compute the same features two
ways: a hand-written inference kernel (cache-sized chunks through reused buffers, a banded mel
product) and a plain path (``unfold``/``torch.stft``, ``torch.fft.rfft``, a dense mel product). The
kernel only runs where it was measured to pay off (docs/history/speed.md, "Featurizer" and "EfficientAT
front end": inference on the CPU) and where it can; everywhere else the plain path does.

A third path exists for the ONNX export only (:func:`runs_export_path`): ONNX Runtime runs the
plain path's ``STFT``/``DFT`` nodes several times slower than torch, so the resampler and the
spectrograms are exported as convolutions and matrix products (:mod:`.frame_dft`) that compute the
same values to float rounding (docs/history/speed.md, "onnxruntime vs torch eager").

A module with such paths says so through :class:`FasterPaths`' hooks, each override marked
``@not_shipped``: the code shipped with a model (``trust_remote_code``) keeps the plain path alone, the
reference a reader checks, which gives the same features to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class FasterPaths:
    """Hooks of a feature module whose features have faster paths than its plain one (``forward_plain``).

    A module calls :meth:`prepare_faster_paths` at the end of its ``__init__``, adds
    :meth:`faster_path_buffers` to its derived buffers and computes by :meth:`faster_path` unless it
    answers ``None``; these defaults keep the plain path. A module overrides them with its kernel and its
    export formulation, marking each override ``@not_shipped`` (:mod:`respira.utils.shipping`).
    """

    def prepare_faster_paths(self) -> None:
        """Build what the faster paths need (plans, submodules); nothing without them."""

    def faster_path_buffers(self) -> dict[str, torch.Tensor]:
        """The faster paths' derived buffers (none without them)."""
        return {}

    def faster_path(
        self, waveforms: torch.Tensor, plain: bool | None
    ) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The path that computes the features of ``waveforms`` (``None``: the plain path; ``plain``
        forces it, or forces the kernel with ``False``)."""
        return None


def kernel_or_export(
    module: torch.nn.Module, waveforms: torch.Tensor, plain: bool | None
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The faster path of ``module`` for ``waveforms``, as every feature module with one chooses it: its
    ``forward_export`` while ``torch.export`` traces (when it has one), else its ``_forward_kernel``
    unless ``plain`` (by default, :func:`runs_plain_path`); ``None``: the plain path."""
    export = getattr(module, "forward_export", None)
    if plain is None and export is not None and runs_export_path(waveforms):
        return export
    if plain is None:
        plain = runs_plain_path(waveforms)
    return None if plain else module._forward_kernel


def runs_plain_path(waveforms: torch.Tensor) -> bool:
    """Whether a feature module should run its plain path on ``waveforms``: when gradients must reach
    them (the kernel writes into buffers), when the module is being compiled or exported (the
    kernel's chunk loop and ``out=`` buffers do not trace), and off the CPU (where the kernel was
    never measured to win)."""
    return (
        torch.compiler.is_compiling()
        or waveforms.device.type != "cpu"
        or (torch.is_grad_enabled() and waveforms.requires_grad)
    )


def runs_export_path(waveforms: torch.Tensor | None = None) -> bool:
    """Whether the feature modules are being traced by ``torch.export`` (which ``torch.onnx.export``
    uses): they then trace their convolution/matrix-product formulation, never run eagerly.

    With ``waveforms``, only when their length is static: the framed DFT lays the signal out in rows
    of a fixed width, which ``torch.export`` cannot prove for a symbolic length (a featurizer exported
    alone with a dynamic length keeps the plain path; a whole model's fixed-length policy makes it static).
    """
    if not torch.compiler.is_exporting():
        return False
    return waveforms is None or isinstance(waveforms.shape[-1], int)

"""When the feature modules run their hand-written kernel and when their plain torch path.

``KaldiFbank``, ``LogMelSpectrogram`` and ``EfficientATMel`` each compute the same features two
ways: a hand-written inference kernel (cache-sized chunks through reused buffers, a banded mel
product) and a plain path (``unfold``/``torch.stft``, ``torch.fft.rfft``, a dense mel product). The
kernel only runs where it was measured to pay off (BENCHMARKS.md, "Featurizer" and "EfficientAT
front end": inference on the CPU) and where it can; everywhere else the plain path does.

A third path exists for the ONNX export only (:func:`runs_export_path`): ONNX Runtime runs the
plain path's ``STFT``/``DFT`` nodes several times slower than torch, so the resampler and the
spectrograms are exported as convolutions and matrix products (:mod:`.frame_dft`) that compute the
same values to float rounding (BENCHMARKS.md, "onnxruntime vs torch eager").
"""

from __future__ import annotations

import torch


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

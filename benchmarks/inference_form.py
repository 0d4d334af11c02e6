"""The model's forward pass as loaded against its CPU inference form (:mod:`respira.inference.forward`).

    python benchmarks/inference_form.py [--model DIR] [--threads 2] [--batch 8] [--repeat 7]
                                        [--output inference_form_benchmark.txt]

One batch of ``--batch`` 4-s windows of noise (the detector's window, repeat-padded by the model to its
8-s input) through the whole model (featurizer, encoder, pooling, head), milliseconds per batch, the
median of ``--repeat`` rounds in which every variant runs in turn (a slow spell of a shared machine hits
them all), after two warm-up passes each:

- ``as loaded``: the model as ``from_pretrained`` gives it;
- ``channels-last weights``: only the convolution weights in channels-last layout;
- ``norms folded (NCHW)``: batch norms folded into the convolutions, weights in the default layout;
- ``norms folded + channels-last``: both;
- ``inference form``: :func:`~respira.inference.forward.inference_form`, which also runs the activation
  after each folded convolution in place.

The same for the small CNN family (``respira_cnn``, its default channels, random weights: speed only).
Each variant's largest absolute logit difference from the model as loaded is printed beside it.
Everything printed is also written to ``--output``.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from _machine import cpu_name, load_average


def _variants(model: nn.Module) -> dict[str, nn.Module]:
    from respira.inference.forward import fold_batch_norms, inference_form

    def channels_last(module: nn.Module) -> nn.Module:
        return copy.deepcopy(module).to(memory_format=torch.channels_last)

    def folded(module: nn.Module, layout: bool) -> nn.Module:
        module = copy.deepcopy(module)
        fold_batch_norms(module)
        for sub in module.modules():
            if hasattr(sub, "inplace"):
                sub.inplace = False
            if isinstance(sub, nn.Conv2d) and not layout:
                sub.weight = nn.Parameter(
                    torch.empty_like(sub.weight, memory_format=torch.contiguous_format).copy_(sub.weight),
                    requires_grad=False,
                )
        return module

    return {
        "as loaded": model,
        "channels-last weights": channels_last(model),
        "norms folded (NCHW)": folded(model, layout=False),
        "norms folded + channels-last": folded(model, layout=True),
        "inference form": inference_form(model),
    }


def _time(variants: dict[str, nn.Module], run: Callable[[nn.Module], torch.Tensor], repeat: int) -> list[str]:
    with torch.inference_mode():
        reference = run(variants["as loaded"])
        differences = {name: float((run(m) - reference).abs().max()) for name, m in variants.items()}
        for module in variants.values():
            run(module)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(repeat):
            for name, module in variants.items():
                started = time.perf_counter()
                run(module)
                times[name].append((time.perf_counter() - started) * 1000)
    base = statistics.median(times["as loaded"])
    lines = [f"{'variant':<32} {'ms/batch':>9} {'speed-up':>9} {'max |Δ logit|':>14}"]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"{name:<32} {median:9.1f} {base / median:9.2f} {differences[name]:14.1e}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model folder (default: the shipped detector)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--output", type=Path, default=Path("inference_form_benchmark.txt"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from respira import RespiraConfig, RespiraForAudioClassification
    from respira.hub.loading import load_model
    from respira.pretrained import default_detector_dir

    model, config = load_model(args.model or default_detector_dir(), device="cpu")
    model.eval()
    rate = int(config.sampling_rate)
    waveforms = torch.randn(args.batch, 4 * rate, generator=torch.Generator().manual_seed(0)) * 0.1

    def run(module: nn.Module) -> torch.Tensor:
        return module(input_values=waveforms).logits

    lines = [
        f"# {cpu_name()}, {os.cpu_count()} cores; load average {load_average()} (start); torch "
        f"{torch.__version__}; {args.threads} thread(s); batch of {args.batch} 4-s windows; median of "
        f"{args.repeat} rounds",
        f"# model: {args.model or 'the shipped detector'} ({config.encoder_config.model_type})",
        *_time(_variants(model), run, args.repeat),
    ]
    torch.manual_seed(0)
    cnn = RespiraForAudioClassification(
        RespiraConfig(encoder_config={"model_type": "respira_cnn"}, sampling_rate=rate)
    ).eval()
    lines += [
        "# model: respira_cnn, default channels, random weights",
        *_time(_variants(cnn), run, args.repeat),
    ]
    lines.append(f"# load average {load_average()} (end)")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

"""Featurizer speed: transformers' ASTFeatureExtractor, and respira's hand-written kernels against
their plain torch paths, on a batch of 32 8-s cycles at 16 kHz.

    python benchmarks/featurizer.py [--shared ../shared/icbhi] [--repeats 5] [--threads N]

The batch holds real ICBHI cycles (the first cycle of each recording of ../shared/icbhi, resampled
to 16 kHz with soxr and repeat-padded to 8 s) when the sample is present, otherwise cycles of a
small synthetic corpus. Timed on CPU, in the same run: the baseline ``ASTFeatureExtractor`` (numpy,
one waveform at a time, padded to its 1024 frames), respira's batched ``KaldiFbank`` with AST's
normalisation (798 frames), the same wrapped in the model's ``RespiraFeaturizer`` (on the 8-s
batch, which its fixed-length step passes through, and on the cycles as they come, which it
repeat-pads to 8 s row by row), the BEATs fbank and the CNN's log-mel; and each of the three
feature modules' plain path (``forward_plain``: ``unfold``/``torch.stft``, ``torch.fft.rfft``, a
dense mel product, no buffers or chunks). Each case gets one warm-up call, then ``--repeats``
calls, interleaved round by round across cases so that all of them see the same background load,
each after a 0.2-s pause. A speed-up is the median over rounds of one time divided by another in
the same round (with its quartiles and range), so that a burst of load hitting one round does not
decide it: first each case against the baseline, then each kernel against its plain path. Issue 9's
rule: a kernel stays only if it beats its plain path by at least 1.5×. Also printed: the largest
absolute difference between the AST fbank and ASTFeatureExtractor over the 798 frames both
compute, and between each kernel and its plain path (in all cells, and in the cells within 40 dB
of their frame's loudest band: far below that, both hold float32 rounding noise, which a log
magnifies).

On a shared machine, torch's default of one thread per core can stall at every parallel region
while other processes hold a core; compare with ``--threads 1`` and check the printed load average.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
from transformers import ASTConfig, ASTFeatureExtractor

from _machine import cpu_name
from respira.models import RespiraConfig
from respira.models.respira.featurizer import RespiraFeaturizer, fit_to_length
from respira.models.respira.filterbanks import (
    AST_NORMALIZATION,
    BEATS_NORMALIZATION,
    KaldiFbank,
    LogMelSpectrogram,
)

RATE = 16000
SECONDS = 8
BATCH = 32
SETTLE_SECONDS = 0.2
KEEP_KERNEL_AT = 1.5  # issue 9: a hand-written kernel must beat the plain path by this factor


def read_cycles(database: Path, per_recording: int, count: int) -> list[np.ndarray]:
    """Up to ``per_recording`` cycles of each recording (sorted by name), mono at 16 kHz."""
    cycles: list[np.ndarray] = []
    for wav in sorted(database.glob("*.wav")):
        samples, rate = sf.read(wav, dtype="float32", always_2d=True)
        samples = samples.mean(axis=1)
        annotations = np.atleast_2d(np.loadtxt(wav.with_suffix(".txt")))
        for start, end, *_flags in annotations[:per_recording]:
            cycle = samples[int(start * rate) : int(end * rate)]
            if cycle.size:
                cycles.append(soxr.resample(cycle, rate, RATE, quality="HQ").astype(np.float32))
        if len(cycles) >= count:
            break
    return cycles[:count]


def cycle_batch(shared: Path) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, str]:
    """``[32, 128000]`` float32 cycles (repeat-padded or cropped to 8 s), the same cycles as they come
    (zero-padded to the longest, and their lengths), and where they came from."""
    if (shared / "ICBHI_final_database").is_dir():
        cycles = read_cycles(shared / "ICBHI_final_database", 1, BATCH)
        source = f"real ICBHI cycles ({shared})"
    else:
        from respira.synthetic import make_synthetic_icbhi

        with tempfile.TemporaryDirectory() as folder:
            corpus = make_synthetic_icbhi(Path(folder) / "icbhi", n_patients=12, seed=0)
            cycles = read_cycles(corpus / "ICBHI_final_database", 2, BATCH)
        source = f"synthetic corpus cycles ({shared} not found)"
    while len(cycles) < BATCH:  # a small sample: reuse cycles
        cycles.append(cycles[len(cycles) % max(len(cycles), 1)])
    target = SECONDS * RATE
    padded = torch.zeros(BATCH, max(target, *(c.size for c in cycles)))
    for row, cycle in zip(padded, cycles, strict=True):
        row[: cycle.size] = torch.from_numpy(cycle)
    lengths = torch.tensor([c.size for c in cycles])
    batch, _ = fit_to_length(padded, lengths, target, pad_mode="repeat", fade=round(0.01 * RATE))
    return batch.numpy(), padded[:, : int(lengths.max())].contiguous(), lengths, source


def timed_rounds(functions: list[Callable[[], object]], repeats: int) -> list[list[float]]:
    """Seconds of each call of each function, ``repeats`` rounds. Rounds are interleaved (every
    function once per round) so that all of them see the same background load on a shared machine,
    and each call starts after a short pause (the BLAS threads of the previous call keep spinning on
    the cores for a while, which made whichever case came right after the numpy baseline up to 3×
    slower)."""
    for function in functions:
        function()  # warm-up
    timings: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for function, times in zip(functions, timings, strict=True):
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            function()
            times.append(time.perf_counter() - started)
    return timings


def ratio_summary(numerators: list[float], denominators: list[float]) -> tuple[float, str]:
    """Median over rounds of ``numerator / denominator`` and "quartiles (min–max)"."""
    ratios = [top / bottom for top, bottom in zip(numerators, denominators, strict=True)]
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    spread = f"{quartiles[0]:.1f}–{quartiles[2]:.1f} ({min(ratios):.1f}–{max(ratios):.1f})"
    return statistics.median(ratios), spread


def loud_difference(kernel: torch.Tensor, plain: torch.Tensor, log_units: float) -> float:
    """Largest difference in cells within 40 dB of their frame's loudest band (features in units
    of ``log_units`` natural-log units: ``2·std`` for normalised fbanks)."""
    loud = kernel >= kernel.amax(dim=-1, keepdim=True) - 4 * math.log(10) / log_units
    return (kernel - plain).abs()[loud].max().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_shared = Path(__file__).resolve().parents[2] / "shared" / "icbhi"
    parser.add_argument("--shared", type=Path, default=default_shared, help="real ICBHI sample folder")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")

    waveforms, raw_cycles, raw_lengths, source = cycle_batch(args.shared)
    as_list = list(waveforms)
    extractor = ASTFeatureExtractor()
    ast_fbank = KaldiFbank(window="hanning", normalization=AST_NORMALIZATION)
    beats_fbank = KaldiFbank(window="povey", normalization=BEATS_NORMALIZATION)
    log_mel = LogMelSpectrogram()
    ast_config = RespiraConfig(encoder_config=ASTConfig().to_dict(), target_seconds=SECONDS)
    featurizer = RespiraFeaturizer(ast_config).eval()
    full_lengths = torch.full((BATCH,), waveforms.shape[1])

    def baseline() -> torch.Tensor:
        return extractor(as_list, sampling_rate=RATE, return_tensors="pt")["input_values"]

    def ours(transform: torch.nn.Module, plain: bool = False) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.inference_mode():
                return transform(torch.from_numpy(waveforms), plain=plain)

        return run

    def respira_featurizer() -> torch.Tensor:
        with torch.inference_mode():
            return featurizer(torch.from_numpy(waveforms), full_lengths)[0]

    def respira_featurizer_raw() -> torch.Tensor:
        with torch.inference_mode():
            return featurizer(raw_cycles, raw_lengths)[0]

    cases = [
        ("transformers ASTFeatureExtractor (baseline)", baseline),
        ("KaldiFbank, AST normalisation", ours(ast_fbank)),
        ("RespiraFeaturizer ast_fbank, batch already 8 s", respira_featurizer),
        ("RespiraFeaturizer ast_fbank, raw cycles (repeat-pad to 8 s + fbank)", respira_featurizer_raw),
        ("KaldiFbank, BEATs normalisation", ours(beats_fbank)),
        ("LogMelSpectrogram (CNN, 64 mel)", ours(log_mel)),
        ("KaldiFbank, AST normalisation, plain path", ours(ast_fbank, plain=True)),
        ("KaldiFbank, BEATs normalisation, plain path", ours(beats_fbank, plain=True)),
        ("LogMelSpectrogram (CNN, 64 mel), plain path", ours(log_mel, plain=True)),
    ]
    kernels = [  # (kernel case, plain case) indices into cases
        (1, 6),
        (4, 7),
        (5, 8),
    ]
    reference = baseline().numpy()
    cpu = cpu_name()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()}"
        " threads"
    )
    print(f"load average before timing (1/5/15 min): {load}")
    print(
        f"batch: {BATCH} × {SECONDS} s at {RATE} Hz, {source}; "
        f"{args.repeats} interleaved rounds after a warm-up\n"
    )
    print(
        "| featurizer | output | median seconds | × vs baseline (median of rounds) | quartiles (min–max) "
        "| max abs diff vs ASTFeatureExtractor |"
    )
    print("|---|---|---:|---:|---:|---:|")
    timings = timed_rounds([function for _name, function in cases], args.repeats)
    outputs = [function() for _name, function in cases]
    for (name, _function), times, output in zip(cases, timings, outputs, strict=True):
        speed_up, spread = ratio_summary(timings[0], times)
        difference = "–"
        if name.startswith(("KaldiFbank, AST", "RespiraFeaturizer")):
            frames = output.shape[1]
            difference = f"{np.abs(output.numpy() - reference[:, :frames]).max():.1e}"
        shape = "×".join(str(s) for s in output.shape)
        print(
            f"| {name} | {shape} | {statistics.median(times):.3f} | {speed_up:.1f} | {spread} "
            f"| {difference} |"
        )
    print(f"\nhand-written kernel vs plain path (keep the kernel at ≥ {KEEP_KERNEL_AT}×):\n")
    print(
        "| featurizer | kernel median s | plain median s | plain / kernel (median of rounds) "
        "| quartiles (min–max) | max abs diff: all cells, within 40 dB | decision |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for (kernel, plain), module in zip(kernels, (ast_fbank, beats_fbank, log_mel), strict=True):
        speed_up, spread = ratio_summary(timings[plain], timings[kernel])
        difference = (outputs[kernel] - outputs[plain]).abs().max().item()
        normalization = getattr(module, "normalization", None)
        log_units = 1.0 if normalization is None else 2 * normalization.std
        loud = loud_difference(outputs[kernel], outputs[plain], log_units)
        decision = "keep kernel" if speed_up >= KEEP_KERNEL_AT else "use plain"
        print(
            f"| {cases[kernel][0]} | {statistics.median(timings[kernel]):.3f} "
            f"| {statistics.median(timings[plain]):.3f} | {speed_up:.2f} | {spread} "
            f"| {difference:.1e}, {loud:.1e} | {decision} |"
        )


if __name__ == "__main__":
    main()

"""EfficientAT's front end against the whole forward pass, on CPU: the old 16 kHz upsampler, the new one,
and the native 32 kHz rate.

    python benchmarks/efficientat_frontend.py [--rounds 7] [--batch 32] [--seconds 8] [--threads N]

A batch of ``--batch`` real ICBHI cycles (the first cycle of each recording of ../shared/icbhi, cut
from the original recording and resampled by soxr to 16 kHz and to 32 kHz, repeat-padded to
``--seconds``; synthetic cycles without ../shared) goes through three ``RespiraForAudioClassification``
models with the same EfficientAT mn04 encoder (its AudioSet weights from ../shared/reference when
present; random otherwise, which does not change the speed):

- **old, 16 kHz**: the featurizer respira had before: a zero-stuffed dense ``conv1d`` upsampler
  16 → 32 kHz (a 129-tap Kaiser-windowed sinc, reproduced below as the baseline) and the mel's
  plain path as it was (``view_as_real(spectrum).pow(2).sum(-1)``, a dense mel product);
- **new, 16 kHz**: the FFT (overlap-save) resampler and the mel's CPU inference kernel;
- **native, 32 kHz**: the model takes 32 kHz audio, so the featurizer does not resample at all.

Each round times, for each model, its featurizer (``model.respira.featurizer``: fixed length,
resampling, log-mel) and the whole forward pass (``model(waveforms)``: the same featurizer, then the
encoder, pooling and head), each after a 0.2-s pause, in inference mode; and the mel alone on the
32 kHz batch through its kernel and through its plain path (the rule of BENCHMARKS.md, "Featurizer":
a hand-written kernel stays only if it beats its plain path by 1.5× or more). A share or speed-up is
the median over rounds of the ratio of two times taken in the same round.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
import transformers
from torch import nn

from _machine import cpu_name, load_average
from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.efficientat import EfficientATConfig, EfficientATMel
from respira.models.features.buffers import DerivedBuffers
from respira.models.respira.featurizer import fit_to_length

SETTLE_SECONDS = 0.2
KEEP_KERNEL_AT = 1.5
TARGET_SHARE = 0.15  # issue 12: the front end at most 15 % of the forward pass


class ZeroStuffedResample(DerivedBuffers):
    """The upsampler respira used before (the baseline): zeros between the samples, then a dense
    ``conv1d`` with a 129-tap Kaiser-windowed sinc (cut-off 0.95 × the old Nyquist, gain ``up``)."""

    def __init__(self, orig_rate: int, new_rate: int, half_width: int = 32, beta: float = 8.6) -> None:
        super().__init__()
        divisor = math.gcd(orig_rate, new_rate)
        self.up, self.down = new_rate // divisor, orig_rate // divisor
        self.half_width, self.beta = half_width, beta
        self.register_derived_buffers()

    def derived_buffers(self) -> dict[str, torch.Tensor]:
        cutoff = 0.5 / max(self.up, self.down) * 0.95
        taps = 2 * self.half_width * max(self.up, self.down) + 1
        t = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
        window = torch.kaiser_window(taps, periodic=False, beta=self.beta, dtype=torch.float64)
        return {"kernel": (2 * cutoff * torch.sinc(2 * cutoff * t) * window * self.up).float()}

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        batch, length = waveforms.shape
        stuffed = waveforms.new_zeros(batch, length * self.up)
        stuffed[:, :: self.up] = waveforms
        taps = self.kernel.shape[0]
        kernel = self.kernel.flip(0).view(1, 1, -1).to(waveforms.dtype)
        filtered = nn.functional.conv1d(stuffed.unsqueeze(1), kernel, padding=taps // 2).squeeze(1)
        return filtered[:, :: self.down][:, : -(-length * self.up // self.down)]


class LegacyEfficientATMel(EfficientATMel):
    """The mel as respira computed it before (the baseline): ``torch.stft``, the power through
    ``view_as_real(...).pow(2).sum(-1)`` on the transposed spectrum, a dense mel product."""

    def forward(self, waveform: torch.Tensor, *, plain: bool | None = None) -> torch.Tensor:
        x = waveform.to(torch.float32)
        x = x[:, 1:] - self.preemphasis * x[:, :-1]
        spec = torch.stft(
            x,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        power = torch.view_as_real(spec).pow(2).sum(dim=-1)
        mel = torch.log(torch.matmul(self.mel_banks, power) + self.log_offset)
        return (mel + self.mel_shift) / self.mel_scale


def read_cycles(database: Path, rate: int, count: int) -> list[np.ndarray]:
    """The first cycle of each recording (sorted by name), mono, resampled by soxr to ``rate``."""
    cycles = []
    for wav in sorted(database.glob("*.wav"))[:count]:
        samples, original = sf.read(wav, dtype="float32", always_2d=True)
        start, end = np.atleast_2d(np.loadtxt(wav.with_suffix(".txt")))[0, :2]
        cycle = samples.mean(axis=1)[int(start * original) : int(end * original)]
        cycles.append(soxr.resample(cycle, original, rate, quality="HQ").astype(np.float32))
    return cycles


def batch_at(database: Path, rate: int, count: int, seconds: float) -> torch.Tensor:
    """``[count, seconds · rate]``: the cycles repeat-padded (or cropped) to ``seconds``."""
    cycles = read_cycles(database, rate, count)
    while len(cycles) < count:  # a small sample: reuse cycles
        cycles.append(cycles[len(cycles) % len(cycles)])
    target = round(seconds * rate)
    padded = torch.zeros(count, max(target, *(c.size for c in cycles)))
    for row, cycle in zip(padded, cycles, strict=True):
        row[: cycle.size] = torch.from_numpy(cycle)
    lengths = torch.tensor([c.size for c in cycles])
    batch, _ = fit_to_length(padded, lengths, target, pad_mode="repeat", fade=round(0.01 * rate))
    return batch.contiguous()


def cycle_source(shared: Path, work: Path) -> tuple[Path, str]:
    database = shared / "ICBHI_final_database"
    if database.is_dir():
        return database, f"real ICBHI cycles ({shared})"
    from respira.synthetic import make_synthetic_icbhi

    corpus = make_synthetic_icbhi(work / "icbhi", n_patients=12, seed=0)
    return corpus / "ICBHI_final_database", f"synthetic corpus cycles ({shared} not found)"


def build_models(reference: Path, seconds: float, work: Path) -> tuple[dict[str, nn.Module], str]:
    """The three models (same encoder weights) and where the weights came from."""
    checkpoint = reference / "efficientat_mn04_as_mAP_432.pt"
    options = {"target_seconds": seconds, "projector_dim": None}
    if checkpoint.is_file():
        from respira.models.efficientat import convert_efficientat_checkpoint

        folder = convert_efficientat_checkpoint(checkpoint, work / "mn04")
        make = lambda rate: RespiraForAudioClassification.from_encoder_pretrained(  # noqa: E731
            folder, sampling_rate=rate, **options
        )
        weights = "EfficientAT mn04, AudioSet weights"
    else:
        encoder = EfficientATConfig().to_dict()
        make = lambda rate: RespiraForAudioClassification(  # noqa: E731
            RespiraConfig(encoder_config=encoder, sampling_rate=rate, **options)
        )
        weights = "EfficientAT mn04, random weights (../shared/reference not found)"
    torch.manual_seed(0)
    old, new, native = make(16000), make(16000), make(32000)
    new.load_state_dict(old.state_dict())
    native.load_state_dict(old.state_dict())
    old.respira.featurizer.resample = ZeroStuffedResample(16000, 32000)
    old.respira.featurizer.transform = LegacyEfficientATMel()
    return {"old, 16 kHz": old.eval(), "new, 16 kHz": new.eval(), "native, 32 kHz": native.eval()}, weights


def timed_rounds(functions: list[Callable[[], object]], rounds: int) -> list[list[float]]:
    """Seconds of each call, ``rounds`` interleaved rounds after one warm-up call each."""
    for function in functions:
        function()
    timings: list[list[float]] = [[] for _ in functions]
    for _ in range(rounds):
        for function, times in zip(functions, timings, strict=True):
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            function()
            times.append(time.perf_counter() - started)
    return timings


def ratio(top: list[float], bottom: list[float]) -> tuple[float, float, float]:
    """Median, min and max over rounds of ``top / bottom``."""
    values = [a / b for a, b in zip(top, bottom, strict=True)]
    return statistics.median(values), min(values), max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    root = Path(__file__).resolve().parents[2] / "shared"
    parser.add_argument("--shared", type=Path, default=root / "icbhi", help="real ICBHI sample folder")
    parser.add_argument("--reference", type=Path, default=root / "reference", help="EfficientAT weights")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()  # no load report for the classifier head left out

    with tempfile.TemporaryDirectory() as folder:
        database, source = cycle_source(args.shared, Path(folder))
        waves = {rate: batch_at(database, rate, args.batch, args.seconds) for rate in (16000, 32000)}
        models, weights = build_models(args.reference, args.seconds, Path(folder))
    inputs = {"old, 16 kHz": waves[16000], "new, 16 kHz": waves[16000], "native, 32 kHz": waves[32000]}
    mel = EfficientATMel()

    def featurizer(name: str) -> Callable[[], object]:
        def run() -> torch.Tensor:
            with torch.inference_mode():
                return models[name].respira.featurizer(inputs[name])[0]

        return run

    def forward(name: str) -> Callable[[], object]:
        def run() -> torch.Tensor:
            with torch.inference_mode():
                return models[name](inputs[name]).logits

        return run

    def mel_path(plain: bool) -> Callable[[], object]:
        def run() -> torch.Tensor:
            with torch.inference_mode():
                return mel(waves[32000], plain=plain)

        return run

    cases: list[tuple[str, Callable[[], object]]] = []
    for name in models:
        cases += [(f"{name}: featurizer", featurizer(name)), (f"{name}: forward", forward(name))]
    cases += [("mel kernel, 32 kHz", mel_path(False)), ("mel plain path, 32 kHz", mel_path(True))]

    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"load average before (1/5/15 min): {load_average()}")
    print(
        f"batch: {args.batch} × {args.seconds:g} s, {source}; {weights}; {args.rounds} interleaved rounds\n"
    )
    timings = dict(
        zip([name for name, _ in cases], timed_rounds([f for _, f in cases], args.rounds), strict=True)
    )
    print(f"load average after (1/5/15 min): {load_average()}\n")

    print(
        "| setup | featurizer s (median) | forward s (median) | featurizer / forward (median; range) "
        "| forward: old / this (median; range) |"
    )
    print("|---|---:|---:|---:|---:|")
    old_forward = timings["old, 16 kHz: forward"]
    for name in models:
        feature_times, forward_times = timings[f"{name}: featurizer"], timings[f"{name}: forward"]
        share, low, high = ratio(feature_times, forward_times)
        speed, slow, fast = ratio(old_forward, forward_times)
        print(
            f"| {name} | {statistics.median(feature_times):.3f} | {statistics.median(forward_times):.3f} "
            f"| **{share:.1%}** ({low:.1%}–{high:.1%}) | {speed:.2f}× ({slow:.2f}–{fast:.2f}) |"
        )
    speed, slow, fast = ratio(timings["mel plain path, 32 kHz"], timings["mel kernel, 32 kHz"])
    decision = "keep the kernel" if speed >= KEEP_KERNEL_AT else "use the plain path"
    print(
        f"\nmel on the 32 kHz batch: kernel {statistics.median(timings['mel kernel, 32 kHz']):.3f} s, "
        f"plain path {statistics.median(timings['mel plain path, 32 kHz']):.3f} s; plain / kernel "
        f"{speed:.2f}× ({slow:.2f}–{fast:.2f}): {decision} (rule: ≥ {KEEP_KERNEL_AT}×)"
    )
    with torch.inference_mode():
        features = {name: models[name].respira.featurizer(inputs[name])[0] for name in models}
    for name in ("new, 16 kHz", "native, 32 kHz"):
        difference = (features[name] - features["old, 16 kHz"]).abs()
        print(
            f"features of {name} vs old: max abs diff {difference.max():.3g}, "
            f"median {difference.median():.3g} (log-mel / 5 units)"
        )
    print(f"target: featurizer ≤ {TARGET_SHARE:.0%} of the forward pass")


if __name__ == "__main__":
    main()

"""onnxruntime vs torch eager on the CPU: cycles per second of an exported respira model, same run.

    python benchmarks/onnx_runtime.py [--shared ../shared] [--repeats 7] [--batch 16] [--threads N]

Two models: the contrastive-embedding paper's CNN (random weights, 5.12 s input) and EfficientAT
mn04 with its real AudioSet weights (../shared/reference/efficientat_mn04_as_mAP_432.pt, 5.12 s
input; skipped when absent). Each is exported with :func:`respira.hub.onnx.export_onnx` (checked
against torch to 1e-4 on the way) and both runtimes classify the same batch of real ICBHI cycles (the
first cycle of each recording in ../shared/icbhi, 16 kHz, cut or repeated to 4 s, the default
``respira predict`` window; synthetic cycles when the sample is absent): raw waveforms in,
probabilities out, featurizer included. torch runs ``WaveformsToProbabilities`` (what was exported) under
``torch.inference_mode``; onnxruntime runs ``model.onnx`` with the same number of threads.

Rounds are interleaved (torch, then onnxruntime, each after a 0.2-s pause) so both see the same
background load; the ratio is the median over rounds of torch's time / onnxruntime's time in the
same round, with its range. The largest difference between the two outputs is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
import transformers

from _machine import cpu_name, load_average
from respira import RespiraConfig, RespiraForAudioClassification
from respira.data.text_files import read_annotations
from respira.hub.onnx import INPUT_NAME, WaveformsToProbabilities, export_onnx
from respira.models.respira.audio_decoding import read_audio

WINDOW_SECONDS = 4.0
SETTLE_SECONDS = 0.2


def cycle_database(shared: Path) -> tuple[Path, str]:
    """The ICBHI recordings the windows come from (a synthetic corpus without ``shared``) and their name."""
    database = shared / "icbhi" / "ICBHI_final_database"
    if database.is_dir():
        return database, f"real ICBHI cycles ({database})"
    from respira.synthetic import make_synthetic_icbhi

    synthetic = make_synthetic_icbhi(Path(tempfile.mkdtemp()) / "icbhi", n_patients=12, seed=0)
    return synthetic / "ICBHI_final_database", "synthetic corpus cycles"


def real_windows(database: Path, count: int, rate: int) -> np.ndarray:
    """``[count, 4 s]`` windows at ``rate``: the first cycles of ``database``'s recordings (tiled when
    short)."""
    target = round(WINDOW_SECONDS * rate)
    windows = []
    for wav in sorted(database.glob("*.wav"))[:count]:
        first = read_annotations(wav.with_suffix(".txt"))[0]
        audio = read_audio(wav, rate)
        cycle = audio[round(first.start * rate) : round(first.end * rate)]
        windows.append(np.resize(cycle, target))  # tiled or cut to the window
    while len(windows) < count:
        windows.append(windows[len(windows) % len(windows)])
    return np.stack(windows).astype(np.float32)


def models(shared: Path, folder: Path) -> list[tuple[str, RespiraForAudioClassification]]:
    torch.manual_seed(0)
    cnn = RespiraForAudioClassification(RespiraConfig(target_seconds=5.12)).eval()
    found = [("CNN (contrastive-embedding paper), 5.12 s", cnn)]
    checkpoint = shared / "reference" / "efficientat_mn04_as_mAP_432.pt"
    if checkpoint.is_file():
        from respira.models.convert_efficientat import convert_efficientat_checkpoint

        converted = convert_efficientat_checkpoint(checkpoint, folder / "mn04")
        efficientat = RespiraForAudioClassification.from_encoder_pretrained(converted, target_seconds=5.12)
        found.append(("EfficientAT mn04 (AudioSet weights), 5.12 s", efficientat.eval()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--threads",
        default=f"1,{torch.get_num_threads()}",
        help="intra-op thread counts to compare, comma-separated (each runs torch and onnxruntime alike)",
    )
    args = parser.parse_args()
    thread_counts = [int(value) for value in args.threads.split(",")]
    transformers.logging.set_verbosity_error()  # no load report for the converted EfficientAT's unused head
    database, source = cycle_database(args.shared)
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}, onnxruntime "
        f"{onnxruntime.__version__}"
    )
    print(f"load average before timing (1/5/15 min): {load_average()}")
    print(
        f"batch: {args.batch} × {WINDOW_SECONDS:g} s at each model's sampling rate, {source}; "
        f"{args.repeats} interleaved rounds after a warm-up\n"
    )
    columns = ("threads", "model", "torch eager cycles/s", "onnxruntime cycles/s", "× (median, min–max)")
    print("| " + " | ".join(columns) + " | max abs diff |")
    print("|---:|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name, model in models(args.shared, Path(folder)):
            waveforms = real_windows(database, args.batch, model.config.sampling_rate)
            wrapper = WaveformsToProbabilities(model).eval()
            path = export_onnx(model, Path(folder) / "model.onnx")
            batch = torch.from_numpy(waveforms)
            for threads in thread_counts:
                torch.set_num_threads(threads)
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

                def run_torch(wrapper=wrapper, batch=batch) -> np.ndarray:
                    with torch.inference_mode():
                        return wrapper(batch)[0].numpy()  # probabilities (then present, label)

                def run_onnx(session=session, waveforms=waveforms) -> np.ndarray:
                    return session.run(None, {INPUT_NAME: waveforms})[0]  # all three outputs, as torch

                difference = float(np.abs(run_torch() - run_onnx()).max())  # also the warm-up
                torch_times, onnx_times = [], []
                for _ in range(args.repeats):
                    for function, times in ((run_torch, torch_times), (run_onnx, onnx_times)):
                        time.sleep(SETTLE_SECONDS)
                        started = time.perf_counter()
                        function()
                        times.append(time.perf_counter() - started)
                ratios = [t / o for t, o in zip(torch_times, onnx_times, strict=True)]
                print(
                    f"| {threads} | {name} | {args.batch / statistics.median(torch_times):.1f} "
                    f"| {args.batch / statistics.median(onnx_times):.1f} | {statistics.median(ratios):.2f} "
                    f"({min(ratios):.2f}–{max(ratios):.2f}) | {difference:.1e} |"
                )
    print(f"load average after timing (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    main()

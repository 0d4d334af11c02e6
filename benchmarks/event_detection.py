"""Event detection speed and memory: frame posteriors vs sliding windows, same model, same recording.

    python benchmarks/event_detection.py [--shared ../shared] [--minutes 10 120] [--threads N]

The model is the flagship's: EfficientAT mn04 with its real AudioSet weights
(../shared/reference/efficientat_mn04_as_mAP_432.pt), 32 kHz, 4 kHz low-pass, 8-s input, mean pooling,
a multi-label head (random: speed does not depend on its weights). The recording is real audio: the
SPRSound (else ICBHI) recordings of ../shared joined end to end and repeated to each length of
``--minutes``, written as a 16-bit WAV at their own rate (8 kHz).

Three ways to find where crackles and wheezes are, each timed on the same file in the same run, decoding
and resampling to 32 kHz included:

- ``frames (file streamed)``: :func:`respira.inference.frames.predict_frames` of a path, then its events
  (``respira predict --events``, ``Detector.detect_events``: the file read block by block, low-passed
  span by span, 8-s chunks every 6 s, the head on each encoder time step, 0.02-s grid, events);
- ``windows 4 s / 1 s``: :func:`respira.inference.windowing.predict_windows` on the decoded recording, 4-s
windows
  every 1 s (the baseline of the event study: window label → event);
- ``windows 4 s / 2 s``: the same every 2 s (``respira predict``'s default).

Each way and length runs in a fresh process (model loaded, a warm-up on 10 s, then the timed call).
Printed: seconds, real-time factor (audio seconds per second of compute), the ratio against
``windows 4 s / 1 s``, the process's peak resident memory (``ru_maxrss``: model, libraries and, for the
windows, the decoded recording: 128 kB per second at 32 kHz float32, plus the whole-recording low-pass in
float64) and how many events / windows came out.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from _machine import cpu_name, load_average

RATE = 32_000
LOWPASS = 4000.0


def flagship(shared: Path, folder: Path):
    from respira import RespiraForAudioClassification
    from respira.models.convert_efficientat import convert_efficientat_checkpoint

    converted = convert_efficientat_checkpoint(
        shared / "reference" / "efficientat_mn04_as_mAP_432.pt", folder / "mn04"
    )
    torch.manual_seed(0)
    return RespiraForAudioClassification.from_encoder_pretrained(
        converted,
        sampling_rate=RATE,
        target_seconds=8.0,
        pooling="mean",
        lowpass_cutoff=LOWPASS,
        freeze_encoder=True,
        problem_type="multi_label_classification",
    ).eval()


def write_recording(shared: Path, minutes: float, folder: Path) -> tuple[Path, str]:
    """``minutes`` of real recordings joined end to end (repeated as needed) as a 16-bit WAV at their own
    rate (SPRSound: 8 kHz; else ICBHI resampled to 16 kHz)."""
    import soundfile as sf

    from respira.models.respira.audio_decoding import read_audio

    sprsound = sorted((shared / "sprsound").glob("**/*.wav"))
    files, rate = (sprsound, 8000) if sprsound else (sorted((shared / "icbhi").glob("**/*.wav")), 16000)
    if not files:
        raise SystemExit(f"no recordings under {shared}")
    pieces, total = [], 0
    for path in files:
        pieces.append(read_audio(path, rate))
        total += pieces[-1].size
        if total >= minutes * 60 * rate:
            break
    signal = np.resize(np.concatenate(pieces), round(minutes * 60 * rate))
    path = folder / f"recording_{minutes:g}min.wav"
    sf.write(path, signal, rate, subtype="PCM_16")
    return path, f"{len(pieces)} real {'SPRSound' if sprsound else 'ICBHI'} recordings at {rate} Hz"


WAYS = ("frames (file streamed)", "windows 4 s / 1 s", "windows 4 s / 2 s")


def one_way(shared: Path, path: Path, threads: int, way: str) -> dict:
    """Time one way on the recording at ``path`` in this process, decoding included (after a warm-up on
    its first 10 s); the process's peak memory."""
    from respira.inference.frames import detection_of_frames, predict_frames
    from respira.inference.windowing import predict_windows
    from respira.models.respira.audio_decoding import read_audio, stream_audio

    torch.set_num_threads(threads)
    model = flagship(shared, Path(tempfile.mkdtemp()))
    warm = next(stream_audio(path, RATE))[: 10 * RATE].copy()  # the first block: not the whole file
    hop = 1.0 if "1 s" in way else 2.0

    def detect_events(source: object) -> object:
        return detection_of_frames(model, predict_frames(model, source))

    def run() -> int:
        if way.startswith("frames"):
            return len(detect_events(path).events)
        return len(predict_windows(model, read_audio(path, RATE), window=4.0, hop=hop, max_windows=None))

    if way.startswith("frames"):
        detect_events(warm)
    else:
        predict_windows(model, warm, window=4.0, hop=hop, max_windows=None)
    del warm
    start = time.perf_counter()
    count = run()
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB → MB
    return {"seconds": took, "peak_mb": peak, "count": count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 120.0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # a child process: path, way
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_way(args.shared, Path(args.one[0]), args.threads, args.one[1])))
        return
    print(f"machine: {cpu_name()}, {args.threads} torch threads, load average {load_average()}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    print(f"command: python benchmarks/{Path(__file__).name} --minutes {' '.join(map(str, args.minutes))}\n")
    command = [sys.executable, __file__, "--shared", str(args.shared), "--threads", str(args.threads)]
    results, source = {}, ""
    with tempfile.TemporaryDirectory() as folder:
        for minutes in args.minutes:
            path, source = write_recording(args.shared, minutes, Path(folder))
            for way in WAYS:
                done = subprocess.run(
                    [*command, "--one", str(path), way], capture_output=True, text=True, check=True
                )
                results[minutes, way] = json.loads(done.stdout.strip().splitlines()[-1])
            path.unlink()
    print(f"audio: {source}, joined and repeated to each length, read from a 16-bit WAV\n")
    print(
        "| audio | way | seconds | × real time | speed vs windows 4 s / 1 s | peak memory (process) "
        "| events / windows |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for (minutes, way), row in results.items():
        baseline = results[minutes, "windows 4 s / 1 s"]["seconds"]
        print(
            f"| {minutes:g} min | {way} | {row['seconds']:.1f} | {minutes * 60 / row['seconds']:.0f} | "
            f"{baseline / row['seconds']:.2f}× | {row['peak_mb']:.0f} MB | {row['count']} |"
        )


if __name__ == "__main__":
    main()

"""``respira app``: time from upload to result for a 30-s recording, and the app's memory over 20 uploads.

The detector is EfficientAT mn04 with its real AudioSet weights
(../shared/reference/efficientat_mn04_as_mAP_432.pt; a random head, multi-label, 5.12 s windows every
2.56 s, the page's defaults), the recording 30 s of real ICBHI audio (a real recording repeated to
30 s; synthetic when ../shared is absent). "Upload → result" is the page's handler (decode, checks,
windows through the model, verdict, figure, PNG/CSV/JSON written): what the server does between the
browser's upload and its result. Baseline in the same run: ``predict_windows`` alone (what ``respira
predict`` computes). Memory: the process's resident set after 2 warm-up uploads and after 20 more.
Times are wall clock and the process's CPU time (less sensitive to other jobs on a shared machine).
The page is built with ``build_page`` (as ``respira app`` builds it), so the script also measures an
older source tree: ``PYTHONPATH=OLD/src python benchmarks/app_latency.py`` (before / after).

    python benchmarks/app_latency.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from _machine import cpu_name, load_average
from respira import RespiraForAudioClassification
from respira.app import page
from respira.app.detectors import open_detector
from respira.audio import read_audio
from respira.inference.engine import predict_windows
from respira.labels import MULTI_LABEL

SHARED = Path(os.environ.get("RESPIRA_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
SECONDS = 30.0


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def recording(folder: Path) -> tuple[Path, str]:
    database = SHARED / "icbhi" / "ICBHI_final_database"
    wavs = sorted(database.glob("*.wav"))
    if wavs:
        source, name = read_audio(wavs[0], 16000), f"real ICBHI {wavs[0].name}"
    else:
        source, name = np.random.default_rng(0).normal(0, 0.1, 16000 * 10).astype(np.float32), "noise"
    samples = np.resize(source, int(SECONDS * 16000))
    path = folder / "recording_30s.wav"
    sf.write(path, samples, 16000)
    return path, name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        from respira.models.efficientat import convert_efficientat_checkpoint

        converted = convert_efficientat_checkpoint(
            SHARED / "reference" / "efficientat_mn04_as_mAP_432.pt", folder / "mn04"
        )
        torch.manual_seed(0)
        model = RespiraForAudioClassification.from_encoder_pretrained(
            converted, target_seconds=5.12, problem_type=MULTI_LABEL
        )
        model.save_pretrained(folder / "detector")
        detector, _facts = open_detector(str(folder / "detector"))
        path, source = recording(folder)
        window, hop = 5.12, 2.56
        results = page.build_page(detector).respira_results  # type: ignore[attr-defined]
        loads = [load_average()]

        def upload() -> tuple[float, float]:
            started, cpu = time.perf_counter(), time.process_time()
            message, *_ = page._run(
                detector, results, str(path), None, None, window, hop, lambda *a, **k: None
            )
            assert message.startswith("**Analysed**"), message
            return time.perf_counter() - started, time.process_time() - cpu

        def inference() -> tuple[float, float]:
            waveform = read_audio(path, 16000)
            started, cpu = time.perf_counter(), time.process_time()
            predict_windows(detector.model, waveform, window=window, hop=hop)
            return time.perf_counter() - started, time.process_time() - cpu

        for _ in range(2):
            upload()
        before = resident_mb()
        totals = [upload() for _ in range(args.repeats)]
        after = resident_mb()
        baseline = [inference() for _ in range(5)]
        loads.append(load_average())
    app, app_cpu = (statistics.median(column) for column in zip(*totals, strict=True))
    base, base_cpu = (statistics.median(column) for column in zip(*baseline, strict=True))
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} cores, load average at start {loads[0]}, at end {loads[1]}"
    )
    print(f"recording: {SECONDS:.0f} s of {source}; EfficientAT mn04, {window} s windows every {hop} s")
    print(
        f"upload → result (page handler), median of {args.repeats}: {app:.3f} s wall "
        f"(max {max(t for t, _ in totals):.3f} s), {app_cpu:.3f} s CPU"
    )
    print(f"baseline predict_windows alone, median of 5: {base:.3f} s wall, {base_cpu:.3f} s CPU")
    print(f"app / baseline: {app / base:.2f} (wall), {app_cpu / base_cpu:.2f} (CPU)")
    print(
        f"resident memory after 2 warm-up uploads {before:.0f} MB, after {args.repeats} more {after:.0f} MB "
        f"({100 * (after - before) / before:+.1f} %)"
    )


if __name__ == "__main__":
    main()

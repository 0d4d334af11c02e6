"""int8 vs float32 for the browser page (issue 61): onnxruntime's static quantization of the shipped
detector's ``model.onnx``, measured against the float32 file.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/int8_web.py [--shared ../shared] [--per_site N]

Quantization: QDQ, int8 weights per channel, uint8 activations, percentile calibration on 4-s windows of
the ICBHI sample (the detector's own training site, every eighth recording; never KAUH or SPRSound), the
featurizer (everything up to the log-mel) left in float32. Measured: the files' sizes (and gzipped,
what a static host transfers), onnxruntime's CPU time for one batch of 14 windows (30 s of audio, one
thread, median of 5), and on the first ``--per_site`` recordings (by path) of each site: the share of
recordings whose verdict (crackle, wheeze at the model's thresholds, maximum over 4-s windows every 2 s)
is the same, and the ICBHI score with its patient-bootstrap interval (:func:`respira.sites.scores.
scores_with_intervals`) for each file. Writes ``benchmarks/results/int8_web.md`` (pasted in BENCHMARKS.md)
and ``int8_web.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from _machine import cpu_name, load_average
from respira.audio import read_audio
from respira.audio.dsp import prepare_recording
from respira.core.windows import window_samples, window_spans
from respira.hub.loading import local_model_folder
from respira.models.respira import RespiraConfig
from respira.sites.sample import read_site_recordings
from respira.sites.scores import scores_with_intervals

RESULTS = Path(__file__).resolve().parent / "results"
SITES = (("icbhi", "icbhi"), ("kauh", "kauh"), ("sprsound", "sprsound"))


class Windows(CalibrationDataReader):
    def __init__(self, windows: list[np.ndarray]) -> None:
        self.windows = iter(windows)

    def get_next(self) -> dict[str, np.ndarray] | None:
        window = next(self.windows, None)
        return None if window is None else {"input_values": window[None].astype(np.float32)}


def quantize(source: Path, target: Path, calibration: list[np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        nodes = onnx.load(str(prepared)).graph.node
        log = next(index for index, node in enumerate(nodes) if node.op_type == "Log")
        featurizer = [node.name for node in nodes[: log + 4] if node.name]
        quantize_static(
            str(prepared),
            str(target),
            Windows(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=featurizer,
            calibrate_method=CalibrationMethod.Percentile,
        )


def session(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def recording_flags(model: onnxruntime.InferenceSession, signal: np.ndarray, rate: int) -> np.ndarray:
    spans = window_spans(signal.shape[0], *window_samples(4.0, 2.0, rate))
    flags = [model.run(["probabilities"], {"input_values": signal[None, a:b]})[0][0] for a, b in spans]
    return np.max(flags, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--per_site", type=int, default=None)
    args = parser.parse_args()
    started = f"{cpu_name()}; load average {load_average()} (start); {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    folder = local_model_folder("icbhi-crackle-wheeze")
    config = RespiraConfig.from_pretrained(folder)
    rate, thresholds = int(config.sampling_rate), np.asarray(config.decision_thresholds)
    samples = {name: read_site_recordings(args.shared / path, name) for name, path in SITES}
    calibration = []
    for recording in samples["icbhi"].recordings[::8]:
        signal = prepare_recording(config, read_audio(recording.path, rate))
        calibration += [signal[a:b] for a, b in window_spans(signal.shape[0], 4 * rate, 6 * rate)[:-1]]
    with tempfile.TemporaryDirectory() as tmp:
        int8 = Path(tmp) / "model_int8.onnx"
        quantize(folder / "model.onnx", int8, calibration)
        files = {"float32": folder / "model.onnx", "int8": int8}
        sizes = {k: (p.stat().st_size, len(gzip.compress(p.read_bytes(), 9))) for k, p in files.items()}
        models = {k: session(p) for k, p in files.items()}
        batch = np.stack(calibration[:14]).astype(np.float32)
        seconds = {}
        for name, model in models.items():
            times = []
            for _ in range(5):
                start = time.perf_counter()
                model.run(["probabilities"], {"input_values": batch})
                times.append(time.perf_counter() - start)
            seconds[name] = statistics.median(times)
        rows = {}
        for site, sample in samples.items():
            recordings = sorted(sample.recordings, key=lambda r: str(r.path))[: args.per_site]
            flags = {name: [] for name in models}
            for recording in recordings:
                signal = prepare_recording(config, read_audio(recording.path, rate))
                for name, model in models.items():
                    flags[name].append(recording_flags(model, signal, rate))
            labels = np.array([[r.crackle, r.wheeze] for r in recordings], dtype=np.int64)
            units = [r.unit for r in recordings]
            decided = {name: np.asarray(values) >= thresholds for name, values in flags.items()}
            scores = {}
            for name, values in flags.items():
                classes = decided[name][:, 0] + 2 * decided[name][:, 1]
                parts = [(np.ones(len(recordings), bool), classes, np.asarray(values))]
                scores[name] = scores_with_intervals(labels, units, parts)
            agree = float(np.all(decided["float32"] == decided["int8"], axis=1).mean())
            rows[site] = {"recordings": len(recordings), "verdicts_agree": agree, "scores": scores}
    lines = [
        f"<!-- {started} -->",
        "",
        "| file | size MB | gzipped MB | 14 windows (30 s), one thread, s |",
        "| --- | --- | --- | --- |",
        *(f"| {k} | {sizes[k][0] / 1e6:.2f} | {sizes[k][1] / 1e6:.2f} | {seconds[k]:.3f} |" for k in files),
        "",
        "| site | recordings | verdicts the same | ICBHI score float32 [95 %] | ICBHI score int8 [95 %] |",
        "| --- | --- | --- | --- | --- |",
    ]
    for site, row in rows.items():
        cells = [
            f"{100 * s['icbhi_score']:.1f} [{100 * s['icbhi_score_low']:.1f}, "
            f"{100 * s['icbhi_score_high']:.1f}]"
            for s in (row["scores"]["float32"], row["scores"]["int8"])
        ]
        agree = f"{100 * row['verdicts_agree']:.1f} %"
        lines.append(f"| {site} | {row['recordings']} | {agree} | {cells[0]} | {cells[1]} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "int8_web.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = {
        "started": started,
        "per_site": args.per_site,
        "sizes": sizes,
        "seconds": seconds,
        "sites": rows,
    }
    (RESULTS / "int8_web.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

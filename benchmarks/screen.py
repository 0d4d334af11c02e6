"""``respira screen`` against ``respira predict --per_recording``: same recordings, same model, one run.

    python benchmarks/screen.py [--shared ../shared | --folder DIR] [--recordings 40] [--model DIR]
                                [--device cpu|cuda] [--threads N] [--repeat 3] [--launch 2] [--memory 8]
                                [--before SRC] [--output FILE]

The recordings are the first ``--recordings`` ICBHI files of ../shared (real audio, their own rates
and lengths: 4, 10 and 44.1 kHz), or of ``--folder`` (e.g. a copy of KAUH's on a machine without
../shared), named in a ``.txt`` list in a temporary folder (nothing is copied).
The model is ``--model``, else respira's shipped detector (EfficientAT mn04, frozen, 32 kHz, 4 kHz
low-pass; windows of 4 s every 2 s). ``--device``: default CUDA when there is a GPU, else the CPU.

Timed, each in this process after one untimed warm-up run on two recordings, wall clock from the
command's start to its output written (model loading included), the median of ``--repeat`` runs
taken in turns (row after row, then again), so that a slow spell of a shared machine hits every row:

- ``predict --per_recording``: ``respira predict MODEL FILE... --per_recording --output x.csv``
  (the per-recording path: each recording decoded, then its windows run, one recording at a time);
- ``screen``, ``screen --events``, and on the CPU ``screen --onnx`` (onnxruntime);
- on the CPU, each torch row again with the model as loaded ("model as loaded"): without its
  inference form (:mod:`respira.inference.form`, batch norms folded into channels-last convolutions);
  and each ``screen`` row with the recordings read ahead by a background thread ("reader thread"), as
  ``screen`` reads them for a model off the CPU (on the CPU it reads them in line);
- with ``--before SRC``: ``screen`` of another source tree (e.g. a ``git archive`` of the code before a
  change), in a subprocess with ``PYTHONPATH=SRC``, and ``screen`` of this tree the same way;
- on the CPU with ``--launch N``: ``screen`` under ``accelerate launch`` with N processes of one
  thread each (recipes/accelerate/cpu_ddp.yaml) against one process of N threads, both subprocesses
  (Python's start-up and the model's loading included in both);
- with ``--memory K``: peak resident memory of ``screen`` (a subprocess) over K recordings and over 10 K
  (the same files again through symbolic links of distinct names: distinct keys).

And the roofline: the model's GFLOP per second of audio (counted by ``torch.utils.flop_counter`` on
one batch of 4-s windows, each repeat-padded to the model's 8-s input, a window every 2 s) against a
measured float32 matrix product (1024², this process's threads) on the same device.
Everything printed is also written to ``--output`` (default ``screen_benchmark.txt``).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import torch

from _machine import cpu_name, load_average

REPOSITORY = Path(__file__).resolve().parents[1]
PEAK = (
    "import re, sys; from pathlib import Path; from respira.__main__ import main; code = main(sys.argv[1:]); "
    "print('PEAK_RSS_KB', re.search(r'VmHWM:\\s*(\\d+)', Path('/proc/self/status').read_text()).group(1)); "
    "sys.exit(code)"
)
"""The command's own peak resident memory: the process image's high-water mark (``VmHWM``, reset by
``exec``), not ``ru_maxrss``, which a child started by ``fork`` inherits from its parent: this script's
own gigabytes once said 1× and 10× the recordings took the same memory whatever the command did."""


def _timed(argv: list[str]) -> float:
    from respira.cli import main

    started = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"respira {' '.join(argv[:1])} exited with {code}")
    return elapsed


def _subprocess(command: list[str], environment: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, check=False, env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:6])}... failed:\n{result.stderr[-3000:]}")
    return elapsed, result.stdout


def _environment(threads: int, source: Path = REPOSITORY / "src") -> dict[str, str]:
    path = os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")])
    return {
        **os.environ,
        "PYTHONPATH": path,
        "OMP_NUM_THREADS": str(threads),
        "RESPIRA_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
    }


def _check_screened(folder: Path) -> None:
    """Stop unless every recording of every timed screen got its verdict (a run of error rows is fast)."""
    import pyarrow.parquet as pq

    for table in sorted(folder.glob("*/recordings.parquet")):
        errors = [e for e in pq.read_table(table, columns=["error"]).column("error").to_pylist() if e]
        if errors:
            raise SystemExit(f"{table.parent.name}: {len(errors)} recording(s) failed, e.g. {errors[0]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listing(folder: Path, name: str, files: list[Path], copies: int = 1) -> Path:
    """A ``.txt`` list of ``files``, ``copies`` times over (copies through links of distinct names)."""
    paths = [str(path) for path in files]
    for copy in range(1, copies):
        links = folder / f"{name}-links-{copy}"
        links.mkdir()
        for path in files:
            (links / path.name).symlink_to(path)
            paths.append(str(links / path.name))
    listing = folder / f"{name}.txt"
    listing.write_text("\n".join(paths))
    return listing


def _roofline(model_dir: str, device: str) -> tuple[float, float, float]:
    """(GFLOP per second of audio, GFLOP per 8-s model input, measured float32 matmul GFLOP/s)."""
    from torch.utils.flop_counter import FlopCounterMode

    from respira.inference.detector import Detector

    detector = Detector.from_pretrained(model_dir, device=device)
    model = detector.model.eval()
    rate, batch = detector.sampling_rate, 8
    window = round(detector.options["window"] * rate)
    waveforms = torch.randn(batch, window, device=device) * 0.1
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(input_values=waveforms, attention_mask=torch.ones_like(waveforms, dtype=torch.long))
    per_window = counter.get_total_flops() / batch / 1e9
    per_audio_second = per_window / detector.options["hop"]  # a window every hop seconds
    per_input = per_window * 8.0 / float(model.config.target_seconds)
    size = 1024
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    for _ in range(3):
        a @ b
    repeats = 200 if device == "cuda" else 20
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device == "cuda":
        torch.cuda.synchronize()
    matmul = 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9
    return per_audio_second, per_input, matmul


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPOSITORY.parent / "shared")
    parser.add_argument(
        "--folder", type=Path, help="recordings to time instead (any folder of .wav; default: ICBHI's)"
    )
    parser.add_argument("--recordings", type=int, default=40)
    parser.add_argument("--model", help="a model folder (default: the shipped detector)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when there is a GPU")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the timed runs")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each row (the median)")
    parser.add_argument("--launch", type=int, default=0, help="also time N accelerate CPU processes")
    parser.add_argument("--memory", type=int, default=0, help="peak memory over K and 10 K recordings")
    parser.add_argument("--before", type=Path, help="also time screen of this source tree (its src/)")
    parser.add_argument("--output", type=Path, default=Path("screen_benchmark.txt"))
    args = parser.parse_args()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    os.environ["RESPIRA_NUM_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    source = args.folder or args.shared / "icbhi"
    files = sorted(path.resolve() for path in source.glob("**/*.wav"))[: args.recordings]
    if len(files) < 3:
        raise SystemExit(f"need at least 3 recordings (.wav) under {source}")
    from respira.models.respira.audio_decoding import audio_header
    from respira.pretrained import default_detector_dir

    model = str(args.model or default_detector_dir())
    seconds_of_audio = sum(audio_header(path).duration for path in files)
    on = ["--device", device]
    lines = [
        f"# {cpu_name()}, {os.cpu_count()} cores"
        + (f", {torch.cuda.get_device_name()}" if device == "cuda" else "")
        + f"; load average {load_average()} (start); torch {torch.__version__}; device {device}, "
        f"{args.threads} thread(s)",
        f"# {len(files)} {'ICBHI' if args.folder is None else args.folder.name} recordings, "
        f"{seconds_of_audio / 3600:.3f} h of audio; model "
        f"{args.model or 'the shipped detector'}",
    ]
    runs: dict[str, float] = {}
    memory: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        listing, warm = _listing(folder, "list", files), _listing(folder, "warm", files[:2])
        paths = [str(path) for path in files]
        predict = ["--per_recording", *on]
        _timed(["predict", model, *paths[:2], *predict, "--output", str(folder / "warm.csv")])
        _timed(["screen", model, str(warm), *on, "--output_dir", str(folder / "warm")])
        import respira.inference.form
        from respira.screening import batches

        screened, predicted = ["screen", model, str(listing)], ["predict", model, *paths, *predict]
        commands = {
            "predict --per_recording": lambda out: [*predicted, "--output", f"{out}.csv"],
            "screen": lambda out: [*screened, *on, "--output_dir", out],
            "screen --events": lambda out: [*screened, "--events", *on, "--output_dir", out],
        }
        if device == "cpu":
            _timed(["screen", model, str(warm), "--onnx", "--output_dir", str(folder / "warm-onnx")])
            commands["screen --onnx"] = lambda out: [*screened, "--onnx", "--output_dir", out]
        timings: dict[str, list[float]] = {}
        for _ in range(args.repeat):  # interleaved: a slow spell of the machine hits every row
            for name, command in commands.items():
                forms = [(name, nullcontext())]
                if device == "cpu" and name != "screen --onnx":  # the torch rows, again without the form
                    as_loaded = mock.patch.object(respira.inference.form, "inference_form", lambda m: m)
                    forms.append((f"{name}, model as loaded", as_loaded))
                    if name.startswith("screen"):  # and with a reader thread, as for a model off the CPU
                        thread = mock.patch.object(batches, "runs_on_cpu", lambda model: False)
                        forms.append((f"{name}, reader thread", thread))
                for row, form in forms:
                    with form:
                        out = str(folder / f"{len(timings.get(row, []))}-{row.replace(' ', '_')}")
                        timings.setdefault(row, []).append(_timed(command(out)))
        runs.update({row: statistics.median(seconds) for row, seconds in timings.items()})
        screen = [sys.executable, "-m", "respira", "screen", model, str(listing), *on]
        if args.before:
            for name, source in (("before", args.before / "src"), ("after", REPOSITORY / "src")):
                runs[f"screen, subprocess ({name}: {source.parent.name})"] = _subprocess(
                    [*screen, "--output_dir", str(folder / f"sub-{name}")], _environment(args.threads, source)
                )[0]
        if args.launch and device == "cpu":
            n = args.launch
            runs[f"screen, 1 process × {n} threads (subprocess)"] = _subprocess(
                [*screen, "--output_dir", str(folder / "one")], _environment(n)
            )[0]
            config = REPOSITORY / "recipes" / "accelerate" / "cpu_ddp.yaml"
            launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
            launch += ["--num_processes", str(n), "--main_process_port", str(_free_port())]
            launch += ["-m", "respira", "screen", model, str(listing), *on, "--output_dir", str(folder / "l")]
            runs[f"screen, accelerate {n} processes × 1 thread"] = _subprocess(launch, _environment(1))[0]
        if args.memory:
            for copies in (1, 10):
                many = _listing(folder, f"memory-{copies}", files[: args.memory], copies)
                command = [sys.executable, "-c", PEAK, "screen", model, str(many), *on]
                _, out = _subprocess(
                    [*command, "--output_dir", str(folder / f"m{copies}")], _environment(args.threads)
                )
                peak = next(line for line in out.splitlines() if line.startswith("PEAK_RSS_KB"))
                memory[copies * args.memory] = int(peak.split()[1]) / 1024
        _check_screened(folder)
    per_second, per_input, matmul = _roofline(model, device)
    lines.append(f"{'command':<52} {'seconds':>8} {'× real time':>12} {'vs predict':>10}")
    baseline = runs["predict --per_recording"]
    for name, seconds in runs.items():
        speed = seconds_of_audio / seconds
        lines.append(f"{name:<52} {seconds:8.1f} {speed:12.0f} {baseline / seconds:10.2f}")
    for count, mib in memory.items():
        lines.append(f"peak resident memory, screen of {count} recordings: {mib:.0f} MiB")
    if len(memory) == 2:
        low, high = memory.values()
        lines.append(f"peak memory at 10× the recordings / at 1×: {high / low:.3f}")
    roof = matmul / per_second
    lines += [
        f"roofline: {per_second:.3f} GFLOP per second of audio (a 4-s window every 2 s, each "
        f"{per_input:.3f} GFLOP per 8-s model input); float32 matmul {matmul:.1f} GFLOP/s "
        f"→ at most {roof:.0f}× real time",
        f"best measured: {max(seconds_of_audio / s for s in runs.values()):.0f}× real time = "
        f"{max(seconds_of_audio / s for s in runs.values()) / roof:.1%} of the roofline",
        f"# load average {load_average()} (end)",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

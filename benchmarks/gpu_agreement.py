"""Each shipped detector on the CPU against CUDA, in one process: window probabilities, labels and events.

    python benchmarks/gpu_agreement.py RECORDINGS [--detectors NAME ...]

For every ``.wav`` in the ``RECORDINGS`` folder, :meth:`respira.Detector.predict_file` (its window rows and
the recording's label) and :meth:`~respira.Detector.detect_events`, on the CPU and twice on CUDA: at torch's
default precision (cuDNN's convolutions in TF32; respira's :func:`~respira.utils.precision.full_float32`
made a no-op, as respira ran before it) and as respira runs (TF32 off). One line per detector and CUDA run:
the windows compared, the largest window-probability difference from the CPU, whether every label and
event count equals the CPU's, and the event counts; then ``RESULT OK`` (all equal) or ``RESULT FAIL``.
Needs a CUDA device (exit status 2 without one).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

DETECTORS = ("icbhi-crackle-wheeze", "sprsound-crackle-wheeze")


@contextlib.contextmanager
def torch_default_precision() -> Iterator[None]:
    """respira's full_float32 made a no-op: the forwards run at torch's own TF32 settings."""
    from respira.utils import precision

    kept = precision._FULL_FLOAT32
    precision._FULL_FLOAT32 = contextlib.nullcontext()
    try:
        yield
    finally:
        precision._FULL_FLOAT32 = kept


def outputs(name: str, device: str, recordings: list[Path]) -> tuple[np.ndarray, list[Any], list[int]]:
    """``[windows, 2]`` crackle and wheeze probabilities, window and recording labels, event counts."""
    from respira import Detector

    detector = Detector.from_pretrained(name, device=device)
    probabilities, labels, events = [], [], []
    for path in recordings:
        prediction = detector.predict_file(path)
        probabilities += [[row["crackle"], row["wheeze"]] for row in prediction.rows]
        labels += [row.get("label") for row in prediction.rows] + [prediction.label]
        events.append(len(detector.detect_events(path).events))
    return np.array(probabilities), labels, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recordings", type=Path, help="a folder of .wav recordings")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), help="shipped detectors' names")
    args = parser.parse_args(argv)
    recordings = sorted(args.recordings.glob("*.wav"))
    if not recordings:
        parser.error(f"{args.recordings}: no .wav recordings")
    if not torch.cuda.is_available():
        print("needs a CUDA device: torch sees none", file=sys.stderr)
        return 2
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}", flush=True)
    failed = False
    for name in args.detectors:
        cpu = outputs(name, "cpu", recordings)
        with torch_default_precision():
            tf32 = outputs(name, "cuda", recordings)
        full = outputs(name, "cuda", recordings)
        for tag, got in (("cuda tf32 on ", tf32), ("cuda tf32 off", full)):
            difference = np.abs(got[0] - cpu[0]).max()
            same = got[1] == cpu[1] and got[2] == cpu[2]
            failed |= not same
            print(
                f"{name:26s} {tag} windows {len(cpu[0])} max|cpu-cuda| {difference:.2e} "
                f"labels+events equal {same} events {got[2]}",
                flush=True,
            )
    print("RESULT", "FAIL" if failed else "OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())

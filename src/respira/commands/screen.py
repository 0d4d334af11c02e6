"""``respira screen [MODEL] SOURCE --output_dir OUT``: every recording of an archive into resumable Parquet
(or CSV) tables, sharded over ``accelerate launch``'s processes (:mod:`respira.screening`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..inference.forward import CPU_BATCH_SIZE, GPU_BATCH_SIZE, default_batch_size
from ..models.respira.audio_decoding import check_whole
from ..options import (
    SWITCH,
    add_model_argument,
    aggregation_options,
    check_frame_hop,
    flag,
    option,
    window_option,
)

EPILOG = """\
SOURCE: a folder (searched recursively for audio files), a .txt list of paths (one a line), a .csv list
(its path column, else file, else the first), or a datasets audio dataset: a save_to_disk folder or a
Hub id, streamed (--split, default train; --audio_column).

OUT/recordings.parquet (or .csv): one row per recording: path, size, mtime_ns, duration, sampling_rate,
channels, verdict, crackle and wheeze (as respira predict --per_recording gives them), warning (why its
verdict is not to be trusted, else null) and error (why it could not be screened, else empty).
OUT/events.parquet with --events: path, onset, offset, type, confidence, rule.

Several processes: accelerate launch -m respira screen ...; each screens its share, the main process
shows the progress and merges. Results are written in chunks of --chunk_size: the same command again
skips the finished recordings (same path, size and mtime); an OUT of another model, SOURCE or option is
refused.

exit status: 0 when the job finished (recordings that failed are rows with their error), 2 on any other
error (run it again to resume).
"""


@dataclass(kw_only=True)
class ScreenOptions:
    output_dir: str = option("output_dir", "folder for the results", required=True, metavar="OUT")
    format: str = flag("parquet", "merged tables' format", choices=("parquet", "csv"))
    split: str | None = flag(None, "the datasets SOURCE's split")
    audio_column: str = flag("audio", "the datasets SOURCE's audio column")
    events: bool = flag(False, "also detect crackle and wheeze events (OUT/events.parquet)", **SWITCH)
    batch_size: int | None = flag(
        None,
        "windows per forward pass, from several recordings (default: "
        f"{CPU_BATCH_SIZE} on the CPU, where a small batch stays in cache, {GPU_BATCH_SIZE} on a GPU)",
    )
    max_windows: int = flag(
        10_000, "a recording needing more windows is an error row, refused before it is decoded"
    )
    chunk_size: int = flag(256, "recordings per results chunk (default 256)")
    device: str | None = option("device")
    onnx: bool = flag(False, "run the model's model.onnx with onnxruntime", **SWITCH)
    window: float = window_option("window")
    hop: float = window_option("hop")
    smoothing: int = window_option("smoothing")
    frame_hop: float = window_option("frame_hop")
    aggregation: str | None = window_option("aggregation")
    top_k: int | None = window_option("top_k")


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "screen",
        help=line,
        description="Screen every recording of a folder, a list of paths or a datasets audio dataset with "
        "a detector; one or several processes (accelerate launch), resumable after a crash.",
        epilog=EPILOG,
        dataclass_types=[ScreenOptions],
    )
    add_model_argument(parser)
    parser.add_argument(
        "source", metavar="SOURCE", help="folder, .txt/.csv list of paths, or a datasets dataset"
    )


def _bar(total: float, unit: str) -> Any:
    from ..utils.progress import stage

    hours = unit == "h"
    return stage("screening", round(total, 3) if hours else int(total), "hour" if hours else unit)


def run(args: argparse.Namespace) -> int:
    import torch
    from accelerate import PartialState

    from ..inference.detector import Detector
    from ..screening import open_source, screen
    from ..screening.results import check_names_free
    from ..utils.files import check_folder_target
    from ..utils.threads import apply_num_threads

    check_whole(args.chunk_size, "--chunk_size")
    check_whole(args.max_windows, "--max_windows")
    check_frame_hop(args)
    output = Path(args.output_dir)
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"--output_dir {output} is a file, not a folder")
    check_folder_target(output)
    check_names_free(output)

    aggregation, top_k = aggregation_options(args)
    source = open_source(args.source, split=args.split, audio_column=args.audio_column)
    source.check_not_empty(args.source)  # before the model loads or anything is written
    # cpu: gloo processes where there is no GPU (accelerate's multi-GPU launcher starts them on a CPU machine)
    state = PartialState(cpu=args.device == "cpu" or not torch.cuda.is_available())
    apply_num_threads()
    device = args.device or state.device  # where the model runs (--onnx: on the CPU)
    detector = Detector.from_pretrained(
        args.model,
        device=device,
        onnx=True if args.onnx else None,
        window=args.window,
        hop=args.hop,
        smoothing=args.smoothing,
        batch_size=args.batch_size or default_batch_size("cpu" if args.onnx else str(device)),
        max_windows=args.max_windows,
        aggregation=aggregation,
        top_k=top_k,
    )
    options = {name: getattr(args, name) for name in ("window", "hop", "smoothing", "max_windows", "events")}
    options |= {name: detector.options[name] for name in ("aggregation", "top_k")}  # the model's, if no flag
    options |= {"frame_hop": args.frame_hop if args.events else None, "onnx": args.onnx}
    summary = screen(
        detector,
        source,
        args.output_dir,
        options=options,
        state=state,
        events=args.events,
        frame_hop_seconds=args.frame_hop,
        chunk_size=args.chunk_size,
        output_format=args.format,
        progress=_bar,
    )
    if summary is None:  # not the main process: it merges and reports
        return 0
    print(summary.describe())
    print(f"wrote {', '.join(summary.outputs)}")
    return 0

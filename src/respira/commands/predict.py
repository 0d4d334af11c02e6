"""``respira predict MODEL FILE...``: crackle/wheeze probabilities over sliding windows or given cycles."""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..inference.event_rules import DETECTION_COLUMNS
from ..options import (
    SWITCH,
    add_model_argument,
    aggregation_options,
    check_frame_hop,
    flag,
    option,
    window_option,
)
from ..utils.files import check_file_target, check_loose_files, record_loose_files, write_text_atomic
from ..utils.tables import format_rows

EPILOG = """\
output: one row per window (or annotated cycle): file, start, end (seconds), crackle and wheeze
(probabilities), label (normal/crackle/wheeze/both) and, for single-label models, p_normal, p_crackle,
p_wheeze, p_both; --annotations adds annotated_label. JSON is a list of rows; CSV has a header line.

--per_recording: one row per FILE, its verdict as respira.Detector and `respira app` decide it (the
windows aggregated by the model's own rule, else --aggregation max, mean or topk_mean of --top_k).

--events: one row per detected event (file, onset, offset, type, confidence, rule) from frame posteriors
every --frame_hop seconds, at the model's thresholds and event settings, kept only where the recording's
verdict and its window hold it (a line on stderr counts those left out).

--plot: one PNG per FILE (in --plot_dir, else beside --output, else here): the mel spectrogram, the
crackle and wheeze probabilities with the thresholds, the predicted labels and any --annotations. An
existing PNG of that name is refused; --overwrite replaces those an earlier predict wrote (the folder's
.respira-written lists them with their SHA-256), never a file it did not write or one changed since.
Several FILEs show their progress on stderr (TQDM_DISABLE=1 hides it).

exit status: 0 when every file was predicted; 1 when some failed (one error line each on stderr, the
others written); 2 when none could be predicted or on any other error.
"""

FORMATS = ("json", "csv")
_ELSEWHERE = "give another --plot_dir"


@dataclass(kw_only=True)
class PredictOptions:
    annotations: str | None = flag(
        None,
        "ICBHI annotation file (start end crackle wheeze): predict its cycles (one FILE only)",
        metavar="FILE.txt",
    )
    format: str | None = flag(
        None, "output format (default: from --output's suffix, else json)", choices=FORMATS
    )
    output: str | None = flag(None, "write here instead of standard output", metavar="PATH")
    per_recording: bool = flag(
        False,
        "one row per FILE: its verdict and probabilities, aggregated over its windows (see below)",
        **SWITCH,
    )
    events: bool = flag(
        False,
        "one row per detected crackle or wheeze event (file, onset, offset, type, confidence, rule)",
        **SWITCH,
    )
    batch_size: int = option("batch_size")
    max_windows: int | None = flag(
        None, "refuse a recording that needs more sliding windows than this (default 10000)"
    )
    device: str | None = option("device")
    onnx: bool = flag(
        False,
        "run the model's model.onnx with onnxruntime instead of torch (the default for a folder "
        "with model.onnx and no torch weights)",
        **SWITCH,
    )
    plot: bool = flag(
        False,
        "also draw each FILE as a PNG: spectrogram, crackle/wheeze probabilities, thresholds, "
        "labels and the --annotations cycles",
        **SWITCH,
    )
    plot_dir: str | None = flag(
        None,
        "folder for the --plot PNGs (implies --plot; default: --output's folder, else the current one)",
        metavar="DIR",
    )
    overwrite: bool = flag(
        False,
        "replace --plot PNGs an earlier predict wrote there, unchanged since (never another file)",
        **SWITCH,
    )
    window: float = window_option("window")
    hop: float = window_option("hop")
    smoothing: int = window_option("smoothing")
    frame_hop: float = window_option("frame_hop")
    aggregation: str | None = window_option("aggregation")
    top_k: int | None = window_option("top_k")


def register(subparsers: argparse._SubParsersAction, line: str) -> None:
    parser = subparsers.add_parser(
        "predict",
        help=line,
        description="Predict crackles and wheezes over sliding windows of audio files, or over the "
        "cycles of an ICBHI annotation file.",
        epilog=EPILOG,
        dataclass_types=[PredictOptions],
    )
    add_model_argument(parser, files="files")
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="audio files (WAV, FLAC, Ogg, Opus, MP3, AAC; any rate/channels)",
    )


def check_plot_dir(folder: str | Path) -> Path:
    """``folder`` as a ``Path``, or a one-line ``OSError`` when PNGs cannot be written there (a missing
    folder needs a writable existing parent)."""
    folder = Path(folder).expanduser()
    existing = next((path for path in (folder, *folder.parents) if path.exists()), Path())
    if not existing.is_dir():
        where = "" if existing == folder else f"cannot create --plot_dir {folder}: "
        raise NotADirectoryError(f"{where or '--plot_dir '}{existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write in --plot_dir {folder}: {existing} is not writable")
    return folder


def plot_paths(files: Sequence[str | Path], folder: Path) -> list[Path]:
    """One checked PNG path per file in ``folder``: ``STEM.png``, ``STEM-2.png``... for repeated stems."""
    taken: list[str] = []
    for file in files:
        stem = Path(file).stem or "recording"
        names = (f"{stem}-{number}.png" if number > 1 else f"{stem}.png" for number in itertools.count(1))
        taken.append(next(name for name in names if name not in taken))
    return [check_file_target(folder / name) for name in taken]


def progress(files: Sequence[str], description: str = "predicting") -> Iterable[str]:
    """``files`` with their progress on standard error, for several files."""
    from ..utils.progress import progress as shown

    return shown(files, description, unit="file", enabled=len(files) >= 2)


def _checked_options(args: argparse.Namespace) -> tuple[str, str | None, int | None]:
    """Check ``predict``'s options against each other and ``--output``; its output format and aggregation."""
    if args.annotations is not None and len(args.files) != 1:
        raise ValueError(f"--annotations applies to exactly one FILE, got {len(args.files)} files")
    suffix = Path(args.output).suffix.lower().lstrip(".") if args.output else ""
    output_format = args.format or ("csv" if suffix == "csv" else "json")
    if args.format and suffix in FORMATS and suffix != output_format:
        raise ValueError(
            f"--output {args.output} names a .{suffix} file but --format is {output_format}: "
            f"give one of them (or make them agree)"
        )
    if args.output:
        check_file_target(args.output)  # before any work: a folder there, or a file above it
    if args.events:
        flags = {"--annotations": args.annotations is not None, "--per_recording": args.per_recording}
        if clashing := [flag for flag, given in flags.items() if given]:
            raise ValueError(f"--events detects events over whole recordings: drop {', '.join(clashing)}")
    check_frame_hop(args)
    if not args.per_recording and (args.aggregation is not None or args.top_k is not None):
        raise ValueError("--aggregation and --top_k decide each recording's verdict: add --per_recording")
    return output_format, *aggregation_options(args)


def _predict_files(
    args: argparse.Namespace, detector: Any, plots: list[Path]
) -> tuple[list[dict[str, Any]], list[str], list[str], list[Path]]:
    """Predict (and draw) each file: its rows, the errors, the events left out and the plots written."""
    from ..inference.detector import PredictionError

    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    left_out: list[str] = []  # --events: the files whose frame events the rule left out, and why
    written: list[Path] = []
    for index, file in enumerate(progress(args.files)):
        try:
            prediction = detector.predict_file(file, annotations=args.annotations)
            detection = None
            if args.events:
                detection = detector.detect_events(
                    file, frame_hop_seconds=args.frame_hop, prediction=prediction
                )
                rows.extend(detection.to_rows())
                if detection.left_out:
                    left_out.append(f"{file}: {detection.describe()}")
            else:
                rows.extend([prediction.summary()] if args.per_recording else prediction.rows)
            if plots:
                options = {"prediction": prediction, "detection": detection, "annotations": args.annotations}
                check_loose_files(plots[index : index + 1], overwrite=args.overwrite, elsewhere=_ELSEWHERE)
                written.append(detector.plot(file, plots[index], **options))
                record_loose_files(plots[index].parent, [plots[index].name])
        except PredictionError as error:
            errors.append(str(error))
    return rows, errors, left_out, written


def run(args: argparse.Namespace) -> int:
    from ..hub.loading import resolve_model_name
    from ..inference.detector import Detector
    from ..inference.windowing import MAX_WINDOWS
    from ..utils.threads import apply_num_threads

    resolve_model_name(args.model)  # a path that is no folder: one line, before the options and any work
    apply_num_threads()
    output_format, aggregation, top_k = _checked_options(args)
    plots: list[Path] = []
    if args.plot or args.plot_dir is not None:
        default_dir = Path(args.output).parent if args.output else Path()
        plots = plot_paths(args.files, check_plot_dir(args.plot_dir or default_dir))
        check_loose_files(plots, overwrite=args.overwrite, elsewhere=_ELSEWHERE)
    detector = Detector.from_pretrained(
        args.model,
        device=args.device,
        onnx=True if args.onnx else None,
        window=args.window,
        hop=args.hop,
        smoothing=args.smoothing,
        batch_size=args.batch_size,
        max_windows=MAX_WINDOWS if args.max_windows is None else args.max_windows,
        aggregation=aggregation,
        top_k=top_k,
    )
    rows, errors, left_out, written = _predict_files(args, detector, plots)
    predicted = len(args.files) - len(errors)
    if predicted == 0:
        if len(errors) == 1:
            raise ValueError(errors[0])
        for message in errors:
            print(f"respira predict: error: {message}", file=sys.stderr)
        raise ValueError(f"none of the {len(errors)} files could be predicted")
    text = format_rows(rows, output_format, columns=DETECTION_COLUMNS if args.events else None)
    if args.output:
        write_text_atomic(args.output, text)
        what = "events" if args.events else "recording verdicts" if args.per_recording else "predictions"
        print(f"wrote {len(rows)} {what} for {predicted} file(s) to {args.output}")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if written:
        folder = written[0].parent
        print(f"wrote {len(written)} plot(s) to {folder}", file=sys.stdout if args.output else sys.stderr)
    for line in left_out:
        print(line, file=sys.stderr)
    for message in errors:
        print(f"respira predict: error: {message}", file=sys.stderr)
    return 1 if errors else 0  # 1: some files failed, the others were predicted (see the epilog)

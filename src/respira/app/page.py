"""The app page (Gradio Blocks): upload or record a recording, see where the model hears crackles and
wheezes. ``respira app`` serves it for a torch or ONNX model; the Hub Space (:mod:`respira.app.space`)
ships this module and serves it for ``model.onnx`` without torch or respira.

Inputs: a recording (wav/flac/mp3/ogg, and m4a where torchcodec decodes it; any rate and channel count) or
one from the microphone, an optional ICBHI annotation ``.txt``, the window and hop (``respira predict``'s by
default), example recordings. Outputs: the recording figure (with a row of bars per label for the detected
crackle and wheeze events), one table row per window (or annotated cycle), one table row per detected event
(onset, offset, type, confidence and the rule that drew it: events are kept where the verdict holds them, and
the message counts those left out and says why), the recording-level verdict with its rule, downloads (the
windows' CSV and JSON, the events' CSV, the figure's PNG) and the model card's facts.
Bad input shows one line in the page (:class:`~respira.app.analysis.InputError`); the app keeps serving.
Requests are queued (one analysis at a time, at most :data:`QUEUE_SIZE` waiting) and only the last
:data:`KEEP_RESULTS` results' files are kept on disk.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr

from ..audio.decoding import decodes_other_codecs
from ..inference.event_rules import DETECTION_COLUMNS
from ..reports.figures import save_figure
from ..utils.messages import one_line
from ..utils.tables import format_rows
from .analysis import MAX_SECONDS, Detector, InputError, analyse, default_window

__all__ = [
    "AUDIO_TYPES",
    "KEEP_RESULTS",
    "OTHER_CODEC_TYPES",
    "QUEUE_SIZE",
    "audio_types",
    "build_page",
    "launch",
]

AUDIO_TYPES = [".wav", ".flac", ".mp3", ".ogg"]
"""Uploads every install of the app decodes (libsndfile's formats; a Space runs without torch)."""
OTHER_CODEC_TYPES = [".m4a"]
"""Uploads decoded by torchcodec (a phone's AAC recording), offered where it loads."""
QUEUE_SIZE = 16
KEEP_RESULTS = 8
TABLE_COLUMNS = ("start", "end", "crackle", "wheeze", "label", "annotated_label")
"""The per-window table's columns, those the rows have."""
EVENT_TABLE_COLUMNS = DETECTION_COLUMNS[1:]
"""The events table's columns (``onset`` ... ``rule``; the events CSV also names the ``file``)."""
logger = logging.getLogger(__name__)


def _listed(types: Sequence[str]) -> str:
    """``.wav``, ``.flac``, ``.mp3`` → "wav, flac or mp3"."""
    names = [name.lstrip(".") for name in types]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def audio_types() -> list[str]:
    """The upload types this process decodes: :data:`AUDIO_TYPES`, and :data:`OTHER_CODEC_TYPES` where
    :func:`respira.audio.decodes_other_codecs` (``read_audio`` reads them through torchcodec)."""
    return AUDIO_TYPES + (OTHER_CODEC_TYPES if decodes_other_codecs() else [])


class _Results:
    """A folder per analysis under one temporary folder, the oldest removed beyond ``keep``; the
    temporary folder goes with :meth:`close`, or at the latest when the interpreter exits."""

    def __init__(self, keep: int = KEEP_RESULTS) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="respira-app-"))
        self.keep = keep
        self.numbers = itertools.count(1)
        self.lock = threading.Lock()
        self.close = weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)

    def new(self) -> Path:
        with self.lock:
            folder = self.root / f"{next(self.numbers):06d}"
            folder.mkdir()
            for old in sorted(self.root.iterdir())[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        return folder


def _table(rows: Sequence[dict[str, Any]], annotated: bool = False) -> dict[str, Any]:
    """The per-window table; without rows (an error), its columns with no row."""
    if rows:
        columns = [name for name in TABLE_COLUMNS if any(name in row for row in rows)]
    else:
        columns = [name for name in TABLE_COLUMNS if annotated or name != "annotated_label"]
    data = [[round(row[c], 3) if isinstance(row[c], float) else row[c] for c in columns] for row in rows]
    return {"headers": columns, "data": data}


def _events_table(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The events table: ``rows`` (:meth:`respira.inference.event_rules.EventDetection.to_rows`) less
    their
    ``file``, times and confidences rounded to 3 decimals; its columns with no row when there are none."""
    columns = list(EVENT_TABLE_COLUMNS)
    data = [[round(row[c], 3) if isinstance(row[c], float) else row[c] for c in columns] for row in rows]
    return {"headers": columns, "data": data}


def _failed(text: str, annotated: bool) -> tuple[str, str, None, dict[str, Any], dict[str, Any], None]:
    """What the page shows for an error: the message, and the tables' columns with no row."""
    return f"**Error:** {text}", "", None, _table([], annotated), _events_table([]), None


def _run(
    detector: Detector,
    results: _Results,
    upload: str | None,
    microphone: str | None,
    annotation: str | None,
    window: float,
    hop: float,
    progress: gr.Progress,
) -> tuple[str, str, str | None, Any, Any, list[str] | None]:
    annotated = bool(annotation)
    if upload:
        path, name = upload, Path(upload).name
    elif microphone:
        path, name = microphone, "microphone recording"
    else:
        return _failed("upload a recording or record one first.", annotated)
    try:
        analysis = analyse(
            detector,
            path,
            name=name,
            annotations=annotation,
            annotation_name=Path(annotation).name if annotation else None,
            window=window,
            hop=hop,
            progress=lambda fraction, text: progress(fraction, desc=text),
        )
    except InputError as error:
        return _failed(str(error), annotated)
    except Exception as error:  # anything else: one line in the page, the details in the server's log
        logger.exception("analysis of %s failed", name)
        text = one_line(error)
        return _failed(f"could not analyse {name}: {text}", annotated)
    progress(0.9, desc="writing the downloads")
    folder = results.new()
    stem = Path(name).stem.replace(" ", "_") or "recording"
    png = save_figure(analysis.figure, folder / f"{stem}.png")
    csv_file, json_file = folder / f"{stem}.csv", folder / f"{stem}.json"
    csv_file.write_text(format_rows(analysis.rows, "csv"), encoding="utf-8")
    json_file.write_text(format_rows(analysis.rows, "json"), encoding="utf-8")
    downloads = [str(csv_file), str(json_file)]
    event_rows = analysis.events.to_rows() if analysis.events is not None else []
    if analysis.events is not None:
        events_file = folder / f"{stem}_events.csv"
        events_file.write_text(format_rows(event_rows, "csv", columns=DETECTION_COLUMNS), encoding="utf-8")
        downloads.append(str(events_file))
    downloads.append(str(png))
    kind = "annotated cycles" if "annotated_label" in analysis.rows[0] else "windows"
    message = f"**Analysed** {name}: {analysis.duration:.1f} s, {len(analysis.rows)} {kind}"
    message += f"; {analysis.events.describe()}." if analysis.events is not None else "."
    message += "".join(f"\n\n**Caution:** {caution}" for caution in analysis.cautions)
    verdict = "\n".join(["### Recording-level verdict", *analysis.verdict.lines()])
    table = _table(analysis.rows)
    events = _events_table(event_rows)
    # the figure's artists form reference cycles that hold its arrays (the spectrogram, the canvas):
    # free them now rather than at an eventual full collection, which is cheap after build_page's
    # gc.freeze() (only this request's objects are traversed)
    del analysis
    gc.collect()
    return message, verdict, str(png), table, events, downloads


@contextmanager
def _no_queue_summary() -> Iterator[None]:
    """A queue made within the block never computes Gradio's monitoring summary of its events.

    Gradio's queue summarises every event so far with pandas after each one, with options pandas 3
    deprecates (a warning per analysis), for a monitoring dashboard the app does not enable. Its
    ``GRADIO_ANALYTICS_CACHE_FREQUENCY`` (events between two summaries, read when the queue is made)
    set beyond any count turns that off; the variable is restored after the block.
    """
    name = "GRADIO_ANALYTICS_CACHE_FREQUENCY"
    previous = os.environ.get(name)
    os.environ[name] = str(2**62)
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def build_page(
    detector: Detector,
    *,
    facts: Sequence[str] = (),
    examples: Sequence[str | Path] = (),
) -> gr.Blocks:
    """The page for ``detector`` (see the module docstring), queued; call :func:`launch` to serve it."""
    window, hop = default_window()
    results = _Results()
    types = audio_types()

    def run(upload, microphone, annotation, window, hop, progress=gr.Progress()):  # noqa: B008 (Gradio's API)
        return _run(detector, results, upload, microphone, annotation, window, hop, progress)

    with gr.Blocks(title=f"respira · {detector.name}", delete_cache=(300, 900)) as page:
        gr.Markdown(
            f"# Crackles and wheezes · {detector.name}\n"
            f"Upload a lung-sound recording ({_listed(types)}; up to {MAX_SECONDS / 60:.0f} minutes) "
            "or record one, then press **Analyse**."
        )
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Recording", file_types=types, elem_id="respira-upload")
                microphone = gr.Audio(
                    sources=["microphone"], type="filepath", label="…or record", elem_id="respira-microphone"
                )
                annotation = gr.File(
                    label="ICBHI annotation .txt (optional: predict its cycles)",
                    file_types=[".txt"],
                    elem_id="respira-annotation",
                )
                with gr.Row():
                    window_box = gr.Number(value=window, label="window (s)", elem_id="respira-window")
                    hop_box = gr.Number(value=hop, label="hop (s)", elem_id="respira-hop")
                button = gr.Button("Analyse", variant="primary", elem_id="respira-run")
                if examples:
                    gr.Examples([[str(path)] for path in examples], inputs=[upload], label="Examples")
                gr.Markdown(
                    "### About the model\n" + "\n".join(f"- {fact}" for fact in facts),
                    elem_id="respira-about",
                )
            with gr.Column(scale=2):
                message = gr.Markdown(elem_id="respira-message")
                verdict = gr.Markdown(elem_id="respira-verdict")
                figure = gr.Image(  # no label badge: it would cover the figure's subtitle
                    label="Recording",
                    show_label=False,
                    type="filepath",
                    interactive=False,
                    elem_id="respira-figure",
                )
                events = gr.Dataframe(
                    headers=list(EVENT_TABLE_COLUMNS),
                    label="Detected events (onset and offset in seconds)",
                    interactive=False,
                    elem_id="respira-events",
                    max_height=240,
                )
                table = gr.Dataframe(
                    headers=_table([])["headers"],
                    label="Per window",
                    interactive=False,
                    elem_id="respira-table",
                    max_height=360,
                )
                downloads = gr.File(
                    label="Downloads (windows CSV and JSON, events CSV, figure PNG)",
                    file_count="multiple",
                    interactive=False,
                    elem_id="respira-downloads",
                )
        button.click(
            run,
            inputs=[upload, microphone, annotation, window_box, hop_box],
            outputs=[message, verdict, figure, table, events, downloads],
            concurrency_limit=1,
        )
    with _no_queue_summary():
        page.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    # everything alive now (the model, gradio, matplotlib) lives as long as the server: the collector
    # leaves it alone, so the collection after each analysis only looks at that analysis' objects
    gc.collect()
    gc.freeze()
    page.respira_results = results  # type: ignore[attr-defined]  (respira app closes it, the benchmark reads it)
    return page


def launch(
    page: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    examples: Sequence[str | Path] = (),
    block: bool = True,
) -> gr.Blocks:
    """Serve ``page`` on ``host:port``; ``block=False``: in the background (``page.close()`` stops it)."""
    folders = sorted({str(Path(path).resolve().parent) for path in examples})
    page.launch(
        server_name=host,
        server_port=port,
        allowed_paths=folders,
        prevent_thread_lock=not block,
        show_error=False,
        quiet=True,
    )
    return page

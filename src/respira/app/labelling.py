"""What the labelling page (``respira label``) shows and saves: a :class:`LabelSession` over one
``labels.csv``, each answer written at once (events to ``events.csv``), atomically.
"""

from __future__ import annotations

import io
import math
import shlex
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.labelled import EVENTS_FILE, LABELS_FILE, MarkedEvent, format_events_csv, read_events_csv
from ..data.labels_csv import ANSWERS, PATIENT_PATTERN_EXAMPLE, LabelsTable, TableRow, hold_labels
from ..models.respira.audio_decoding import audio_header, check_whole, encode_wav, is_real, read_audio
from ..models.respira.decision import thresholds_of
from ..models.respira.labels import MULTI_LABEL_NAMES
from ..screening.sources import audio_files
from ..utils.files import check_output_folder, is_occupied, write_text_atomic
from ..utils.messages import one_line

MINIMUM_SHOWN_S = 1.0
"""Seconds a recording is on the page, its spectrogram drawn and its audio loaded, before the page takes
an answer for it (a key, Enter or a click); the page states it (``minimum_shown_s`` in its state)."""
PREFETCH = 3
"""How many recordings after the one shown are prepared (and fetched by the page) while it plays."""
SPECTROGRAM_TOP = 4000.0
"""The highest frequency (Hz) the page's spectrogram shows (crackles and wheezes lie below it); lower for a
recording whose own rate holds less (half its rate)."""


@dataclass(frozen=True)
class Prepared:
    """One recording ready to show."""

    duration: float
    wav: bytes
    png: bytes
    windows: list[dict[str, float]]
    frequencies: list[dict[str, Any]]


def spectrogram_top(recorded_rate: int | None) -> float:
    """The top (Hz) of the page's spectrogram of a recording made at ``recorded_rate``: half that rate (it
    holds nothing above), at most :data:`SPECTROGRAM_TOP` (``None``: a rate the header does not give)."""
    return SPECTROGRAM_TOP if recorded_rate is None else min(SPECTROGRAM_TOP, recorded_rate / 2)


def spectrogram_png(
    waveform: np.ndarray, rate: int, top: float = SPECTROGRAM_TOP
) -> tuple[bytes, list[dict[str, Any]]]:
    """The mel spectrogram ``respira predict --plot`` draws, as a PNG of its bands from 0 Hz up to ``top``,
    and the frequency axis's ticks: ``hz``, ``label`` and ``at`` (height in the image, 0 bottom to 1 top)."""
    from matplotlib import colormaps
    from PIL import Image

    from ..reports.spectrogram import TOP_DB, mel_spectrogram_db

    spectrogram = mel_spectrogram_db(waveform, rate)
    bands = int(np.count_nonzero(spectrogram.frequency_edges[:-1] < top))
    shown = spectrogram.db[:bands][::-1]
    colours = (colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    image = Image.fromarray(colours[((shown / TOP_DB + 1) * 255).astype(np.uint8)], "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    edges = spectrogram.frequency_edges[: bands + 1]
    step = 500.0 if top <= 2000 else 1000.0
    ticks = [
        {
            "hz": float(hz),
            "label": f"{hz / 1000:g} kHz" if hz >= 1000 else f"{hz:g} Hz",
            "at": float(np.interp(hz, edges, np.linspace(0, 1, bands + 1))),
        }
        for hz in np.arange(0.0, top + 1, step)
    ]
    return buffer.getvalue(), ticks


PATIENTS_NEEDED = "each recording's patient (labels.csv has no patient column)"
"""What fit-site lacks of a labels file that names no patient (each recording counts as its own)."""


class LabelSession:
    """The state of the labelling page over ``labels_file``, with ``detector``'s window probabilities."""

    def __init__(self, labels_file: str | Path, detector: Any, *, model: str, minimum_units: int) -> None:
        self.labels_file = Path(labels_file)
        self.table = LabelsTable.read(self.labels_file)  # checked before anything else is done
        self._text = self.table.text()  # labels.csv as this session last read or wrote it
        self.events_file = self.labels_file.parent / EVENTS_FILE
        self.detector = detector
        self.model = model
        self.minimum_units = minimum_units
        self.rate = detector.sampling_rate
        self.thresholds = thresholds_of(detector.config)
        self._files = {row.file: row for row in self.table.rows}
        self._audio = [path.resolve() for path in audio_files(self.labels_file.parent)]  # what it counts
        self._fit_site: tuple[tuple[int, int] | None, str] | None = None  # fit_site_command's, by its folder
        self.events: list[MarkedEvent] = []
        self._held = hold_labels(self.labels_file)  # one writer at a time: a second session is refused
        if self.events_file.is_file():
            try:
                self.events = read_events_csv(
                    self.events_file,
                    files=self._files,
                    duration=lambda file: audio_header(self._files[file].path).duration,
                )
            except BaseException:
                self._held.release()
                raise
        self.skipped: set[int] = set()
        self.answered: list[Path] = []  # the rows answered in this session (their recordings), oldest first
        self.lock = threading.RLock()
        self._prepared: dict[int, Future[Prepared]] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="respira-label-prepare")

    def serving(self, url: str) -> None:
        """Say where the page serves to a second session refused the labels file."""
        self._held.tell(f"serving {url}")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._held.release()

    # ------------------------------------------------------------------ which recording, and its data
    def pending(self) -> list[int]:
        """The rows not yet answered, in the file's order: of the batch ``respira suggest`` chose (the rows
        with a reason) when there is one; once it is answered, the other rows wait for the next round."""
        table = self.table
        batch = {at for at, row in enumerate(table.rows) if table.cell(row, "reason")}
        return [
            at
            for at, row in enumerate(table.rows)
            if table.answer_of(row) is None and (not batch or at in batch)
        ]

    def current(self) -> int | None:
        """The row to show: the first pending one not skipped (once only skipped ones are left, those)."""
        with self.lock:
            pending = self.pending()
            if pending and all(at in self.skipped for at in pending):
                self.skipped.clear()
            return next((at for at in pending if at not in self.skipped), None)

    def _prepare(self, at: int) -> Prepared:
        row = self.table.rows[at]
        waveform = read_audio(row.path, self.rate, name=row.file)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a recording the model cannot judge is labelled all the same
            predicted = self.detector.predict(waveform, self.rate)
        windows = [
            {name: round(float(window[name]), 4) for name in ("start", "end", *MULTI_LABEL_NAMES)}
            for window in predicted.rows
        ]
        wav = encode_wav(np.clip(waveform, -1.0, 1.0), self.rate, "PCM_16")
        png, frequencies = spectrogram_png(
            waveform, self.rate, spectrogram_top(audio_header(row.path).sampling_rate)
        )
        return Prepared(waveform.shape[0] / self.rate, wav, png, windows, frequencies)

    def prepared(self, at: int) -> Future[Prepared]:
        """Row ``at`` read, predicted and drawn (in the background, in the order asked; the same future for
        each call while the :data:`PREFETCH` + 2 rows asked last are kept)."""
        with self.lock:
            future = self._prepared.pop(at, None) or self._pool.submit(self._prepare, at)
            self._prepared[at] = future  # the last asked, last
            for old in list(self._prepared)[: -(PREFETCH + 2)]:
                self._prepared.pop(old)  # not cancelled: a request may be waiting for it
            return future

    def upcoming(self, at: int) -> list[int]:
        """The :data:`PREFETCH` rows the page shows after row ``at`` (once it is answered), in that order."""
        following = [other for other in self.pending() if other != at and other not in self.skipped]
        return sorted(following, key=lambda other: (other < at, other))[:PREFETCH]  # then from the top

    # ------------------------------------------------------------------ what the page reads
    def state(self, at: Any = None) -> dict[str, Any]:
        """What the page shows (JSON): row ``at`` (an answered one, to change its answer), else the next to
        answer (``None`` when all are answered); the progress, this session's answers (newest first), the
        rows to fetch ahead and :data:`MINIMUM_SHOWN_S`."""
        with self.lock:
            asked = at
            at = self.current() if asked is None else self._row(asked)
            state: dict[str, Any] = {
                "progress": self.progress(),
                "thresholds": list(self.thresholds),
                "minimum_shown_s": MINIMUM_SHOWN_S,
                "answered": self.answers(),
                "upcoming": [],
            }
            if at is None:
                state["recording"] = None
                state["done"] = self.done()
                return state
            row = self.table.rows[at]
            self.prepared(at)
            if asked is None:  # the next to answer: the ones after it prepared while it plays
                state["upcoming"] = self.upcoming(at)
                for later in state["upcoming"]:
                    self.prepared(later)
        try:
            prepared = self.prepared(at).result()
        except Exception as error:  # a recording that does not decode: said in the page, answerable (P, S)
            self._prepared.pop(at, None)
            state["recording"] = {"index": at, "file": row.file, "line": row.line, "error": one_line(error)}
            return state
        state["recording"] = {
            "index": at,
            "file": row.file,
            "line": row.line,
            "patient": self.table.cell(row, "patient") or None,
            "reason": self.table.cell(row, "reason") or None,
            "answer": self.table.answer_of(row),  # sent back with the answer (two tabs: told of the other's)
            "duration": prepared.duration,
            "windows": prepared.windows,
            "frequencies": prepared.frequencies,
            "events": [
                {"onset": e.onset, "offset": e.offset, "type": e.type}
                for e in self.events
                if e.file == row.file
            ],
        }
        return state

    def answers(self) -> list[dict[str, Any]]:
        """This session's answers as the labels file holds them now, newest first (each changeable)."""
        rows = {row.path: (at, row) for at, row in enumerate(self.table.rows)}
        listed = [rows[path] for path in reversed(self.answered) if path in rows]
        return [
            {"index": at, "file": row.file, "line": row.line, "answer": self.table.answer_of(row)}
            for at, row in listed
        ]

    def done(self) -> dict[str, str]:
        """What the page says when no recording is left to show, and the command to run next (fit-site
        once its minimum is reached, else suggest: the next batch, or the patients named)."""
        progress = self.progress()
        left = progress["recordings"] - progress["recordings_done"] - len(self.pending())  # not in the batch
        if not left:
            what = "Every recording is answered."
        else:
            were = "recordings were" if left > 1 else "recording was"
            what = f"The suggested batch is done; {left} other {were} not suggested."
        if progress["minimum_reached"]:
            return {"text": what, "next": progress["fit_site"]}
        open_units = {self.table.unit_of(row) for row in self.table.rows if self.table.answer_of(row) is None}
        left_to_label = len(open_units) + len(self._unlisted())
        named = self.unit_name == "patients"
        if named and not left_to_label:
            lacking = ", ".join(progress["lacking"])
            return {
                "text": f"{what} fit-site's minimum is not reached ({lacking}): no recording is left.",
                "next": "",
            }
        more = max(1, min(self.minimum_units - progress["units_done"], left_to_label)) if named else 0
        other = "" if self.labels_file.name == LABELS_FILE else " --overwrite"  # the archive's own: no need
        pattern = "" if named else " --patient_pattern 'REGEX'"
        folder, labels = (shlex.quote(str(path)) for path in (self.labels_file.parent, self.labels_file))
        command = (
            f"respira suggest {shlex.quote(self.model)} --data_dir {folder} --budget {more}{pattern} "
            f"--output {labels}{other}"
        )
        if named:
            return {
                "text": f"{what} fit-site's minimum is not reached: suggest the next batch.",
                "next": command,
            }
        return {
            "text": f"{what} fit-site needs {PATIENTS_NEEDED}: name them with this command, REGEX a regular "
            "expression whose first group is the patient in the file name (KAUH's: "
            f"'{PATIENT_PATTERN_EXAMPLE}'), or add a patient column by hand.",
            "next": command,
        }

    def _unlisted(self) -> list[Path]:
        """The audio files of the labels file's folder that it does not list."""
        listed = {row.path for row in self.table.rows}
        return [path for path in self._audio if path not in listed]

    def fit_site_command(self) -> str:
        """The ``respira fit-site`` command for the labels file's folder: its output beside the folder, never
        in it; ``--overwrite`` where the folder exists and holds only what respira wrote there (the safe
        writer's rule), else the first free ``-2``, ``-3``... name. Judged again only when the first
        name's folder changed (a fit written or removed), not at each answer."""
        folder = self.labels_file.parent.resolve()
        first = folder.parent / f"{folder.name}-site-model"
        try:
            stamp = (first.stat().st_ino, first.stat().st_mtime_ns)
        except OSError:
            stamp = None
        if self._fit_site is not None and self._fit_site[0] == stamp:
            return self._fit_site[1]
        for number in range(1, 100):
            output = first.with_name(f"{first.name}{'' if number == 1 else f'-{number}'}")
            try:
                check_output_folder(output, overwrite=True)
            except OSError:
                continue
            break
        overwrite = " --overwrite" if is_occupied(output) else ""
        command = (
            f"respira fit-site {shlex.quote(self.model)} --data_dir {shlex.quote(str(folder))} --output_dir "
            f"{shlex.quote(str(output))}{overwrite}"
        )
        self._fit_site = (stamp, command)
        return command

    def progress(self) -> dict[str, Any]:
        """Units labelled (the ones fit-site counts) and recordings answered, of every audio file of the
        labels file's folder; whether fit-site's minimum is reached; its command; all in one ``line``."""
        table = self.table
        answers = [(table.unit_of(row), table.answer_of(row)) for row in table.rows]
        unlisted = self._unlisted()
        units = {unit for unit, _ in answers} | (
            {str(p) for p in unlisted} if self.unit_name != "patients" else set()
        )
        labelled = [(unit, answer) for unit, answer in answers if answer not in (None, "poor")]
        labelled_units = len({unit for unit, _ in labelled})
        normal = sum(answer == "normal" for _, answer in labelled)
        lacking = [] if self.unit_name == "patients" else [PATIENTS_NEEDED]
        if labelled_units < self.minimum_units:
            more = self.minimum_units - labelled_units
            lacking.append(f"{more} more {self.unit_name if more > 1 else self.unit_name[:-1]}")
        if not normal:
            lacking.append("no normal recording yet")
        if normal == len(labelled):
            lacking.append("no recording with crackles or wheezes yet")
        folder = self.labels_file.parent
        minimum = f"{self.minimum_units} patients with a normal and an abnormal recording"
        done = sum(answer is not None for _, answer in answers)
        reached = f"fit-site's minimum ({minimum}) is reached"
        missing = f"; {len(unlisted)} of the folder not in {self.labels_file.name}" if unlisted else ""
        line = (
            f"{labelled_units} of {len(units)} {self.unit_name} labelled "
            f"({done} of {len(answers) + len(unlisted)} recordings answered{missing}); "
            + (f"{reached}." if not lacking else f"fit-site needs {minimum}: {', '.join(lacking)}.")
        )
        return {
            "line": line,
            "units": len(units),
            "units_done": labelled_units,
            "recordings": len(answers) + len(unlisted),
            "recordings_done": done,
            "minimum_reached": not lacking,
            "lacking": lacking,
            "fit_site": self.fit_site_command(),
            "fit_site_note": None
            if self.labels_file.name == LABELS_FILE
            else f"fit-site reads {folder / LABELS_FILE}: save {self.labels_file.name} there under that name",
        }

    @property
    def unit_name(self) -> str:
        return "patients" if "patient" in self.table.columns else "recordings"

    # ------------------------------------------------------------------ what the page writes
    def _row(self, at: Any) -> int:
        return check_whole(at, "index", 0, len(self.table.rows) - 1, exact=True)  # a JSON 0.0 is no index

    def answer(self, at: Any, answer: str, seen: str | None = None) -> str | None:
        """Write ``answer`` for row ``at`` into ``labels.csv`` (atomically), or skip it. ``seen``: the answer
        the page showed; returns a line when another tab answered since; :class:`LabelsEditedError` when the
        row was edited by hand since (other rows' hand edits are kept)."""
        with self.lock:
            at = self._row(at)
            if answer == "skip":
                self.skipped.add(at)
                return None
            if answer not in ANSWERS:
                raise ValueError(f"answer {answer!r} is not one of {', '.join([*ANSWERS, 'skip'])}")
            if seen is not None and seen not in ANSWERS:
                raise ValueError(f"seen {seen!r} is not one of {', '.join(ANSWERS)} or null")
            row = self._follow(self.table.rows[at])
            earlier = self.table.answer_of(row)
            self.table.set_answer(row, answer)
            try:
                self.table.save(held=True)
            except BaseException:
                self.table = LabelsTable.parse(self.labels_file, self._text)  # as the file still is
                raise
            self._text = self.table.text()
            self._prepared.pop(self.table.rows.index(row), None)
            if row.path not in self.answered:
                self.answered.append(row.path)
            if earlier is None or earlier in (seen, answer):
                return None
            return f"{row.file} was answered {earlier!r} in another tab; now {answer!r}"

    def _follow(self, row: TableRow) -> TableRow:
        """``row`` in ``labels.csv`` as it is now, read again when it changed since this session last read
        or wrote it (:class:`LabelsEditedError` when ``row`` itself changed or is gone)."""
        text = self.labels_file.read_bytes().decode("utf-8")
        if text == self._text:
            return row
        seen = self.table.cells_of(row)
        table = LabelsTable.parse(self.labels_file, text)
        skipped = {self.table.rows[at].path for at in self.skipped}
        self.table, self._text = table, text
        self.skipped = {at for at, other in enumerate(table.rows) if other.path in skipped}
        self._files = {other.file: other for other in table.rows}
        self._prepared.clear()
        now = next((other for other in table.rows if other.path == row.path), None)
        if now is None:
            raise LabelsEditedError(
                f"{self.labels_file.name} no longer lists {row.file} (edited by hand since the page read "
                "it): reload"
            )
        if table.cells_of(now) != seen:
            raise LabelsEditedError(
                f"{self.labels_file.name} line {now.line} was edited by hand since the page read it: reload"
            )
        return now

    def set_events(self, at: Any, events: list[dict[str, Any]]) -> None:
        """Make ``events`` row ``at``'s marked events (replacing its earlier ones) and write ``events.csv``
        (a new one with ``labels.csv``'s mode)."""
        with self.lock:
            row = self.table.rows[self._row(at)]
            duration = self.prepared(at).result().duration
            marked = []
            for event in events:
                onset, offset = (_seconds(event, key, duration) for key in ("onset", "offset"))
                if not 0 <= onset < offset or event["type"] not in MULTI_LABEL_NAMES:
                    raise ValueError(
                        f"event {event!r}: need 0 <= onset < offset <= {duration:.3f} and a type"
                    )
                marked.append(MarkedEvent(row.file, onset, offset, event["type"]))
            events_now = [e for e in self.events if e.file != row.file] + marked
            mode = self.labels_file.stat().st_mode & 0o7777
            write_text_atomic(self.events_file, format_events_csv(events_now), new_mode=mode)
            self.events = events_now


def _seconds(event: Any, key: str, duration: float) -> float:
    """``event[key]``, a time in seconds: a finite JSON number (never a string), at most ``duration``."""
    value = event.get(key) if isinstance(event, dict) else None
    if not is_real(value) or not -math.inf < value < math.inf:
        raise ValueError(f"event {event!r}: {key} must be a finite number of seconds, not {value!r}")
    return round(float(max(-1, min(value, duration))), 3)  # never a float of a huge integer


class LabelsEditedError(ValueError):
    """The answered row of ``labels.csv`` was edited by hand since the page read it (the message says so
    in one line, for the page)."""

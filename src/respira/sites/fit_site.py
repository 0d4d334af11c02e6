"""``respira fit-site`` from Python: make a model serve a site from a few of its labelled patients."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.respira.audio_decoding import check_whole
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL_NAMES
from ..records.site_fit import LabelRecord, SiteFitRecord, candidate_row
from ..records.site_verdict import SiteVerdict, format_gain
from ..utils.tables import format_percent, format_score
from .options import CANDIDATES, GIVEN, HEAD_CANDIDATES, check_site_name
from .site_sample import LabelledRecording, SiteRecordings, SiteSample, read_site_recordings

if TYPE_CHECKING:
    from .out_of_sample import SiteFit


@dataclass(frozen=True)
class SiteFitResult:
    """What :func:`fit_site_folder` did (``output_dir`` ``None`` when nothing was written)."""

    output_dir: Path | None
    chosen: tuple[str, str]
    thresholds: tuple[float, float]
    scores: list[dict[str, Any]]
    """The rows of ``nested_cv.csv``: per candidate, chosen and all-normal, the scores with intervals."""
    applies: bool
    written: bool
    record: SiteFitRecord = field(repr=False)
    """Everything ``site_fit.json`` holds."""
    curve: tuple[dict[str, Any], ...] = ()  # curve_means

    def score(self, candidate: str) -> float:
        """The out-of-sample score of ``candidate`` (``chosen``, ``as_is``, ``all_normal``...)."""
        return float(candidate_row(self.scores, candidate)["icbhi_score"])

    @property
    def verdict(self) -> SiteVerdict:
        """The fitted site's verdict, as the written folder's card and ``predict`` say it."""
        verdict = self.record.verdict()
        if verdict is None:  # not under `python -O`'s stripped asserts: a None verdict would pass on silently
            raise ValueError("the nested cross-validation scored no chosen procedure or all-normal")
        return verdict

    def line(self) -> str:
        """One line: the out-of-sample scores (with 95 % intervals) and the chosen procedure's paired gain."""

        def scored(candidate: str) -> str:
            row = candidate_row(self.scores, candidate)
            return format_score(row["icbhi_score"], [row.get("icbhi_score_low"), row.get("icbhi_score_high")])

        chosen = ", ".join(f"{n} {c}" for n, c in zip(MULTI_LABEL_NAMES, self.chosen, strict=True))
        units = self.record.units
        unit = "patients" if self.record.units_are_patients else "recordings (each its own unit)"
        gain = self.verdict.gain
        gained = "" if gain is None else f"; gain over the model as is {format_gain(*gain)}"
        alone = "".join(
            f"; {label} left as the model has it: {words}"
            for label, words in (self.record.not_measurable or {}).items()
        )
        return (
            f"out of sample on {self.record.site_name} (nested cross-validation over {units} {unit}; "
            f"patient-bootstrap 95 % intervals): chosen ({chosen}; recording rule "
            f"{self.record.recording_aggregation}) {scored('chosen')}, model as is "
            f"{scored('as_is')}, all-normal {format_percent(self.score('all_normal'))}{gained}{alone}"
        )

    def verdict_line(self) -> str:
        """One line: whether it serves the site, or which part is not shown."""
        verdict = self.verdict
        if verdict.serves:
            return (
                f"it serves {verdict.name}: its interval clears all-normal and its gain over the model as "
                "is holds"
            )
        return f"not shown {' nor '.join(verdict.not_shown())}"

    def labels_line(self) -> str:
        """One line: per label, fitted (served: its own gain and AUC shown out of sample) or left as the base
        model has it, and why."""
        return f"per label on {self.verdict.name}: {self.verdict.labels_words()}"

    def curve_line(self) -> str:
        """One line: the learning curve's means by labelled units, on how many held-out units each draw was
        scored and how many draws kept the model as is, and the fewest that reach the nested
        cross-validation's score."""
        if not self.curve:
            return ""
        unit = "patients" if self.record.units_are_patients else "recordings"

        def held_out(row: Mapping[str, Any]) -> str:
            return f"{self.record.units - row['units']} held-out {unit}"

        def kept(row: Mapping[str, Any]) -> str:
            if not row["kept"]:
                return ""
            if row["kept"] == row["draws"]:
                return f", every one of its {row['draws']} draws kept the model as is"
            return f", {row['kept']} of its {row['draws']} draws kept the model as is"

        def point(row: Mapping[str, Any]) -> str:
            means = f"{100 * row['chosen']:.1f} ({100 * row['as_is']:.1f})"
            return f"{row['units']}: {means} on {held_out(row)}{kept(row)}"

        points = ", ".join(point(row) for row in self.curve)
        draws = max(row["draws"] for row in self.curve)
        target = self.score("chosen")
        goal = f"the nested cross-validation's {format_percent(target)} on all {self.record.units} {unit}"
        reached = [row for row in self.curve if row["chosen"] >= target]
        if reached:
            first = reached[0]
            reach = f"its mean first reaches {goal} at {first['units']} labelled {unit} (on {held_out(first)}"
            reach += (
                "; every draw there kept the model as is: the model's own score, not a fit's)"
                if first["kept"] == first["draws"]
                else ")"
            )
        else:
            reach = (
                f"no size drawn reaches {goal} on average: its draws cannot say how many more {unit} would"
            )
        return (
            f"learning curve (the procedure fitted on that many labelled {unit}, each draw scored on all the "
            f"others; mean of up to {draws} draws; the model as is in brackets), by labelled {unit}: "
            f"{points} (if it still rises at its right end, labelling more would pay); {reach}"
        )


def curve_means(rows: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Per size of a learning curve: the draws, how many of them kept the model as is (chose ``as_is``
    for both labels), and the mean scores of the chosen procedure and as is."""
    from .out_of_sample import draw_scores

    scores = draw_scores(rows)
    chosen, as_is = scores.get("chosen", {}), scores.get("as_is", {})
    kept: dict[int, int] = {}
    for row in rows:
        if row.get("candidate") == "chosen" and row.get("chosen") == "as_is/as_is":
            kept[int(row["units"])] = kept.get(int(row["units"]), 0) + 1
    return tuple(
        {"units": size, "draws": len(chosen[size]), "kept": kept.get(size, 0)}
        | {
            name: math.fsum(values[size]) / len(values[size])
            for name, values in (("chosen", chosen), ("as_is", as_is))
        }
        for size in sorted(chosen.keys() & as_is.keys())
    )


def check_candidates(candidates: Sequence[str] | None, refusal: str | None) -> tuple[str, ...]:
    """The candidates to fit: ``candidates`` (checked), or all; as is and thresholds only when the model
    cannot take a head (``refusal`` says why)."""
    if candidates is None:
        return ("as_is", "thresholds") if refusal else CANDIDATES
    chosen = tuple(dict.fromkeys(candidates))
    unknown = [c for c in chosen if c not in CANDIDATES]
    if unknown or not chosen:
        raise ValueError(f"--candidates must be among {', '.join(CANDIDATES)}, got {list(candidates)!r}")
    if "as_is" not in chosen:
        chosen = ("as_is", *chosen)  # the model as is is what every other procedure must beat
    if refusal and any(c in HEAD_CANDIDATES for c in chosen):
        raise ValueError(
            f"the model cannot take a site head: {refusal}; only --candidates as_is thresholds are possible "
            "for it"
        )
    return chosen


def fit_site_folder(
    model: str | Path,
    data_dir: str | Path | Sequence[str | Path],
    output_dir: str | Path,
    *,
    dataset: str = "labelled",
    site_name: str | None = None,
    apply_anyway: bool = False,
    outer_folds: int = 5,
    seed: int = 0,
    candidates: Sequence[str] | None = None,
    selection: str | None = None,
    chosen_by: str | Path | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    onnx: bool | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> SiteFitResult:
    """Fit ``model`` to the site in ``data_dir`` (nested patient-wise cross-validation) and write it to
    ``output_dir`` only when it beats all-normal and the model as is out of sample (or ``apply_anyway``,
    flagged; or ``chosen_by``: the procedure was chosen elsewhere, :func:`check_chosen_by`). Every input is
    checked before any audio is read; one-line notes go to stderr; ``onnx=False``: no ``model.onnx``."""
    from ..inference.detector import Detector
    from ..models.respira.decision import is_multi_label
    from ..utils.threads import apply_num_threads
    from .choice import check_selection
    from .out_of_sample import fit_sample, learning_curve
    from .site_folder import write_site_folder
    from .site_sample import site_head_refusal

    apply_num_threads(requested=threads)  # BENCHMARKS.md: fit-site beside other work
    output_dir = Path(output_dir).expanduser()
    study = check_chosen_by(chosen_by, candidates, selection_given=selection is not None)
    selection = GIVEN if study is not None else check_selection(selection)
    for name, value, least in (("outer_folds", outer_folds, 2), ("batch_size", batch_size, 1)):
        if value is not None:
            check_whole(value, f"--{name}", least)
    _check_output(output_dir, model, overwrite)
    site = check_site_name(site_name, data_dir, dataset)
    sample_files = read_site_recordings(data_dir, dataset, need_patients=True)  # before any model loads
    detector = Detector.from_pretrained(model, device=device, onnx=False)
    if not is_multi_label(detector.config):
        raise ValueError(f"{model} is a single-label model: fit-site fits crackle and wheeze flags")
    refusal = site_head_refusal(detector.model)
    kinds = check_candidates(candidates, refusal)
    if refusal and candidates is None:
        note = f"the model cannot take a site head: {refusal}; fitting as is and re-tuned thresholds only"
        print(note, file=sys.stderr)
    started = time.perf_counter()
    sample = _embed_sample(detector, model, sample_files, batch_size)
    embedded = time.perf_counter()
    fit = fit_sample(sample, outer_folds=outer_folds, seed=seed, candidates=kinds, selection=selection)
    options = {"candidates": kinds, "selection": selection, "keep": fit.kept}  # the procedure written
    curve = learning_curve(sample, draws=3, seed=seed, **options).rows
    fitted = time.perf_counter()
    written = bool(fit.applies or apply_anyway or study is not None)
    record = _fit_record(
        model,
        site,
        sample_files,
        sample,
        fit,
        {"candidates": kinds, "selection": selection, "outer_folds": outer_folds, "seed": seed},
        written=written,
        seconds={"embedding": embedded - started, "fitting": fitted - embedded},
        chosen_by=study,
    )
    result_dir = None
    if written:
        result_dir = write_site_folder(
            detector.model, fit, record, output_dir, base=model, curve=curve, overwrite=overwrite,
            onnx=onnx is not False,
        )  # fmt: skip
    scores = record.nested_cv
    return SiteFitResult(
        result_dir, fit.chosen, fit.thresholds, scores, fit.applies, written, record, curve_means(curve)
    )


def _embed_sample(
    detector: Any, model: str | Path, files: SiteRecordings, batch_size: int | None
) -> SiteSample:
    """The sample of ``files``: the model's view of each recording ``suggest`` cached beside the folder's
    ``labels.csv`` (unchanged since), read from there and said in one line; the others' embedded."""
    from dataclasses import replace

    from .site_sample import CACHE_FOLDER, cache_file, embed_cached, embed_recordings

    folder = files.data_dir[0] if isinstance(files.data_dir, tuple) else files.data_dir
    units = f"{files.units} {'patients' if files.units_are_patients else 'units'}"

    def embed(fresh: list[LabelledRecording], missing: list[int], reused: int) -> SiteSample:
        some = f"{len(fresh)} of " if reused else ""
        described = f"embedding {some}the labelled recordings of {units}"
        return embed_recordings(detector, fresh, batch_size=batch_size, description=described)

    stored = cache_file(model, folder / CACHE_FOLDER)
    sample, ran = embed_cached(files.recordings, stored, embed, save=False)
    if ran < len(files.recordings):
        print(
            f"the model's view of {len(files.recordings) - ran} of the {len(files.recordings)} labelled "
            f"recordings read from suggest's cache, {stored.parent}",
            file=sys.stderr,
        )
    return replace(sample, units_are_patients=files.units_are_patients)


def _fit_record(
    model: str | Path,
    site: str,
    sample_files: SiteRecordings,
    sample: SiteSample,
    fit: SiteFit,
    settings: dict[str, Any],
    *,
    written: bool,
    seconds: dict[str, float],
    chosen_by: dict[str, str] | None = None,
) -> SiteFitRecord:
    """The fit's record (what the site folder's ``site_fit.json`` and card say): its data, the procedure
    asked for (``settings``: candidates, selection, outer folds, seed), what it chose and how it scored."""
    from ..pretrained.shipped import base_model_name
    from ..utils.files import nan_to_none
    from .choice import recording_rule_words, unmeasurable_labels

    audio = float(sum(r.duration or 0.0 for r in sample.recordings))
    return SiteFitRecord(
        procedure="fit-site",
        base_model=base_model_name(model),
        dataset=sample_files.dataset,
        site_name=site,
        data_dir=_folders(sample_files.data_dir),
        units=sample_files.units,
        units_are_patients=sample_files.units_are_patients,
        fitted_units=sorted({recording.unit for recording in sample_files.recordings}),
        recordings=len(sample_files.recordings),
        left_out=sample_files.left_out,
        label_mix=dict(zip(CLASS_NAMES, np.bincount(sample.classes, minlength=4).tolist(), strict=True)),
        not_measurable={MULTI_LABEL_NAMES[i]: why for i, why in unmeasurable_labels(sample.labels).items()},
        windows=int(sample.embeddings.shape[0]),
        audio_seconds=audio,
        candidates=list(settings["candidates"]),
        selection=settings["selection"],
        threshold_rule="expected",  # respira.sites.heads.expected_thresholds: what the card says
        outer_folds=settings["outer_folds"],
        seed=settings["seed"],
        chosen=list(fit.chosen),
        recording_aggregation=fit.aggregation,
        recording_top_k=fit.top_k,
        recording_rule=recording_rule_words(fit, sample),
        thresholds=[float(t) for t in fit.thresholds],
        base_thresholds=[float(t) for t in sample.base_thresholds],
        labels={label.label: LabelRecord.of(label) for label in fit.labels},
        applies=bool(fit.applies),
        applied_anyway=bool(written and not fit.applies and chosen_by is None),
        chosen_by=chosen_by,
        nested_cv=nan_to_none(fit.outer),
        seconds=seconds,
        fit=fit.to_json(),
    )


def check_chosen_by(
    chosen_by: str | Path | None, candidates: Sequence[str] | None, *, selection_given: bool
) -> dict[str, str] | None:
    """``--chosen_by``'s study (its file's name and SHA-256), checked: a JSON object, with one procedure
    named by ``--candidates`` besides as_is and no ``--selection``; ``None`` without it."""
    import json

    from ..utils.files import sha256_of

    if chosen_by is None:
        return None
    path = Path(chosen_by).expanduser()
    try:
        study = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--chosen_by {chosen_by}: not a readable JSON results file ({error})") from None
    if not isinstance(study, dict):
        raise ValueError(f"--chosen_by {chosen_by}: not a JSON object of a study's results")
    named = [c for c in dict.fromkeys(candidates or ()) if c != "as_is"]
    if len(named) != 1 or selection_given:
        raise ValueError(
            "--chosen_by writes the one procedure its study chose: pass --candidates with exactly one of "
            f"{', '.join(c for c in CANDIDATES if c != 'as_is')} and no --selection, got --candidates "
            f"{list(candidates or [])!r}" + (" and a --selection" if selection_given else "")
        )
    return {"file": path.name, "sha256": sha256_of(path), "procedure": named[0]}


def _folders(data_dir: Path | tuple[Path, ...]) -> str | list[str]:
    return [str(d) for d in data_dir] if isinstance(data_dir, tuple) else str(data_dir)


def _check_output(output_dir: Path, model: str | Path, overwrite: bool) -> None:
    from ..utils.files import check_output_folder

    source = Path(model).expanduser()
    if source.is_dir() and output_dir.resolve() == source.resolve():
        raise ValueError(f"--output_dir {output_dir} is MODEL itself; the fitted model needs a new folder")
    message = f"output folder {output_dir} exists and is not empty; pass --overwrite to replace it"
    check_output_folder(output_dir, overwrite=overwrite, exists_message=message)

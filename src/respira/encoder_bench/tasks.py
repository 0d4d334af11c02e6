"""The sites ``respira bench`` reads (:func:`read_sites`) and its protocols (:data:`TASKS`), each scoring
every model's frozen linear probe (fit-site's site head: ridge on the window embeddings, its penalty and
thresholds chosen by inner patient-wise cross-validation) with patient-bootstrap 95 % intervals, beside the
all-normal and class-prior baselines of the same recordings or cycles."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.protocol import Protocol
from ..metrics.baselines import BASELINE_PREFIX, trivial_baselines
from ..metrics.recording_level import scores_with_intervals
from ..sites.choice import fit_procedure, unit_folds
from ..sites.out_of_sample import _draw, held_out_scores, learning_curve
from ..sites.site_sample import SiteRecordings, SiteSample, read_site_recordings

__all__ = ["BENCH", "PROBE", "TASKS", "Site", "Task", "read_sites", "register_task"]

PROBE = "site_head"
"""The fit-site candidate every encoder is scored by: a linear head on its frozen embeddings alone."""
BASELINES = ("all_normal", "class_prior")


@dataclass(frozen=True)
class Site:
    """One labelled folder: its ``name`` in the leaderboard, its recordings, and for a cycle-labelled corpus
    (ICBHI) each recording's annotated cycles and, when the whole corpus is there, its official split."""

    name: str
    recordings: SiteRecordings
    cycles: tuple[tuple[tuple[float, float, bool, bool], ...], ...] | None = None
    official_test: np.ndarray | None = None  # per recording: True on the official test side


def _cycles(site: SiteRecordings) -> tuple[Any, np.ndarray | None]:
    """Each recording's cycles and, when every recording the split file names is present, its test flags."""
    from ..data.corpora import get_corpus
    from ..data.text_files import corpus_index, read_split_file

    layout = get_corpus(site.dataset).layout(site.data_dir)
    by_recording = dict(tuple(corpus_index(layout).groupby("recording")))
    frames = [by_recording[Path(r.recording_id).stem] for r in site.recordings]
    flags = {"crackle": bool, "wheeze": bool}
    cycles = tuple(
        tuple(frame[["start", "end", *flags]].astype(flags).itertuples(index=False, name=None))
        for frame in frames
    )
    # every recording in the index has its split entry: one entry more names a recording not here
    if layout.split_file is None or len(read_split_file(layout.split_file)) != len(by_recording):
        return cycles, None  # a partial corpus: patient-wise folds instead of the official split
    return cycles, np.array([frame["official_split"].iat[0] == "test" for frame in frames])


def read_sites(data: Sequence[str]) -> list[Site]:
    """The sites ``--data NAME=FOLDER`` names (``NAME`` a registered corpus, e.g. ``kauh``, reads its
    layout; any other name is a folder with ``labels.csv``), each from one folder or several
    (``kauh=A,B``); one-line ``ValueError`` naming the folder for
    one that is missing, names no patient or holds too few."""
    from ..data.corpora import CORPORA
    from ..data.loaders import audio_durations

    sites: list[Site] = []
    for value in data:
        name, _, folder = value.rpartition("=")
        folders = [folder] if Path(folder).expanduser().is_dir() else folder.split(",")  # kauh=A,B
        lacking = next((f for f in folders if not f or not Path(f).expanduser().is_dir()), None)
        if lacking is not None:
            raise ValueError(f"--data {value}: {lacking or value!r} is not a folder (give NAME=FOLDER)")
        name = name or Path(folder).expanduser().resolve().name
        dataset = name if name in CORPORA else "labelled"
        label = CORPORA[name].label if name in CORPORA else name
        if any(site.name == label for site in sites):
            raise ValueError(f"--data {value}: the site {name!r} is named twice")
        try:
            recordings = read_site_recordings(folders[0] if len(folders) == 1 else folders, dataset)
            audio_durations({r.recording_id: Path(r.path) for r in recordings.recordings})  # before any work
        except (OSError, ValueError) as error:
            raise ValueError(f"--data {value}: {error}") from None
        if not recordings.units_are_patients:
            raise ValueError(
                f"--data {value}: {folder} names no patient (labels.csv needs a patient column): the bench "
                "holds patients out, never recordings of a patient it trained on"
            )
        cycle_labelled = CORPORA[dataset].labels == "cycle"
        sites.append(Site(label, recordings, *(_cycles(recordings) if cycle_labelled else ())))
    return sites


def _prior(site: Site, sample: SiteSample) -> dict[str, Any]:
    """The class-prior baseline's row of every item of ``sample``: its expected score (no interval)."""
    prior = trivial_baselines(sample.classes)[f"{BASELINE_PREFIX}class_prior_icbhi_score"]
    return {"entry": "class_prior", "dataset": site.recordings.dataset, "icbhi_score": prior,
            "scored_recordings": len(sample.recordings)}  # fmt: skip


Part = tuple[np.ndarray, np.ndarray, Any]


def paired(sample: SiteSample, parts: Sequence[Part]) -> dict[str, Any]:
    """What pairs two entries of a column over the same patient resamples (JSON-ready): the items' labels
    and patients, and each part's scored positions, classes and probabilities (``None`` for all-normal)."""
    return {
        "labels": np.asarray(sample.labels).tolist(),
        "units": [str(unit) for unit in sample.units],
        "parts": [
            [np.flatnonzero(scored).tolist(), np.asarray(classes).tolist(),
             None if probabilities is None else np.asarray(probabilities).tolist()]
            for scored, classes, probabilities in parts
        ],
    }  # fmt: skip


def _rows(
    column: str, site: Site, sample: SiteSample, predicted: Any, options: Any, layer: str = "last"
) -> list[dict]:
    """The probe's row (``layer``: the hidden state it read) and the baselines' rows of one leaderboard
    column, over every item of ``sample`` (``predicted``: the probe's classes and probabilities of each, or a
    list of them, one per draw: their mean score with its interval)."""
    everything = np.ones(len(sample.recordings), bool)
    draws = predicted if isinstance(predicted, list) else [predicted]
    rows = []
    for entry, parts in (
        ("probe", [(everything, *drawn) for drawn in draws]),
        ("all_normal", [(everything, np.zeros(everything.size, np.int64), None)]),
    ):
        scores = scores_with_intervals(
            sample.labels, sample.units, parts, resamples=options.resamples, seed=options.seed
        )
        rows.append({"column": column, "entry": entry, "dataset": site.recordings.dataset, **scores,
                     "paired": paired(sample, parts)})  # fmt: skip
    rows[0]["layer"] = layer
    return [*rows, {"column": column, **_prior(site, sample)}]


def _view(sample: SiteSample, layer: str, layers: int) -> SiteSample:
    """``sample`` as the probe reads it: of embeddings holding ``layers`` hidden states side by side, the one
    ``layer`` names (a number) or their mean (``"mean"``: transformers' weighted layer sum at its equal
    initial weights); ``"last"``: as it is."""
    if layer == "last":
        return sample

    def chosen(stacked: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(stacked.mean(axis=1) if layer == "mean" else stacked[:, int(layer)])

    head = sample.base_head  # the random head's rows, read as the embeddings are (the probe replaces it)
    if head is not None:
        head = (chosen(np.asarray(head[0]).reshape(len(head[0]), layers, -1)), head[1])
    return replace(
        sample,
        embeddings=chosen(sample.embeddings.reshape(len(sample.embeddings), layers, -1)),
        base_head=head,
    )


def layer_choices(layer: str, layers: int) -> list[str]:
    """The hidden states ``--layer`` lets the probe read of embeddings holding ``layers`` of them: each and
    their mean for ``auto`` (inner cross-validation chooses), else the one it names."""
    if layers == 1:
        return ["last"]
    if layer == "auto":
        return [*map(str, range(layers)), "mean"]
    return ["mean" if layer == "mean" else str(int(layer) % layers)]


@dataclass(frozen=True)
class Probe:
    """A fitted probe: fit-site's rules and the hidden state it reads (:func:`layer_choices`)."""

    rules: dict[str, Any]
    layer: str = "last"
    layers: int = 1

    def predict(self, sample: SiteSample, held: np.ndarray, into: dict[str, Any]) -> None:
        """Its classes and probabilities of the recordings ``held`` of ``sample``, written into ``into``."""
        held_out_scores(_view(sample, self.layer, self.layers), self.rules, held, into)


def _probe(sample: SiteSample, train: np.ndarray | None, options: Any) -> Probe:
    """The probe (fit-site's site head, with the model as is as its baseline) fitted on ``train``; of
    several hidden states, on the one whose site head's inner patient-wise cross-validation scores best."""
    layers = options.layers
    fitted = []
    for layer in layer_choices(options.layer, layers):
        procedure = fit_procedure(
            _view(sample, layer, layers), train, seed=options.seed, candidates=("as_is", PROBE)
        )
        inner = [v for k, v in procedure.inner_scores.items() if k.split("@")[0] == f"{PROBE}/{PROBE}"]
        fitted.append((max(inner, default=-np.inf), -len(fitted), layer, procedure.rules[PROBE]))
    _, _, layer, rule = max(fitted, key=lambda option: option[:2])
    return Probe({PROBE: rule}, layer, layers)


def _layers(probes: Sequence[Probe]) -> str:
    return "/".join(dict.fromkeys(probe.layer for probe in probes))


def _recording(item: Any) -> str:
    """The recording a cycle of a cycle-labelled sample belongs to (its id before ``#``)."""
    return str(item.recording_id).rpartition("#")[0] or str(item.recording_id)


def _folds(site: Site, sample: SiteSample, options: Any) -> tuple[np.ndarray, list[int], str]:
    """Each cycle's fold (its recording's), the folds scored and their name: the suite's where it gives
    them, else the official split when the whole corpus is there, else ``folds`` seeded patient-wise
    folds."""
    given = getattr(options, "splits", {}).get("in_domain", {}).get(site.name)
    if given is not None:
        folds = np.array([given["folds"][_recording(item)] for item in sample.recordings], np.int64)
    elif site.official_test is not None:
        owner = np.repeat(np.arange(len(site.cycles or ())), [len(c) for c in site.cycles or ()])
        given = {"kind": "official split", "test_fold": 1}
        folds = site.official_test[owner].astype(np.int64)
    else:
        given = {"kind": f"{options.folds}-fold", "test_fold": None}
        folds = unit_folds(sample, options.folds, options.seed)
    scored = (
        [int(given["test_fold"])] if given["test_fold"] is not None else list(range(int(folds.max()) + 1))
    )
    return folds, scored, str(given["kind"])


def in_domain(samples: dict[str, SiteSample], sites: Sequence[Site], options: Any) -> list[dict]:
    """ICBHI's cycles: the probe fitted on the official training patients and scored on the test ones when
    the whole corpus is there, else on each of ``folds`` patient-wise folds by one fitted on the others
    (the suite's folds where it gives them)."""
    rows: list[dict] = []
    for site in (s for s in sites if s.cycles is not None):
        sample = samples[f"{site.name} cycles"]
        folds, splits, kind = _folds(site, sample, options)
        predicted: dict[str, Any] = {}
        probes = []
        for fold in splits:
            probes.append(_probe(sample, np.flatnonzero(folds != fold), options))
            probes[-1].predict(sample, np.flatnonzero(folds == fold), predicted)
        scored = np.flatnonzero(np.isin(folds, splits))
        classes, probabilities = predicted[PROBE]
        column = f"{site.name} cycles, {kind}"
        predicted_scored = (classes[scored], probabilities[scored])
        found = _rows(column, site, sample.subset(scored), predicted_scored, options, _layers(probes))
        by_recording = dict(zip(map(_recording, sample.recordings), folds.tolist(), strict=True))
        found[0]["folds"] = {"site": site.name, "kind": kind, "folds": by_recording,
                             "test_fold": splits[0] if len(splits) == 1 else None}  # fmt: skip
        rows += found
    return rows


def unseen_site(samples: dict[str, SiteSample], sites: Sequence[Site], options: Any) -> list[dict]:
    """Each ordered pair of sites: the probe fitted on all of the first's recordings, scored per recording on
    the second's."""
    rows: list[dict] = []
    for train in sites:
        probe = _probe(samples[train.name], None, options)
        for test in (s for s in sites if s is not train):
            sample, predicted = samples[test.name], {}
            probe.predict(sample, np.arange(len(sample.recordings)), predicted)
            rows += _rows(f"{train.name} → {test.name}", test, sample, predicted[PROBE], options, probe.layer)
    return rows


def _source_draws(sample: SiteSample, options: Any) -> list[tuple[str, int, np.ndarray | None]]:
    """``(size, draw, training recordings)`` of :func:`training_patients`: ``draws`` seeded draws of each of
    ``sizes`` of the source's patients (holding a normal and an abnormal recording), then all of them."""
    count = len(set(sample.units))
    drawn = []
    for size in (size for size in options.sizes if 2 <= size < count):
        for draw in range(options.draws):
            inside = _draw(sample, size, np.random.default_rng([options.seed, size, draw]))
            if inside is not None:
                drawn.append((str(size), draw, np.flatnonzero(inside)))
    return [*drawn, ("all", 0, None)]


def training_patients(samples: dict[str, SiteSample], sites: Sequence[Site], options: Any) -> list[dict]:
    """The unseen-hospital protocol by training patients: each ordered pair of sites, the probe fitted on
    ``sizes`` of the first's patients (``draws`` seeded draws each) and on all of them, scored per recording
    on every recording of the second (the mean over draws, with a patient-bootstrap interval)."""
    rows: list[dict] = []
    for train in sites:
        source = samples[train.name]
        patients = len(set(source.units))
        by_size: dict[str, list[Probe]] = {}
        for size, _, chosen in _source_draws(source, options):
            by_size.setdefault(size, []).append(_probe(source, chosen, options))
        for test in (s for s in sites if s is not train):
            sample = samples[test.name]
            for size, probes in by_size.items():
                predicted: list[Any] = []
                for probe in probes:
                    held: dict[str, Any] = {}
                    probe.predict(sample, np.arange(len(sample.recordings)), held)
                    predicted.append(held[PROBE])
                count = patients if size == "all" else int(size)
                column = f"{train.name}, {size if size != 'all' else f'all {count}'} patients → {test.name}"
                facts = {"source": train.name, "training_patients": count, "draws": len(probes)}
                scored = _rows(column, test, sample, predicted, options, _layers(probes))
                rows += [{**row, **facts} for row in scored]
    return rows


SITE_PROCEDURES = {
    "chosen": "a site's own labels, fit-site's procedure",
    PROBE: "a site's own labels, the site head alone",
}
"""The two readings of the site task: what fit-site serves the clinic (the model as is wherever its
procedure keeps it), and the linear probe on the embeddings alone."""


def _spread(curve: Any, size: int, candidate: str) -> dict[str, float]:
    """The standard deviation over draws of each score of ``candidate`` at ``size`` (the seed's spread)."""
    spread = {}
    for key in ("icbhi_score", "crackle_auc", "wheeze_auc"):
        values = [row[key] for row in curve.rows if row["units"] == size and row["candidate"] == candidate]
        values = [value for value in values if not math.isnan(value)]
        spread[f"{key}_draw_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return spread


def site_labels(samples: dict[str, SiteSample], sites: Sequence[Site], options: Any) -> list[dict]:
    """Each site's own labels: fit-site's procedure fitted on ``sizes`` of its patients (``draws`` seeded
    draws each, or the suite's), scored per recording on its other patients (the mean over draws, with an
    interval and the draws' spread): the procedure as it serves, and its site head alone."""
    rows: list[dict] = []
    layer = layer_choices("-1" if options.layer == "auto" else options.layer, options.layers)[0]
    for site in sites:
        sample = _view(samples[site.name], layer, options.layers)
        count = len(set(sample.units))
        sizes = [size for size in options.sizes if 2 <= size <= count - math.ceil(count / 5)]
        given = getattr(options, "splits", {}).get("site_labels", {}).get(site.name)
        if given is not None:
            sizes = [size for size in sizes if size in given]
        if not sizes:
            continue
        curve = learning_curve(sample, sizes=sizes, draws=options.draws, seed=options.seed,
                               resamples=options.resamples, given=given)  # fmt: skip
        dataset = site.recordings.dataset
        for size in sizes:
            column = f"{site.name}, {size} patients"
            summary = {row["candidate"]: row for row in curve.summary if row["units"] == size}
            if not {*SITE_PROCEDURES, "all_normal"} <= set(summary):  # no draw held both classes
                continue
            first = len(rows)
            for candidate, title in SITE_PROCEDURES.items():
                common = {"column": column, "title": title, "procedure": candidate, "dataset": dataset}
                for entry, name in (("probe", candidate), ("all_normal", "all_normal")):
                    parts = curve.parts[size, name]
                    read = {"layer": layer} if entry == "probe" else {}
                    rows.append({**common, "entry": entry, **summary[name], **_spread(curve, size, name),
                                 "paired": paired(sample, parts), **read})  # fmt: skip
                # the class prior of the site's recordings: the held-out ones of each draw are drawn from them
                rows.append({**common, **_prior(site, sample)})
            rows[first]["drawn"] = {"site": site.name, "size": size, "draws": curve.drawn[size]}
            common = {"column": column, "title": SITE_PROCEDURES["chosen"], "procedure": "chosen"}
            others = (name for name in summary if name not in (*SITE_PROCEDURES, "all_normal"))
            rows += [{**common, "entry": name, "dataset": dataset, **summary[name]} for name in others]
    return rows


BENCH = Protocol("bench", (), "the bench needs labelled folders, their patients named", "recording", "embed",
                 "patients: fitted on some, scored on others, resampled by the patient bootstrap",
                 ("results.csv", "leaderboard.csv", "leaderboard.md", "model_index", "suite.json"),
)  # fmt: skip
"""What every task shares (the frozen encoder's embeddings, patients) and the report its columns go into:
the leaderboard (:func:`.leaderboard.write_leaderboard`; its figure follows)."""


@dataclass(frozen=True)
class Task(Protocol):
    """A protocol of the bench (MTEB's task: its metadata and its scorer): its ``name`` (``--tasks``), the
    ``unit`` it scores and what it ``needs`` of the sites, as :data:`BENCH` otherwise; its ``title`` in the
    leaderboard, its model-index ``split``, whether the sites let it run (``present``), and
    ``score(samples, sites, options)``: the rows of its columns (:func:`scores_with_intervals`)."""

    title: str
    split: str
    present: Callable[[Sequence[Site]], bool]
    score: Callable[[dict[str, SiteSample], Sequence[Site], Any], list[dict]]
    default: bool = True  # runs when --tasks names none; else only when named


TASKS: dict[str, Task] = {}
"""The protocols, in the leaderboard's order; :func:`register_task` adds one."""


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` (a ``ValueError`` if its name is taken)."""
    if task.name in TASKS:
        raise ValueError(f"task {task.name!r} is registered already")
    TASKS[task.name] = task
    return task


_task = partial(Task, columns=BENCH.columns, runs=BENCH.runs, grouping=BENCH.grouping, files=BENCH.files)
register_task(_task(name="in_domain", needs="a cycle-labelled site (icbhi)", unit="cycle", title="in domain",
                    split="held-out patients (cycles)", score=in_domain,
                    present=lambda sites: any(s.cycles is not None for s in sites)))  # fmt: skip
register_task(_task(name="unseen_site", needs="two sites", unit="recording", title="an unseen hospital",
                    split="every recording", present=lambda sites: len(sites) >= 2,
                    score=unseen_site))  # fmt: skip
register_task(_task(name="site_labels", needs="a site", unit="recording", title="a site's own labels",
                    split="held-out patients", present=bool, score=site_labels))  # fmt: skip
register_task(_task(name="training_patients", needs="two sites", unit="recording", split="all",
                    title="an unseen hospital, by training patients", present=lambda sites: len(sites) >= 2,
                    score=training_patients, default=False))  # fmt: skip

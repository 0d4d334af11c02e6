"""What a model folder's results say on its card: result tables, ``model-index``, external validations, site
fit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult

from ..data.corpora import CORPORA, get_corpus
from ..metrics.baselines import icbhi_below_baselines
from ..models.respira.audio_decoding import is_number
from ..models.respira.labels import MULTI_LABEL_NAMES
from ..records.run import SeedResult
from ..records.site_fit import CURVE_FIGURE, CURVE_FILE, NESTED_CV_FILE, SiteFitRecord
from ..records.site_verdict import (
    SITE_FIT_PROTOCOL,
    SiteVerdict,
    held_out_verdicts,
    number_or_none,
    number_pair,
)
from ..records.sites import site_verdicts, why_not_claimed
from ..utils.tables import PERCENT_DECIMALS, format_percent, format_score
from .loading import local_model_folder

MODEL_INDEX_METRICS = {  # the test metrics in ``model-index`` (and the per-seed table)
    "icbhi_score": "ICBHI score",
    "specificity": "Specificity",
    "sensitivity": "Sensitivity (strict)",
}
HUB_METRIC_ID = "recall"
"""The Hub metric id of the three ICBHI metrics, each a recall (``args`` in the model-index says which)."""
HUB_METRIC_ARGS: dict[str, dict[str, Any]] = {
    "specificity": {"labels": ["normal"], "average": "micro"},
    "sensitivity": {"labels": ["crackle", "wheeze", "both"], "average": "micro"},
    "icbhi_score": {"average": "icbhi", "mean_of": ["specificity", "sensitivity"]},
}
SITE_SPLITS = {  # the model-index split of each protocol
    "in domain": "patient-wise cross-validation",
    "held out": "all",
    SITE_FIT_PROTOCOL: "nested patient-wise cross-validation",
}
PROTOCOL_NAMES = {"in domain": "In-domain", "held out": "Held-out", SITE_FIT_PROTOCOL: "Site-fit nested-CV"}
OVERALL = "overall"  # the group of all recordings in metrics.json


MAIN_METRICS: dict[str, str] = {  # a test metric (without the "test_" prefix) -> its label in the card
    "icbhi_score": "ICBHI score",
    "specificity": "Specificity",
    "sensitivity": "Sensitivity (strict, official)",
    "binary_sensitivity": "Binary sensitivity (not official)",
    "binary_icbhi_score": "Binary ICBHI score (not official)",
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "macro_f1": "Macro F1",
    "patient_icbhi_score": "Per-patient ICBHI score",
    "patient_specificity": "Per-patient specificity",
    "patient_sensitivity": "Per-patient sensitivity",
}


def format_metric(name: str, value: float | None, std: float | None = None) -> str:
    """``61.2`` or ``61.2 ± 0.9`` (in %); counts (``num_*``) as integers, or ``5.0 ± 0.0`` over seeds."""
    if not is_number(value):
        return "undefined"
    if name.startswith("num_"):
        return f"{value:.1f} ± {std:.1f}" if is_number(std) else f"{round(value)}"
    return format_percent(value) + (f" ± {format_percent(std)}" if is_number(std) else "")


def metric_rows(
    metrics: Mapping[str, float | None], std: Mapping[str, float | None], *, main: bool = True
) -> list[list[str]]:
    """Rows (label, value ± std) of the :data:`MAIN_METRICS` in ``metrics`` (``main=False``: the others)."""
    if main:
        return [
            [label, format_metric(n, metrics[n], std.get(n))]
            for n, label in MAIN_METRICS.items()
            if n in metrics
        ]
    return [
        [f"`{n}`", format_metric(n, v, std.get(n))]
        for n, v in sorted(metrics.items())
        if n not in MAIN_METRICS
    ]


def per_seed_rows(results: list[SeedResult]) -> list[list[str]]:
    """The per-seed table of the :data:`MODEL_INDEX_METRICS`, header first; empty for one seed."""
    if len(results) < 2:
        return []
    names = [n for n in MODEL_INDEX_METRICS if any(n in result.test for result in results)]
    return [["Seed", *(MODEL_INDEX_METRICS[n] for n in names)]] + [
        [
            str(result.seed) if result.fold is None else f"{result.seed} (fold {result.fold})",
            *(format_metric(n, result.test.get(n)) for n in names),
        ]
        for result in results
    ]


def _hub_percent(value: float) -> float:
    return round(100 * value, PERCENT_DECIMALS)


def _eval_result(
    dataset: tuple[str, str, str | None], split: str, name: str, value: float, args: Any
) -> EvalResult:
    """One ``model-index`` result (``value`` a fraction); ``dataset``: its type (id), name and config."""
    return EvalResult(
        task_type="audio-classification",
        task_name="Respiratory sound classification",
        dataset_type=dataset[0],
        dataset_name=dataset[1],
        dataset_config=dataset[2],
        dataset_split=split,
        metric_type=HUB_METRIC_ID,
        metric_args=args,
        metric_name=name,
        metric_value=_hub_percent(value),
    )


def eval_results(
    test: tuple[Mapping[str, float | None], Mapping[str, float | None], int],
    dataset: tuple[str, str, str | None],
    verdicts: list[SiteVerdict],
    validations: list[ExternalValidation],
) -> list[EvalResult]:
    """``model-index`` results: the :data:`MODEL_INDEX_METRICS` on the test split (``test``: metrics, std,
    seeds), then per site its ICBHI-style score and all-normal's, else each external validation's."""
    metrics, std, seeds = test
    results = []
    for name, label in MODEL_INDEX_METRICS.items():
        value = metrics.get(name)
        if not is_number(value):
            continue
        spread = std.get(name) is not None and seeds > 1
        suffix = f", mean over {seeds} seeds, std {100 * std[name]:.{PERCENT_DECIMALS}f}" if spread else ""
        title = f"Test {label} (%{suffix})"
        results.append(_eval_result(dataset, "test", title, value, HUB_METRIC_ARGS[name]))
    for verdict in verdicts:
        site = (verdict.site, get_corpus(verdict.site).title, verdict.unit)
        split = SITE_SPLITS.get(verdict.protocol, "all")
        args = dict(HUB_METRIC_ARGS["icbhi_score"], serves=verdict.serves)
        if verdict.labels and not verdict.labels[0].whole:  # a fit's own labels, each served or kept
            args["labels_served"] = {label.label: label.served for label in verdict.labels}
        if verdict.interval is not None:
            args["interval_95"] = [_hub_percent(end) for end in verdict.interval]
        protocol = PROTOCOL_NAMES.get(verdict.protocol, "Held-out")
        name = f"{protocol} ICBHI-style score per {verdict.unit.removesuffix('s')} (%)"
        results.append(_eval_result(site, split, name, verdict.score, args))
        baseline = {"baseline": "all_normal"}
        results.append(_eval_result(site, split, "All-normal baseline (%)", verdict.all_normal, baseline))
    name, args = "External ICBHI-style score per recording (%)", HUB_METRIC_ARGS["icbhi_score"]
    return results + [
        _eval_result((item.corpus, item.title, None), "all", name, item.icbhi_score, args)
        for item in ([] if verdicts else validations)
        if item.icbhi_score is not None
    ]


def held_out_titles(verdicts: list[SiteVerdict], validations: list[ExternalValidation]) -> list[str]:
    """The corpora the model was scored on and never trained on (its held-out sites), in order."""
    titles = [get_corpus(v.site).title for v in verdicts if v.protocol == "held out"]
    return list(dict.fromkeys([*titles, *(external.title for external in validations)]))


class StaleEvaluationWarning(UserWarning):
    """An evaluation in a model folder is left off its card: not of this model, or not out of sample."""


@dataclass(frozen=True)
class ExternalValidation:
    """One corpus's recording-level scores of this model as the card shows them (a table row per group)."""

    corpus: str
    title: str
    window_seconds: float
    hop_seconds: float
    aggregation: str
    thresholds: tuple[float, float]
    icbhi_score: float | None
    rows: tuple[tuple[str, ...], ...]
    below_baseline: tuple[str, ...] = ()


def _row(name: str, scores: Mapping[str, Any]) -> tuple[str, ...]:
    """Group, recordings (patients), ICBHI-style score [95 % interval], specificity, sensitivity, AUCs."""
    icbhi = scores["icbhi"]
    low, high = (icbhi.get("ci") or {}).get("icbhi_score") or (None, None)
    interval = (number_or_none(low), number_or_none(high))
    least = min(int(icbhi.get("normal_recordings", 0)), int(icbhi.get("abnormal_recordings", 0)))
    values = (
        icbhi.get("specificity"),
        icbhi.get("sensitivity"),
        scores["crackle"].get("auc"),
        scores["wheeze"].get("auc"),
    )
    return (
        name,
        f"{int(scores['num_recordings'])} ({int(scores['num_patients'])})",
        format_score(number_or_none(icbhi.get("icbhi_score")), interval, missing="undefined", count=least),
        *(format_score(number_or_none(value), missing="undefined") for value in values),
    )


def external_validations(folder: str | Path) -> tuple[list[ExternalValidation], list[str]]:
    """This model's external validations in ``folder``, and why each one left out was."""
    folder = Path(folder).expanduser()
    found, notes = [], []
    for name, spec in CORPORA.items():
        path = folder / f"evaluation_{name}" / "metrics.json"
        if spec.labels != "recording" or not path.is_file():
            continue
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
            reason = why_not_claimed(folder, path)
            if reason:
                notes.append(f"{path}: left off the model card: {reason}")
                continue
            groups, thresholds, windows = metrics["groups"], metrics["thresholds"], metrics["windows"]
            order = [OVERALL, *(group for group in groups if group != OVERALL)]  # the file sorts its keys
            below = (
                icbhi_below_baselines(groups[group]["icbhi"], where=f"{spec.title}, per recording, {group}")
                for group in order
            )
            found.append(
                ExternalValidation(
                    corpus=name,
                    title=spec.title,
                    window_seconds=float(windows["window_seconds"]),
                    hop_seconds=float(windows["hop_seconds"]),
                    aggregation=str(metrics["aggregation"]["description"]),
                    thresholds=(float(thresholds["crackle"]), float(thresholds["wheeze"])),
                    icbhi_score=number_or_none(groups[OVERALL]["icbhi"].get("icbhi_score")),
                    rows=tuple(_row(group, groups[group]) for group in order),
                    below_baseline=tuple(entry.line() for entries in below for entry in entries),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"{path}: not respira evaluate's metrics ({type(error).__name__}: {error})"
            ) from None
    return found, notes


MIX_WORDS = {"normal": "normal", "crackle": "crackle only", "wheeze": "wheeze only", "both": "with both"}


BASE_DETECTOR = "base_detector"
"""Where a built folder whose head was refitted keeps the detector it replaced's evaluations (its
``build_record.json`` lists them by SHA-256 under ``base_detector``)."""


def base_comparison(folder: Path, verdicts: list[SiteVerdict]) -> list[dict[str, Any]]:
    """Per held-out site of ``verdicts``: this detector's verdict beside the replaced detector's on the same
    samples (:data:`BASE_DETECTOR`: only the files its ``build_record.json`` lists, unchanged)."""
    from ..utils.files import read_json_object, sha256_of

    listed = ((read_json_object(folder / "build_record.json") or {}).get(BASE_DETECTOR) or {}).get(
        "evaluations"
    )
    if not isinstance(listed, Mapping):
        return []
    base = folder / BASE_DETECTOR
    recorded = {base / name for name, digest in listed.items() if (base / name).is_file()
                and sha256_of(base / name) == digest}  # fmt: skip
    before = [
        verdict
        for path in sorted(
            p for p in recorded if p.parent.parent == base and p.parent.name.startswith("evaluation_")
        )
        if (metrics := read_json_object(path)) is not None
        for verdict in held_out_verdicts(path.parent, metrics, recorded)
    ]
    found = []
    for verdict in (v for v in verdicts if v.protocol == "held out"):
        same = [b for b in before if (b.site, b.unit, b.count) == (verdict.site, verdict.unit, verdict.count)]
        if same:
            found.append({"now": verdict, "before": same[0], "higher": verdict.score > same[0].score})
    return found


def _base_model_folder(record: SiteFitRecord) -> Path | None:
    name = record.base_model.split(" (")[0]
    try:
        folder = local_model_folder(name) if name else None
    except ValueError:
        return None
    return folder if folder is not None and (folder / "config.json").is_file() else None


def _percent(value: Any, interval: Any = None) -> str:
    text, pair = format_percent(value, missing="–"), number_pair(interval)
    return text if pair is None else f"{text} ({format_percent(pair[0])}–{format_percent(pair[1])})"


def site_fit_context(record: SiteFitRecord | None, base_folder: Path | None = None) -> dict[str, Any]:
    """What the template's ``site_fit`` block shows of a fit ``record`` beside the base model's verdicts."""
    if record is None:
        return {"site_fit": None, "site_per_label": False}
    alone = record.not_measurable or {}
    verdict = record.verdict()
    mix = record.label_mix
    base = base_folder if base_folder is not None else _base_model_folder(record)
    verdicts = site_verdicts(base) if base is not None else []
    same_sample = [
        v
        for v in verdicts
        if v.site == record.dataset and v.unit == "recordings" and v.count == record.recordings
    ]
    rates = ("icbhi_score", "specificity", "sensitivity")
    return {
        "site_fit": record,
        "site_per_label": bool(record.labels),
        "site_name": record.site,
        "site_chosen": verdict.labels_words()
        if verdict is not None and record.labels  # an older record: its choice as it said it
        else ", ".join(
            f"{n}: `{how}`" + (f" (left as the model has it: {alone[n]})" if n in alone else "")
            for n, how in zip(MULTI_LABEL_NAMES, record.chosen, strict=True)
        ),
        "site_thresholds": ", ".join(
            f"{n} {t:.3f}" for n, t in zip(MULTI_LABEL_NAMES, record.thresholds, strict=True)
        ),
        "site_not_shown": (" nor ".join(verdict.not_shown()) if verdict is not None else "no score")
        if record.applied_anyway or (verdict is not None and not verdict.serves)
        else None,
        "site_claimed": "" if verdict is None else f" ({format_score(verdict.score, verdict.interval)})",
        "site_mix": ", ".join(f"{mix.get(name, 0)} {words}" for name, words in MIX_WORDS.items())
        if mix is not None
        else "its record does not give their label mix",
        "nested_cv_rows": [
            [str(row["candidate"]).replace("_", " ")]
            + [_percent(row.get(key), [row.get(f"{key}_low"), row.get(f"{key}_high")]) for key in rates]
            + [alone.get(label) or _percent(row.get(f"{label}_auc")) for label in MULTI_LABEL_NAMES]
            for row in record.nested_cv
        ],
        "base_rows": [
            [v.site, v.protocol, f"{v.count} {v.unit}", _percent(v.score, v.interval), _percent(v.all_normal)]
            for v in verdicts
            if v not in same_sample
        ],
        "base_same_sample": bool(same_sample),
        "fit_files": {"nested_cv": NESTED_CV_FILE, "curve": CURVE_FILE, "figure": CURVE_FIGURE},
    }

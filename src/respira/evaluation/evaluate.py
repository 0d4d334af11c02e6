"""``respira evaluate`` (:func:`score_model`): a model scored on ICBHI cycles, another corpus or events."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.corpora import PRIMARY_CORPUS, CorpusSpec, corpus_names, get_corpus, scored_corpus
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL_NAMES
from ..options import FOLDERS, SWITCH, AggregationOptions, corpus_list, option
from ..utils.tables import format_percent, format_table
from .corpus_run import (
    WINDOW_DEFAULTS,
    chosen_splits,
    default_output_dir,
    load_splits,
    run_external,
)

if TYPE_CHECKING:
    from ..records.run import DataRecord

SCORED = {  # --dataset's help on a corpus, by what its labels are
    "cycle": "cycles of a split",
    "recording": "external validation per recording",
    "event": "external validation per event and per recording, with its challenge's scores",
}
TABLE_KEYS: tuple[tuple[str, str], ...] = (
    ("icbhi_score", "ICBHI score"),
    ("specificity", "specificity"),
    ("sensitivity", "sensitivity (strict)"),
    ("binary_icbhi_score", "binary ICBHI score (not official)"),
    ("accuracy", "accuracy"),
    ("balanced_accuracy", "balanced accuracy"),
    ("macro_f1", "macro F1"),
    ("patient_icbhi_score", "per-patient ICBHI score"),
    ("baseline_all_normal_icbhi_score", "all-normal baseline: ICBHI score"),
    ("baseline_class_prior_icbhi_score", "class-prior baseline: ICBHI score"),
    ("baseline_all_normal_patient_icbhi_score", "all-normal baseline: per-patient score"),
)


def _unset(help: str, **metadata: Any) -> Any:
    """A field whose default ``None`` means "not given" (the run's, or the corpus's, value applies)."""
    return field(default=None, metadata={"help": help, **metadata})


def _data_options() -> type:
    """The dataclass of ``respira evaluate``'s data options (the first of its own), each with its help."""

    @dataclass(kw_only=True)
    class EvaluateDataOptions:
        dataset: str = option(
            "dataset",
            f"{corpus_list(lambda spec: f'{spec.name} ({SCORED[spec.labels]})', lambda spec: spec.scored)}; "
            f"default: {PRIMARY_CORPUS}",
            choices=corpus_names(),
        )
        data_dir: str | None = option(
            "data_dir",
            "folder of the corpus download (ICBHI: either release), or several folders read as one corpus "
            "(give MODEL before them), or a dataset written by respira prepare (default: the run's data)",
            **FOLDERS,
        )
        dataset_name: str | None = _unset(
            "instead of --data_dir: a Hub dataset id or a folder written by respira prepare"
        )
        dataset_config_name: str | None = _unset("--dataset_name: its config (default: the default)")
        audio_column_name: str | None = _unset(
            "--dataset_name: the audio column (default: the run's, else audio)"
        )
        label_column_name: str | None = _unset(
            "--dataset_name: the label column (default: the run's, else label)"
        )
        split: str = field(
            default="test",
            metadata={"help": "split to evaluate (default: test); all: every cycle of the data in one call"},
        )
        validation_size: float | None = _unset(
            "official split: fraction of train carved into validation (default: the run's, else 0.2)"
        )
        split_strategy: str | None = _unset(
            "default: the run's, else official (a fold run: the kept model's own fold)",
            choices=("official", "patient", "patient_kfold", "leave_one_device_out"),
        )
        seed: int | None = _unset(
            "seed of the validation / patient split (default: the run's, else 0); kauh: of the bootstrap"
        )

    return EvaluateDataOptions


def evaluate_options() -> tuple[type, type]:
    """The dataclasses of ``respira evaluate``'s options: its own, and the sliding-window corpora's."""

    @dataclass(kw_only=True)
    class EvaluateOptions(_data_options()):
        output_dir: str | None = option(
            "output_dir",
            "report folder (default: ./evaluation_<split or dataset> in the current folder, never MODEL)",
        )
        record: bool = field(
            default=False,
            metadata={
                "help": "write the report into MODEL instead (MODEL/evaluation_<split or dataset>): the "
                "folder then claims it, on its card and in predict's sites line (refused for respira's "
                "shipped detector)",
                **SWITCH,
            },
        )
        batch_size: int = option("batch_size")
        task: str = field(
            default="classification",
            metadata={
                "choices": ("classification", "events"),
                "help": "classification (default): cycles, events or recordings as the corpus is labelled; "
                f"events: detected crackle / wheeze events (--dataset {' or '.join(event_corpora())}, "
                "--data_dir; see below)",
            },
        )
        cache_dir: str | None = _unset("datasets cache folder")
        device: str | None = option("device")

    @dataclass(kw_only=True)
    class WindowOptions:
        window: float | None = _unset(f"window length in seconds (default: {WINDOW_DEFAULTS['window']:g})")
        hop: float | None = _unset(f"hop between windows in seconds (default: {WINDOW_DEFAULTS['hop']:g})")
        bootstrap: int | None = _unset(
            f"patient-level bootstrap resamples (default: {WINDOW_DEFAULTS['bootstrap']})"
        )

    WindowOptions._argument_group_name = f"--dataset {_windowed_corpora()}"  # HfArgumentParser: one group
    return EvaluateOptions, WindowOptions


THRESHOLDS_HELP = "multi-label models: decision thresholds (default: the config's, else 0.5)"


def evaluate_options_type() -> type:
    """The dataclass of everything ``respira evaluate`` is given (what :func:`score_model` takes)."""
    own, windows = evaluate_options()

    @dataclass(kw_only=True)
    class AllEvaluateOptions(own, windows, AggregationOptions):
        model: str = field(metadata={"help": "the model to score"})
        thresholds: list[float] | None = field(default=None, metadata={"help": THRESHOLDS_HELP})

    return AllEvaluateOptions


def _windowed_corpora() -> str:
    """The corpora whose recordings are scored by sliding windows, as ``--dataset`` lists them."""
    return corpus_list(lambda spec: spec.name, lambda spec: spec.labels != "cycle")


def score_table(metrics: dict[str, Any]) -> str:
    """A table of the headline scores in %, each flagged when it does not beat its trivial baseline."""
    from ..metrics.baselines import flags_by_key

    flags = flags_by_key(metrics.get("below_baseline"))
    rows = [
        (label, format_percent(metrics[key]), flags.get(key, ""))
        for key, label in TABLE_KEYS
        if key in metrics
    ]
    return format_table(rows, ("score", "%", ""), align="<><", indent="  ")


def label_table(metrics: dict[str, Any]) -> str:
    """Per label (crackle, wheeze): how many examples carry it, its ROC AUC and average precision."""
    count = dict(zip(CLASS_NAMES, map(sum, metrics["confusion_matrix"]), strict=True))  # rows: true class
    rows = [
        (
            name,
            f"{count[name] + count['both']} of {metrics['num_examples']}",
            format_percent(metrics.get(f"auc_{name}")),
            format_percent(metrics.get(f"average_precision_{name}")),
        )
        for name in MULTI_LABEL_NAMES
    ]
    return format_table(rows, ("label", "positives", "AUC (%)", "AP (%)"), align="<>>>", indent="  ")


def device_table(metrics: dict[str, Any]) -> str:
    """The ICBHI scores per stethoscope (the metrics' ``by_device``; empty when absent)."""
    rows = [
        (
            name,
            scores["num_examples"],
            scores["num_normal"],
            scores["num_abnormal"],
            *(format_percent(scores.get(key)) for key in ("specificity", "sensitivity", "icbhi_score")),
        )
        for name, scores in (metrics.get("by_device") or {}).items()
    ]
    header = ("device", "cycles", "normal", "abnormal", "Sp (%)", "Se (%)", "ICBHI score (%)")
    return format_table(rows, header, align="<>>>>>>", indent="  ") if rows else ""


def _dataset_options(args: Any, record, config: Any) -> DataRecord | None:
    """The data of ``--dataset_name``, ``--data_dir`` or the run; ``None`` for a corpus folder."""
    from ..data.run_splits import dataset_source
    from ..records.run import DataRecord

    name = dataset_source(args)  # refuses --data_dir beside --dataset_name
    ran = record.data if record is not None and record.data.dataset_name else None
    if name is None and (args.data_dir or ran is None):
        return None
    if args.validation_size is not None or args.split_strategy is not None:
        raise ValueError(
            "--validation_size and --split_strategy make splits of a corpus folder; a dataset has its own "
            "(score them with --split, or all of it with --split all)"
        )
    same = ran is not None and name in (None, ran.dataset_name)
    data = ran if same else DataRecord(data_dir=None, sampling_rate=int(config.sampling_rate))
    columns = ("dataset_config_name", "audio_column_name", "label_column_name")
    given = {column: getattr(args, column) for column in columns if getattr(args, column) is not None}
    return replace(data, dataset_name=name or data.dataset_name, data_dir=None, **given)


def split_options(args: Any, config: Any) -> DataRecord:
    """The data options to rebuild: MODEL's run record, overridden by explicit flags and its config."""
    from ..data.corpus_files import data_dirs
    from ..models.respira.audio_decoding import input_preprocessing
    from ..records.run import DataRecord, RunRecord

    folder = Path(args.model).expanduser()
    record = RunRecord.load_if_present(folder) if folder.is_dir() else None
    dataset = _dataset_options(args, record, config)
    preprocessing = input_preprocessing(config)
    if dataset is not None:
        return replace(dataset, sampling_rate=preprocessing["sampling_rate"])
    data_dir = args.data_dir or (record.data.data_dir if record is not None else None)
    if not data_dir:
        raise ValueError("pass --data_dir <folder of an ICBHI download> or --dataset_name <dataset>")
    missing = [Path(d) for d in data_dirs(data_dir) if not Path(d).expanduser().exists()]
    if not args.data_dir and missing:
        raise ValueError(
            f"the run's data_dir {str(missing[0])!r} (its respira_run.json) is not there from {Path.cwd()}"
            f"{' (a path relative to where it was trained?)' if not missing[0].is_absolute() else ''}; "
            "pass --data_dir <folder of the ICBHI download>"
        )
    strategy = args.split_strategy or (record.data.split_strategy if record else "official")
    if record is not None and strategy == record.data.split_strategy:
        data = record.data
    else:  # no record, or another split strategy than the run's: the builder's defaults
        data = DataRecord(data_dir=None, sampling_rate=int(config.sampling_rate), split_strategy=strategy)
        data = replace(data, validation_size=0.2 if strategy == "official" else 0.0)
    if args.validation_size is not None:
        data = replace(data, validation_size=args.validation_size)
    if args.seed is not None:
        data = replace(data, split_seed=args.seed)
    return replace(
        data,
        data_dir=data_dir,
        dataset_name=None,
        dataset_config_name=None,
        sampling_rate=preprocessing["sampling_rate"],
        # a model saved before configs carried the low-pass: its run record's (the data it was trained on)
        lowpass_cutoff=preprocessing.get("lowpass_cutoff", record.data.lowpass_cutoff if record else None),
        lowpass_order=preprocessing.get("lowpass_order", record.data.lowpass_order if record else 4),
    )


def score_model(args: Any) -> Path:
    """Score ``args.model`` as ``respira evaluate`` does: print the scores; return the report folder."""
    from ..hub.loading import resolve_model_name
    from ..utils.threads import apply_num_threads

    resolve_model_name(args.model)  # a path that is no folder: one line, before any data is read
    apply_num_threads()
    spec = scored_corpus(args.dataset)
    if args.task == "events":
        return _detect_events(args, spec)
    if spec.labels != "cycle":
        return run_external(args, spec)
    misplaced = _given(args, (*WINDOW_DEFAULTS, "top_k"))
    if misplaced:
        raise ValueError(
            f"{', '.join(misplaced)}: only for corpora scored over windows "
            f"(--dataset {_windowed_corpora()}); {spec.label} is scored per annotated cycle"
        )
    from ..data.run_splits import check_split, load_split
    from ..hub.loading import load_model
    from .cycles import evaluate_model

    output_dir = default_output_dir(args, args.split)
    model, config = load_model(args.model, device=args.device)
    data = split_options(args, config)
    check_split(data, args.split, cache_dir=args.cache_dir)  # before the build: from the text files
    split = load_split(data, args.split, cache_dir=args.cache_dir)
    metrics = evaluate_model(
        model, split, output_dir=output_dir, batch_size=args.batch_size, thresholds=args.thresholds
    )
    what = "every cycle" if args.split == "all" else f"the {args.split} split"
    print(f"{args.model} on {what} ({metrics['num_examples']} cycles):")
    print(score_table(metrics))
    if "thresholds" in metrics:
        crackle, wheeze = metrics["thresholds"]
        print(f"  thresholds: crackle {crackle:.2f}, wheeze {wheeze:.2f}")
    print("per label (threshold-free):")
    print(label_table(metrics))
    devices = device_table(metrics)
    if devices:
        print("per stethoscope:")
        print(devices)
    print(f"wrote {', '.join(metrics['files'])} to {output_dir}")
    return output_dir


def _given(args: Any, names: tuple[str, ...]) -> list[str]:
    """The flags among ``names`` that were given (not ``None``), as ``--name``."""
    return [f"--{name}" for name in names if getattr(args, name) is not None]


def event_corpora() -> list[str]:
    """The corpora whose recordings carry event times (their spec's ``reference_events``)."""
    return [name for name in corpus_names() if get_corpus(name).reference_events is not None]


def _detect_events(args: Any, spec: CorpusSpec) -> Path:
    """``--task events``: checked, then every recording's events detected and scored; returns the report."""
    from ..hub.loading import load_model
    from .event_detection_report import evaluate_events, event_scores_table

    if spec.reference_events is None:
        raise ValueError(
            f"--task events needs reference events with onsets and offsets; {spec.label} has none "
            f"(--dataset {' or '.join(event_corpora())})"
        )
    if not args.data_dir or args.dataset_name:
        raise ValueError(
            f"--task events reads a folder of the {spec.label} recordings: pass --data_dir <folder>"
        )
    refused = _given(args, (*WINDOW_DEFAULTS, "top_k", "thresholds"))
    if refused:
        raise ValueError(
            f"{', '.join(refused)}: not for --task events, which detects at the model's own thresholds and "
            "event settings (bootstrap: 1000 patient resamples)"
        )
    splits = chosen_splits(spec, args.split)
    output_dir = default_output_dir(args, spec.name, prefix="events")
    spec.check_folder(args.data_dir, splits)
    model, config = load_model(args.model, device=args.device)
    recordings = load_splits(spec, args, config, "recordings", splits)
    metrics = evaluate_events(
        model,
        recordings,
        reference_events=spec.reference_events,
        output_dir=output_dir,
        group_by=spec.group_by,
        group_column=spec.group_column,
        seed=args.seed if args.seed is not None else 0,
        batch_size=args.batch_size,
    )
    thresholds = metrics["thresholds"]
    print(
        f"{args.model} detecting events on {spec.label} ({', '.join(splits)}: {metrics['num_recordings']} "
        f"recordings, {metrics['num_patients']} patients); thresholds crackle {thresholds['crackle']:.2f}, "
        f"wheeze {thresholds['wheeze']:.2f}:"
    )
    print(event_scores_table(metrics))
    print(f"wrote {', '.join(metrics['files'])} to {output_dir}")
    return output_dir

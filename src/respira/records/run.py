"""What a training run was: the typed record ``respira train`` writes as ``respira_run.json``, checked
field by field when read (:class:`RunRecordError`). Metric names carry no split prefix; NaN is ``None``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import operator
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..models.respira.audio_decoding import DEFAULT_LOWPASS_ORDER
from ..models.respira.labels import PROBLEM_TYPES, SINGLE_LABEL
from ..utils.files import write_json_atomic
from ..utils.messages import one_line

R = TypeVar("R")

RUN_RECORD_FILE = "respira_run.json"
METRICS_FILE = "metrics.json"  # a run folder's results (Trainer's all_results.json)
SCHEMA_VERSION = 1


SPLIT_STRATEGIES: tuple[str, ...] = ("official", "patient", "patient_kfold", "leave_one_device_out")
"""How a corpus can be split (the ICBHI builder's ``split_strategy``)."""
DATASET_SPLITS = "dataset"
"""``DataRecord.split_strategy`` of a run on a dataset's own splits whose card does not say how."""


class RunRecordError(ValueError):
    """A ``respira_run.json`` is not a valid run record; the one-line message names the file."""


@dataclass
class ModelRecord:
    """The classifier that was trained."""

    encoder: str
    checkpoint: str | None = None
    """Hub id or folder the encoder weights were initialised from; ``None``: trained from scratch."""
    problem_type: str = SINGLE_LABEL
    lora_r: int = 0
    num_parameters: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """The recipe's other architecture options (``target_seconds``, ``pooling``, ``head``...)."""


@dataclass
class SplitSize:
    """Size of one split of the dataset."""

    cycles: int
    patients: int | None = None


@dataclass
class CorpusRecord:
    """One corpus a model was trained on (``corpora`` of a recipe), with what its training split held."""

    name: str
    data_dir: str | list[str] | None = None
    """Its folder (or the list of folders it spans)."""
    labels: str = "cycle"
    """``cycle``, ``event`` (learnt as cycles) or ``recording`` (learnt from bags of windows)."""
    patients: int | None = None
    recordings: int | None = None
    examples: int | None = None
    """Training cycles or events, or windows of a recording-labelled corpus."""


@dataclass
class DataRecord:
    """The corpus and how it was resampled, filtered and split (the options ``load_icbhi`` got)."""

    data_dir: str | list[str] | None
    """The ICBHI folder, or the list of folders the corpus spans."""
    sampling_rate: int
    synthetic: bool = False
    """Whether ``data_dir`` was a generated corpus (``make_synthetic_icbhi``), not ICBHI 2017."""
    split_strategy: str = "official"
    validation_size: float = 0.0
    split_seed: int = 0
    patient_split_fractions: tuple[float, ...] | None = None
    stratify_by: str | None = None
    num_folds: int | None = None
    """``patient_kfold``: the number of folds; ``fold``: the kept model's (what ``evaluate RUN`` rebuilds)."""
    fold: int | None = None
    fold_stratify_by: str | None = None
    fold_devices: list[str] | None = None
    """``leave_one_device_out``: the device each fold holds out, in fold order."""
    lowpass_cutoff: float | None = None
    """Zero-phase Butterworth low-pass of the recordings (Hz); the model's config carries it too."""
    lowpass_order: int = DEFAULT_LOWPASS_ORDER
    train_fraction: float = 1.0
    dataset_name: str | None = None
    """A ``datasets`` dataset (Hub id or ``respira prepare`` folder) whose own splits were used."""
    dataset_config_name: str | None = None
    audio_column_name: str = "audio"
    label_column_name: str = "label"
    split_sizes: dict[str, SplitSize] = field(default_factory=dict)
    corpora: list[CorpusRecord] = field(default_factory=list)
    """The corpora of a multi-corpus run (empty: ICBHI alone)."""
    corpus_window_seconds: float | None = None
    """Multi-corpus run: the windows recording-labelled corpora were cut into (seconds)."""
    corpus_hop_seconds: float | None = None


@dataclass
class TrainingRecord:
    """How the model was trained."""

    schedule: str = "standard"
    two_stage_rounds: int = 1
    head_epochs: float = 10.0
    head_learning_rate: float | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class EmbeddingPass:
    """One pass of a frozen-encoder run's embedding cache over a split, spread over the run's processes."""

    split: str
    rows: int
    """Rows of the cached table (cycles × views)."""
    embedded: list[int] = field(default_factory=list)
    """Rows each process embedded, in process order (fewer in all where another trainer had embedded them)."""


@dataclass
class SeedResult:
    """The metrics of the model trained with one seed."""

    seed: int
    test: dict[str, float | None] = field(default_factory=dict)
    validation: dict[str, float | None] = field(default_factory=dict)
    """The final evaluation on the validation split (what seeds are selected on)."""
    fold: int | None = None
    embedding_cache: list[EmbeddingPass] = field(default_factory=list)


@dataclass
class MetricsRecord:
    """Test results over seeds (and folds), and every seed's own metrics."""

    test: dict[str, float | None] = field(default_factory=dict)
    """Mean over seeds (``patient_kfold``: over folds x seeds) of each test metric; ``test_std`` their
    sample standard deviation, ``test_ci95`` (k-fold) the mean's 95 % Student's t interval."""
    test_std: dict[str, float | None] = field(default_factory=dict)
    per_seed: list[SeedResult] = field(default_factory=list)
    test_ci95: dict[str, list[float]] = field(default_factory=dict)
    out_of_fold: dict[str, float | None] = field(default_factory=dict)
    """``patient_kfold``: the pooled out-of-fold predictions' scores and the corpus's trivial baselines."""


@dataclass
class RunRecord:
    """What a training run was; see the module docstring."""

    model: ModelRecord
    data: DataRecord
    training: TrainingRecord = field(default_factory=TrainingRecord)
    seeds: list[int] = field(default_factory=list)
    selected_seed: int | None = None
    """The seed (and ``selected_fold``) whose model the run folder holds (best validation score)."""
    selected_fold: int | None = None
    thresholds: list[float] | None = None
    """Multi-label models: the (crackle, wheeze) decision thresholds of the kept model."""
    thresholds_tuned: bool = False
    metrics: MetricsRecord = field(default_factory=MetricsRecord)
    recipe: str | None = None

    def selected_result(self) -> SeedResult | None:
        """The metrics of the kept model's seed, if recorded."""
        for result in self.metrics.per_seed:
            if result.seed == self.selected_seed and result.fold == self.selected_fold:
                return result
        return None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data, with ``schema_version``."""
        return {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """Check ``data`` (parsed JSON) against the schema; raises ``ValueError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {json_type(data)}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {version!r} is not supported (expected {SCHEMA_VERSION})")
        data = {k: _without_retired(v, cls, k) for k, v in data.items() if k != "schema_version"}
        record = convert_json(data, cls)
        _check_values(record)
        return record

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/respira_run.json`` atomically (NaN as ``null``); return its path."""
        return write_json_atomic(Path(folder) / RUN_RECORD_FILE, self.to_dict(), default=str)

    @classmethod
    def load(cls, folder: str | Path) -> RunRecord:
        """Read ``folder/respira_run.json``; :class:`RunRecordError` (naming the file) when it is invalid."""
        path = Path(folder) / RUN_RECORD_FILE
        what, where = "a valid respira run record", "a respira run folder"
        return read_record(path, cls.from_dict, RunRecordError, what, where)

    @classmethod
    def load_if_present(cls, folder: str | Path) -> RunRecord | None:
        """:meth:`load`, or ``None`` when ``folder`` has no ``respira_run.json``."""
        return cls.load(folder) if (Path(folder) / RUN_RECORD_FILE).is_file() else None


def read_record(path: Path, parse: Callable[[Any], R], error: type[ValueError], what: str, folder: str) -> R:
    """``path``'s JSON as ``parse`` reads it; ``error`` in one line naming the file where it is not valid
    (``FileNotFoundError`` where it is missing: ``path`` is not in ``folder``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found: not {folder}") from None
    except UnicodeDecodeError as problem:
        raise error(f"{path}: not UTF-8 text ({problem.reason})") from None
    except json.JSONDecodeError as problem:
        raise error(f"{path}: not valid JSON ({problem.msg} at line {problem.lineno})") from None
    try:
        return parse(data)
    except ValueError as problem:
        raise error(f"{path}: not {what} ({one_line(problem)})") from None


def _without_retired(section: Any, cls: type, name: str) -> Any:
    """``section`` without unknown keys at ``null`` or ``false`` (retired options that were off)."""
    annotation = typing.get_type_hints(cls).get(name)
    if not (isinstance(section, dict) and dataclasses.is_dataclass(annotation)):
        return section
    known = {item.name for item in dataclasses.fields(annotation)}
    return {k: v for k, v in section.items() if k in known or (v is not None and v is not False)}


# ------------------------------------------------------------------------------------ value checks
def _check_values(record: RunRecord) -> None:
    """``ValueError`` naming a key whose value no run writes."""
    data, model = record.data, record.model
    for key, value, choices in (
        ("data.split_strategy", data.split_strategy, (*SPLIT_STRATEGIES, DATASET_SPLITS)),
        ("model.problem_type", model.problem_type, PROBLEM_TYPES),
    ):
        if value not in choices:
            raise ValueError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    _check_range("data.sampling_rate", data.sampling_rate, low=1)
    _check_range("data.validation_size", data.validation_size, low=0, below=1)
    _check_range("data.train_fraction", data.train_fraction, above=0, high=1)
    _check_range("data.lowpass_order", data.lowpass_order, low=1)
    if data.lowpass_cutoff is not None:
        _check_range("data.lowpass_cutoff", data.lowpass_cutoff, above=0, below=data.sampling_rate / 2)
    fractions = data.patient_split_fractions
    if fractions is not None and (len(fractions) != 3 or any(not 0 <= f <= 1 for f in fractions)):
        raise ValueError(
            f"data.patient_split_fractions must be 3 shares (train, validation, test) in [0, 1], "
            f"got {list(fractions)}"
        )
    if data.num_folds is not None:
        _check_range("data.num_folds", data.num_folds, low=2)
    high = data.num_folds - 1 if data.num_folds is not None else None
    why = f" (the record's num_folds is {data.num_folds})" if high is not None else ""
    for key, fold in (("data.fold", data.fold), ("selected_fold", record.selected_fold)):
        if fold is not None:
            _check_range(key, fold, low=0, high=high, why=why)
    _check_range("model.lora_r", model.lora_r, low=0)
    if record.thresholds is not None:
        if len(record.thresholds) != 2:
            raise ValueError(f"thresholds must be 2 values (crackle, wheeze), got {len(record.thresholds)}")
        for index, threshold in enumerate(record.thresholds):
            _check_range(f"thresholds[{index}]", threshold, low=0, high=1)


_BOUNDS = {
    "low": (">=", operator.ge),
    "above": (">", operator.gt),
    "high": ("<=", operator.le),
    "below": ("<", operator.lt),
}


def _check_range(key: str, value: float, why: str = "", **bounds: float | None) -> None:
    """``ValueError`` naming ``key`` unless ``value`` is within ``bounds``."""
    given = [
        (sign, test, bounds[name]) for name, (sign, test) in _BOUNDS.items() if bounds.get(name) is not None
    ]
    if math.isnan(value) or not all(test(value, bound) for _, test, bound in given):
        wanted = " and ".join(f"{sign} {bound:g}" for sign, _, bound in given)
        raise ValueError(f"{key} must be {wanted}{why}, got {value!r}")


def json_type(value: Any) -> str:
    """How JSON names the type of ``value`` (``an object``, ``a string``, ``null``...)."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


_SCALARS: dict[type, Any] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
}


def convert_json(value: Any, annotation: Any, where: str = "") -> Any:
    """``value`` (parsed JSON) as ``annotation``; ``ValueError`` naming ``where`` when it does not fit."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    name = annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")
    mismatch = ValueError(f"{where or 'the record'} should be {name}, got {json_type(value)}")
    if origin in (typing.Union, types.UnionType):
        return None if value is None else _union_value(value, arguments, where, mismatch)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise mismatch
        fields = {f.name: f for f in dataclasses.fields(annotation)}
        required = [k for k, f in fields.items() if f.default is f.default_factory is dataclasses.MISSING]
        for problem, keys in (
            ("unknown", [key for key in value if key not in fields]),
            ("missing", [key for key in required if key not in value]),
        ):
            if keys:
                raise ValueError(f"{problem} key {_join(where, keys[0])!r}")
        hints = typing.get_type_hints(annotation)
        return annotation(
            **{key: convert_json(item, hints[key], _join(where, key)) for key, item in value.items()}
        )
    if origin in (list, tuple, dict):
        if not isinstance(value, dict if origin is dict else list):
            raise mismatch
        if origin is dict:
            return {str(k): convert_json(v, arguments[1], _join(where, str(k))) for k, v in value.items()}
        items = [convert_json(v, arguments[0], f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if annotation is not Any and not _SCALARS[annotation](value):
        raise mismatch
    return value


def _union_value(value: Any, arguments: tuple[Any, ...], where: str, mismatch: ValueError) -> Any:
    """``value`` as the first of the union's non-null ``arguments`` it fits (``data_dir``: a folder, or a
    list of them); the one's own error when there is one."""
    given = [option for option in arguments if option is not type(None)]
    if len(given) == 1:
        return convert_json(value, given[0], where)
    for option in given:
        with contextlib.suppress(ValueError):
            return convert_json(value, option, where)
    raise mismatch


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key

"""Model cards of respira classifiers: the card's data, a training callback that fills it, and rendering.

``RespiraModelCardData`` holds everything a card states: Hub metadata (license, tags, pipeline tag,
``model-index`` evaluation results), the task and labels, the encoder and where it came from, the
training data and its split, the metric definitions, the test results (mean ± std over seeds when a
run has several), decision thresholds of multi-label models, the hyper-parameters, citations and the
intended use. It is filled either during training by :class:`ModelCardCallback` or afterwards from a
run folder by :func:`card_data_from_run_dir`; :func:`render_model_card` renders it with the Jinja
template shipped in this package (``model_card_template.md``).

Files read from a run folder written by ``respira train`` (only ``config.json`` is required; JSON
only, never ``training_args.bin`` or checkpoints):

* ``config.json``: the :class:`~respira.RespiraConfig` (labels, problem type, encoder, featurizer);
* ``model.safetensors``: only its header, to count parameters;
* ``metrics.json``: ``test_<metric>`` values, or ``test_<metric>_mean`` / ``test_<metric>_std`` and
  ``seeds`` for multi-seed runs (optionally ``per_seed``: a list of ``{"seed": s, "test_<metric>": v}``);
* ``trainer_state.json``: steps, epochs, the best validation metric and the log history;
* ``respira_run.json``: the recipe options and data description (``split_strategy``,
  ``validation_size``, ``seeds``, ``split_sizes``, ``synthetic``...). Keys are looked up at the top
  level and one or two levels down (e.g. ``{"dataset": {"split_strategy": ...}}``), so the exact
  nesting does not matter.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import CardData, EvalResult, ModelCard
from huggingface_hub.repocard_data import eval_results_to_model_index
from transformers import TrainerCallback

from ..data import corpus
from ..labels import CLASS_NAMES, MULTI_LABEL, SINGLE_LABEL
from ..losses.contrastive_tuple import CONTRASTIVE_TUPLE_CITATION
from ..models.encoders import EncoderSpec, find_encoder_spec

__all__ = [
    "MODEL_CARD_TEMPLATE",
    "ModelCardCallback",
    "RespiraModelCardData",
    "card_data_from_run_dir",
    "render_model_card",
]

MODEL_CARD_TEMPLATE = "model_card_template.md"
"""Name of the Jinja template of the card, shipped as package data of ``respira.hub``."""

DEFAULT_THRESHOLDS: tuple[float, float] = (0.5, 0.5)
REPO_PLACEHOLDER = "path/to/exported_model"

ICBHI_CITATION = """@article{rocha2019icbhi,
  title   = {An open access database for the evaluation of respiratory sound classification algorithms},
  author  = {Rocha, Bruno M. and Filos, Dimitris and Mendes, Lu{\\'\\i}s and others},
  journal = {Physiological Measurement},
  volume  = {40},
  number  = {3},
  pages   = {035001},
  year    = {2019}
}"""

AUX_LOSS_NAMES: dict[str, str] = {
    "contrastive_tuple": "contrastive-tuple",
    "supcon": "SupCon",
    "metadata_contrastive": "metadata-contrastive",
    "add": "ADD",
    "patch_mix": "Patch-Mix contrastive",
}

# name in metrics.json (without the "test_" prefix) -> label shown in the card
MAIN_METRICS: dict[str, str] = {
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
MODEL_INDEX_METRICS: dict[str, str] = {
    "icbhi_score": "ICBHI score",
    "specificity": "Specificity",
    "sensitivity": "Sensitivity (strict)",
}
_NOT_METRICS = (
    "loss",
    "runtime",
    "samples_per_second",
    "steps_per_second",
    "epoch",
    "model_preparation_time",
)

HYPERPARAMETERS: dict[str, str] = {
    "learning_rate": "learning rate",
    "num_train_epochs": "epochs",
    "max_steps": "max steps",
    "per_device_train_batch_size": "batch size (per device)",
    "train_batch_size": "batch size",
    "gradient_accumulation_steps": "gradient accumulation steps",
    "weight_decay": "weight decay",
    "lr_scheduler_type": "learning-rate schedule",
    "warmup_ratio": "warm-up ratio",
    "warmup_steps": "warm-up steps",
    "optim": "optimizer",
    "max_grad_norm": "gradient clipping (max norm)",
    "label_smoothing_factor": "label smoothing",
    "aux_loss": "auxiliary loss",
    "aux_loss_weight": "auxiliary loss weight λ",
    "aux_loss_options": "auxiliary loss options",
    "aux_input": "auxiliary loss input",
    "batch_sampler": "batch sampler",
    "group_by_key": "grouping key (group_by_metadata)",
    "samples_per_group": "samples per group",
    "augmentation": "waveform augmentation",
    "mixup_alpha": "mixup α",
    "concat_same_label": "same-label concatenation probability",
    "concat_classes": "concatenation classes",
    "cache_embeddings": "cached embeddings (frozen encoder)",
    "lora_r": "LoRA rank (q_proj, v_proj)",
    "schedule": "training schedule",
    "two_stage_rounds": "two-stage rounds",
    "head_epochs": "head epochs per round",
    "early_stopping_patience": "early stopping patience",
    "metric_for_best_model": "model selection metric (validation)",
    "fp16": "fp16",
    "bf16": "bf16",
}
# options that only matter when another one is set
_CONDITIONAL: dict[str, tuple[str, Any]] = {
    "group_by_key": ("batch_sampler", "group_by_metadata"),
    "samples_per_group": ("batch_sampler", "group_by_metadata"),
    "concat_classes": ("concat_same_label", bool),
    "aux_loss_weight": ("aux_loss", bool),
    "aux_loss_options": ("aux_loss", bool),
    "aux_input": ("aux_loss", bool),
    "two_stage_rounds": ("schedule", "contrastive_two_stage"),
    "head_epochs": ("schedule", "contrastive_two_stage"),
}
_HIDE_IF_FALSY = {
    "fp16",
    "bf16",
    "cache_embeddings",
    "mixup_alpha",
    "concat_same_label",
    "warmup_steps",
    "warmup_ratio",
    "label_smoothing_factor",
    "early_stopping_patience",
    "weight_decay",
    "max_steps",
    "lora_r",
}

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# --------------------------------------------------------------------------------------------- helpers
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _collect(mapping: Mapping[str, Any], depth: int = 2) -> dict[str, Any]:
    """Keys of ``mapping`` and of its nested dicts (``depth`` levels), shallowest occurrence first."""
    found: dict[str, Any] = {}
    level: list[Mapping[str, Any]] = [mapping]
    for _ in range(depth + 1):
        next_level: list[Mapping[str, Any]] = []
        for item in level:
            for key, value in item.items():
                found.setdefault(str(key), value)
                if isinstance(value, Mapping):
                    next_level.append(value)
        level = next_level
    return found


def _lookup(flat: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = flat.get(name)
        if value is not None:
            return value
    return None


def _json_option(value: Any) -> Any:
    """Dict options may be stored as JSON strings (the command line) or mappings (YAML)."""
    if isinstance(value, str) and value.strip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _one_line(value: Any) -> str:
    """A table cell: mappings as compact JSON, lists comma-separated, ``|`` escaped."""
    if isinstance(value, Mapping):
        text = json.dumps(value, separators=(", ", ": "), default=str) if value else "none"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(_one_line(v) for v in value)
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return text.replace("|", "\\|")


def _percent(value: float | None) -> str:
    return (
        "undefined"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{100 * value:.2f}"
    )


def format_metric(name: str, value: float | None, std: float | None = None) -> str:
    """``61.23`` or ``61.23 ± 0.89`` (percent); counts (``num_*``) as integers."""
    if name.startswith("num_"):
        if value is None:
            return "undefined"
        if std is None or math.isnan(std):
            return f"{round(value)}" if not math.isnan(value) else "undefined"
        return f"{value:.1f} ± {std:.1f}"
    text = _percent(value)
    if std is not None and value is not None and not math.isnan(std):
        text += f" ± {100 * std:.2f}"
    return text


def metric_definitions_markdown() -> str:
    """The metric definitions of :mod:`respira.metrics` (its docstring), as Markdown."""
    from .. import metrics

    text = (metrics.__doc__ or "").strip()
    body = text.split("\n", 1)[1].strip() if "\n" in text else text
    body = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", body)  # Sphinx roles
    return body.replace("``", "`")


def _citation_key(bibtex: str) -> str:
    match = re.match(r"\s*@\w+\{([^,]+),", bibtex)
    return match.group(1) if match else ""


def _safetensors_parameters(path: Path) -> int | None:
    """Number of parameters stored in a safetensors file, from its header (no tensor is read)."""
    try:
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > 100_000_000:
                return None
            header = json.loads(handle.read(size))
    except (OSError, struct.error, ValueError):
        return None
    total = 0
    for name, entry in header.items():
        if name == "__metadata__" or not isinstance(entry, dict):
            continue
        total += math.prod(int(d) for d in entry.get("shape", []))
    return total


def _read_json(path: Path, required: bool = False) -> Any:
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path} not found")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None


def _as_int_list(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        return []


# --------------------------------------------------------------------------------------------- card data
@dataclass
class RespiraModelCardData(CardData):
    """Everything a respira model card states (a ``huggingface_hub.CardData``, like setfit's).

    ``to_dict()`` / ``to_yaml()`` give only the card's YAML metadata (license, tags, pipeline tag,
    base model, ``model-index``); the other fields feed the Markdown body through
    :meth:`template_context`. Fill it with :meth:`set_model_config`, :meth:`set_training_args`,
    :meth:`set_run_info`, :meth:`add_metrics` and :meth:`set_trainer_state`, or use
    :class:`ModelCardCallback` / :func:`card_data_from_run_dir`.
    """

    # Hub metadata
    model_id: str | None = None
    model_name: str | None = None
    language: str | list[str] | None = None
    license: str | None = "apache-2.0"
    library_name: str | None = "transformers"
    pipeline_tag: str = "audio-classification"
    tags: list[str] = field(
        default_factory=lambda: ["audio-classification", "respiratory-sound", "icbhi", "respira"]
    )
    base_model: str | None = None
    # task
    problem_type: str = SINGLE_LABEL
    id2label: dict[int, str] = field(default_factory=lambda: dict(enumerate(CLASS_NAMES)))
    thresholds: list[float] | None = None
    thresholds_tuned: bool = False
    # model
    encoder_type: str | None = None
    encoder_source: str | None = None
    architecture: dict[str, Any] = field(default_factory=dict)
    num_parameters: int | None = None
    # data
    dataset_name: str = "ICBHI 2017 Respiratory Sound Database"
    dataset_id: str = "icbhi_2017"
    synthetic_data: bool = False
    split_strategy: str | None = None
    validation_size: float | None = None
    split_seed: int | None = None
    seeds: list[int] = field(default_factory=list)
    model_seed: int | None = None
    split_sizes: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    # training
    recipe: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training_summary: dict[str, Any] = field(default_factory=dict)
    # results (metric names without the split prefix)
    test_metrics: dict[str, float | None] = field(default_factory=dict)
    test_metrics_std: dict[str, float | None] = field(default_factory=dict)
    per_seed_metrics: list[dict[str, Any]] = field(default_factory=list)
    validation_metrics: dict[str, float | None] = field(default_factory=dict)
    # free text
    notes: list[str] = field(default_factory=list)

    # CardData's dict-like helpers read ``__dict__``; the dataclass __init__ replaces CardData's.
    # ------------------------------------------------------------------ filling
    def set_model_config(self, config: Any) -> None:
        """Labels, problem type, encoder and architecture from a :class:`~respira.RespiraConfig`."""
        self.problem_type = getattr(config, "problem_type", None) or SINGLE_LABEL
        id2label = getattr(config, "id2label", None) or {}
        self.id2label = {int(k): str(v) for k, v in id2label.items()}
        encoder_config = getattr(config, "encoder_config", None)
        if isinstance(encoder_config, Mapping):
            self.encoder_type = encoder_config.get("model_type")
        elif encoder_config is not None:
            self.encoder_type = getattr(encoder_config, "model_type", None)
        self.encoder_source = getattr(config, "encoder_name_or_path", None) or self.encoder_source
        architecture = {}
        for key in (
            "featurizer",
            "sampling_rate",
            "target_seconds",
            "pad_mode",
            "crop_mode",
            "ast_length_policy",
            "pooling",
            "head",
            "head_dropout",
            "projector_dim",
            "freeze_encoder",
            "spec_augment",
            "class_weights",
        ):
            value = getattr(config, key, None)
            if key == "ast_length_policy" and (
                self.encoder is None or self.encoder.fit_config_to_frames is None
            ):
                continue
            architecture[key] = value
        self.architecture = architecture
        thresholds = getattr(config, "thresholds", None) or getattr(config, "decision_thresholds", None)
        if thresholds is not None:
            self.set_thresholds(thresholds, tuned=True)
        encoder = self.encoder
        if encoder is not None:
            self._add_tag(encoder.card_tag)
        source = self.encoder_source
        if self.base_model is None and source and _HUB_ID.match(source) and not Path(source).exists():
            self.base_model = source

    def set_thresholds(self, thresholds: Any, tuned: bool = True) -> None:
        """Decision thresholds of a multi-label model: ``[crackle, wheeze]`` or ``{"crackle": t, ...}``."""
        if isinstance(thresholds, Mapping):
            thresholds = [thresholds.get("crackle"), thresholds.get("wheeze")]
        values = [float(t) for t in thresholds if t is not None]
        if values:
            self.thresholds = values
            self.thresholds_tuned = tuned

    def set_training_args(self, args: Any) -> None:
        """Hyper-parameters from ``RespiraTrainingArguments`` (or any object / mapping with those fields)."""
        values = (
            args
            if isinstance(args, Mapping)
            else {k: getattr(args, k, None) for k in (*HYPERPARAMETERS, "seed")}
        )
        for key in HYPERPARAMETERS:
            value = values.get(key)
            if isinstance(value, Enum):  # e.g. SchedulerType, OptimizerNames
                value = value.value
            if value is not None:
                self.hyperparameters[key] = _json_option(value)
        seed = values.get("seed")
        if seed is not None and not self.seeds:
            self.seeds = [int(seed)]
        aux = self.hyperparameters.get("aux_loss")
        if aux:
            self._add_tag(f"{str(aux).replace('_', '-')}-loss")

    def set_run_info(self, run: Mapping[str, Any]) -> None:
        """Recipe options and the data description of ``respira_run.json`` (see the module docstring)."""
        flat = _collect(run)
        recipe = run.get("recipe")
        if isinstance(recipe, Mapping):
            recipe = _lookup(_collect(recipe), "name", "recipe_name", "path")
        self.recipe = str(recipe) if recipe else _lookup(flat, "recipe_name", "recipe_path") or self.recipe
        self.set_training_args({k: flat.get(k) for k in (*HYPERPARAMETERS, "seed")})
        seeds = _as_int_list(_lookup(flat, "seeds"))
        if seeds:
            self.seeds = seeds
        model_seed = _lookup(flat, "model_seed", "selected_seed", "exported_seed")
        if model_seed is not None:
            self.model_seed = int(model_seed)
        strategy = _lookup(flat, "split_strategy")
        if strategy is not None:
            self.split_strategy = str(strategy)
        validation_size = _lookup(flat, "validation_size")
        if _is_number(validation_size):
            self.validation_size = float(validation_size)
        split_seed = _lookup(flat, "split_seed", "data_seed", "validation_seed")
        if split_seed is not None:
            self.split_seed = int(split_seed)
        sizes = _lookup(flat, "split_sizes", "num_examples", "splits", "sizes")
        if isinstance(sizes, Mapping):
            self.split_sizes = dict(sizes)
        encoder_source = _lookup(flat, "encoder_name_or_path", "encoder_source")
        if isinstance(encoder_source, str) and not self.encoder_source:
            self.encoder_source = encoder_source
        synthetic = _lookup(flat, "synthetic", "synthetic_data", "is_synthetic")
        corpus_kind = _lookup(flat, "corpus", "corpus_kind", "data_kind")
        data_dir = _lookup(flat, "data_dir")
        if synthetic is not None:
            self.synthetic_data = bool(synthetic)
        elif isinstance(corpus_kind, str) and "synthetic" in corpus_kind.lower():
            self.synthetic_data = True
        elif isinstance(data_dir, str) and any("synthetic" in part.lower() for part in Path(data_dir).parts):
            self.synthetic_data = True  # e.g. `respira demo`'s <output>/synthetic_icbhi
        if self.synthetic_data:
            self.dataset_name = "synthetic ICBHI-format corpus (respira.data.make_synthetic_icbhi)"
            self.dataset_id = "synthetic_icbhi"
            self._add_tag("synthetic-data")
        keys = ["sampling_rate", "lowpass_cutoff", "lowpass_order", "train_fraction"]
        if self.split_strategy == "patient":
            keys += ["patient_split_fractions", "stratify_by"]
        for key in keys:
            value = flat.get(key)
            if value is None or (key == "train_fraction" and _is_number(value) and value >= 1):
                continue
            if key == "patient_split_fractions" and isinstance(value, str):
                value = [float(part) for part in value.split(",") if part.strip()]
            self.data_options[key] = value
        thresholds = _lookup(flat, "thresholds", "decision_thresholds")
        if thresholds is not None:
            self.set_thresholds(thresholds, tuned=True)
        for key, attribute in (("license", "license"), ("model_name", "model_name")):
            value = run.get(key)
            if isinstance(value, str):
                setattr(self, attribute, value)
        notes = run.get("card_notes") or run.get("notes")
        if isinstance(notes, str):
            notes = [notes]
        if isinstance(notes, Sequence):
            self.notes.extend(str(n) for n in notes if str(n) not in self.notes)

    def add_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Record metrics: ``test_*`` keys are test results, ``eval_*`` keys validation results.

        ``test_<name>_mean`` / ``test_<name>_std`` (multi-seed runs) take precedence over ``test_<name>``.
        """
        means: dict[str, Any] = {}
        stds: dict[str, Any] = {}
        plain: dict[str, Any] = {}
        for key, value in metrics.items():
            if key.startswith("eval_"):
                name = key[len("eval_") :]
                if (value is None or _is_number(value)) and not name.endswith(_NOT_METRICS):
                    self.validation_metrics[name] = value
                continue
            if not key.startswith("test_"):
                continue
            name = key[len("test_") :]
            target = plain
            for suffix, bucket in (("_mean", means), ("_std", stds)):
                if name.endswith(suffix):
                    name, target = name[: -len(suffix)], bucket
                    break
            if name.endswith(_NOT_METRICS) or not (value is None or _is_number(value)):
                continue
            target[name] = value
        for name, value in plain.items():
            if name not in means:
                self.test_metrics[name] = value
        self.test_metrics.update(means)
        self.test_metrics_std.update({name: std for name, std in stds.items() if name in self.test_metrics})
        seeds = _as_int_list(metrics.get("seeds"))
        if seeds:
            self.seeds = seeds
        per_seed = metrics.get("per_seed") or metrics.get("runs")
        if isinstance(per_seed, Mapping):  # {"<seed>": {"test_...": ...}}
            per_seed = [
                {"seed": seed, **entry} for seed, entry in per_seed.items() if isinstance(entry, Mapping)
            ]
        if isinstance(per_seed, Sequence) and not isinstance(per_seed, str):
            self.per_seed_metrics = [dict(entry) for entry in per_seed if isinstance(entry, Mapping)]
        selected = metrics.get("selected_seed")
        if selected is not None and self.model_seed is None:
            self.model_seed = int(selected)
        thresholds = metrics.get("thresholds")
        if thresholds is not None:
            self.set_thresholds(thresholds, tuned=True)

    def set_trainer_state(self, state: Any) -> None:
        """Steps, epochs and the best validation score from a ``TrainerState`` (or its JSON dict)."""
        values = state if isinstance(state, Mapping) else getattr(state, "__dict__", {})
        for key in ("global_step", "epoch", "best_metric", "best_global_step"):
            value = values.get(key)
            if value is not None:
                self.training_summary[key] = value
        for key in ("num_train_epochs", "train_batch_size", "max_steps"):
            value = values.get(key)
            if value and key not in self.hyperparameters:
                if key == "train_batch_size" and "per_device_train_batch_size" in self.hyperparameters:
                    continue
                self.hyperparameters[key] = value
        history = [entry for entry in values.get("log_history") or [] if isinstance(entry, Mapping)]
        for key in ("step", "epoch"):
            summary_key = "global_step" if key == "step" else key
            steps = [entry[key] for entry in history if _is_number(entry.get(key))]
            if summary_key not in self.training_summary and steps:
                self.training_summary[summary_key] = max(steps)
        best_metric = values.get("best_metric")
        selection = self.hyperparameters.get("metric_for_best_model", "icbhi_score")
        selection = str(selection).removeprefix("eval_")
        for entry in values.get("log_history") or []:
            if not isinstance(entry, Mapping) or f"eval_{selection}" not in entry:
                continue
            if best_metric is None or entry[f"eval_{selection}"] == best_metric:
                self.validation_metrics = {}
                self.add_metrics({k: v for k, v in entry.items() if k.startswith("eval_")})
                if best_metric is not None:
                    break

    def _add_tag(self, tag: str) -> None:
        if tag not in self.tags:
            self.tags.append(tag)

    # ------------------------------------------------------------------ derived
    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == MULTI_LABEL

    @property
    def encoder(self) -> EncoderSpec | None:
        return find_encoder_spec(self.encoder_type)

    @property
    def multi_seed(self) -> bool:
        return len(self.seeds) > 1 or bool(self.test_metrics_std)

    def get_model_name(self) -> str:
        if self.model_name:
            return self.model_name
        encoder = self.encoder.display_name if self.encoder else (self.encoder_type or "respira")
        aux = self.hyperparameters.get("aux_loss")
        method = f" + {AUX_LOSS_NAMES.get(str(aux), str(aux))} loss" if aux else ""
        data = "a synthetic ICBHI-format corpus" if self.synthetic_data else "ICBHI 2017"
        return f"respira {encoder}{method} on {data}"

    def eval_results(self) -> list[EvalResult]:
        """``model-index`` results: ICBHI score, specificity and sensitivity on the test split (in %)."""
        results = []
        for name, label in MODEL_INDEX_METRICS.items():
            value = self.test_metrics.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            std = self.test_metrics_std.get(name)
            suffix = ""
            if std is not None and len(self.seeds) > 1:
                suffix = f", mean over {len(self.seeds)} seeds, std {100 * std:.2f}"
            results.append(
                EvalResult(
                    task_type="audio-classification",
                    task_name="Respiratory sound classification",
                    dataset_type=self.dataset_id,
                    dataset_name=self.dataset_name,
                    dataset_config=self.split_strategy or None,
                    dataset_split="test",
                    metric_type=name,
                    metric_name=f"Test {label} (%{suffix})",
                    metric_value=round(100 * float(value), 2),
                )
            )
        return results

    def to_dict(self) -> dict[str, Any]:
        """The card's YAML metadata only (the other fields fill the Markdown body)."""
        data: dict[str, Any] = {
            "language": self.language,
            "license": self.license,
            "library_name": self.library_name,
            "pipeline_tag": self.pipeline_tag,
            "tags": list(self.tags),
            "base_model": self.base_model,
            "metrics": list(MODEL_INDEX_METRICS),
        }
        results = self.eval_results()
        if results:
            data["model-index"] = eval_results_to_model_index(self.get_model_name(), results)
        return {key: value for key, value in data.items() if value is not None}

    # ------------------------------------------------------------------ rendering helpers
    def citations(self) -> list[tuple[str, str]]:
        """``(what, bibtex)`` for the database and every method this model uses."""
        from ..losses import AUXILIARY_LOSSES

        items: list[tuple[str, str]] = [("ICBHI 2017 Respiratory Sound Database", ICBHI_CITATION)]
        if self.encoder is not None:
            items.append((f"Encoder: {self.encoder.citation_key}", self.encoder.citation))
        aux = self.hyperparameters.get("aux_loss")
        loss_class = AUXILIARY_LOSSES.get(str(aux)) if aux else None
        if loss_class is not None and getattr(loss_class, "citation", ""):
            items.append((f"Auxiliary loss: {AUX_LOSS_NAMES.get(str(aux), aux)}", loss_class.citation))
        if self.hyperparameters.get("batch_sampler") == "contrastive_tuple" or aux == "contrastive_tuple":
            items.append(("Contrastive-tuple batches", CONTRASTIVE_TUPLE_CITATION))
        unique: list[tuple[str, str]] = []
        seen: set[str] = set()
        for what, bibtex in items:
            key = _citation_key(bibtex)
            if key in seen:
                continue
            seen.add(key)
            unique.append((what, bibtex))
        return unique

    def split_description(self) -> str:
        validation = ""
        if self.validation_size:
            validation = (
                f" A patient-disjoint, class-stratified {self.validation_size:.0%} of the training cycles "
                "was held out as the validation split, used for model selection and early stopping only."
            )
        if self.split_strategy == "official" and self.synthetic_data:
            return (
                "The train/test split of the synthetic corpus's split file (which imitates the official "
                "ICBHI 2017 one)." + validation + " The test split was scored once, at the end."
            )
        if self.split_strategy == "official":
            official = corpus.OFFICIAL_SPLIT_CYCLES
            return (
                "The **official ICBHI 2017 train/test split** (recordings assigned by the challenge's "
                f"split file; {official['train']} train / {official['test']} test cycles on the complete "
                "database). Results are comparable with published official-split ICBHI results."
                + validation
                + " The test split was scored once, at the end."
            )
        if self.split_strategy == "patient":
            fractions = self.data_options.get("patient_split_fractions") or (0.6, 0.2, 0.2)
            shares = "/".join(f"{100 * float(f):.0f}" for f in fractions)
            return (
                f"A **patient-wise train/validation/test split** ({shares} % of the patients, no patient in "
                "two splits, every class in every split), **not the official split**: results are not "
                "comparable with published official-split ICBHI scores. The validation split was used for "
                "model selection only and the test split was scored once, at the end."
            )
        return "Unknown split (no `split_strategy` was recorded for this run)." + validation

    def split_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        order = {"train": 0, "validation": 1, "test": 2}
        for split, value in sorted(
            self.split_sizes.items(), key=lambda item: (order.get(item[0], 3), item[0])
        ):
            if isinstance(value, Mapping):
                cycles = value.get("cycles", value.get("num_cycles", value.get("examples", "")))
                patients = value.get("patients", value.get("num_patients", ""))
                rows.append((str(split), str(cycles), str(patients)))
            else:
                rows.append((str(split), str(value), ""))
        return rows

    def subset_note(self) -> str | None:
        total = 0
        for _, cycles, _ in self.split_rows():
            if not cycles.isdigit():
                return None
            total += int(cycles)
        if total and total != corpus.NUM_CYCLES and not self.synthetic_data:
            return (
                f"These splits hold {total} cycles, not the {corpus.NUM_CYCLES} of the complete database: "
                "the run used a subset, so its scores are not comparable with published results."
            )
        return None

    def result_rows(self) -> list[dict[str, str]]:
        rows = []
        for name, label in MAIN_METRICS.items():
            if name not in self.test_metrics:
                continue
            rows.append(
                {
                    "name": name,
                    "label": label,
                    "value": format_metric(name, self.test_metrics[name], self.test_metrics_std.get(name)),
                }
            )
        return rows

    def other_result_rows(self) -> list[dict[str, str]]:
        rows = []
        for name, value in sorted(self.test_metrics.items()):
            if name in MAIN_METRICS:
                continue
            rows.append({"name": name, "value": format_metric(name, value, self.test_metrics_std.get(name))})
        return rows

    def per_seed_rows(self) -> tuple[list[str], list[list[str]]]:
        if len(self.per_seed_metrics) < 2:
            return [], []
        names = [
            n for n in MODEL_INDEX_METRICS if any(f"test_{n}" in e or n in e for e in self.per_seed_metrics)
        ]
        rows = []
        for entry in self.per_seed_metrics:
            values = [format_metric(n, entry.get(f"test_{n}", entry.get(n))) for n in names]
            rows.append([str(entry.get("seed", "?")), *values])
        return [MODEL_INDEX_METRICS[n] for n in names], rows

    def hyperparameter_rows(self) -> list[tuple[str, str]]:
        rows = []
        for key, label in HYPERPARAMETERS.items():
            if key not in self.hyperparameters:
                continue
            value = self.hyperparameters[key]
            condition = _CONDITIONAL.get(key)
            if condition is not None:
                other = self.hyperparameters.get(condition[0])
                check = condition[1]
                if not (check(other) if callable(check) else other == check):
                    continue
            if key in _HIDE_IF_FALSY and not value:
                continue
            if key == "max_steps" and isinstance(value, int) and value <= 0:
                continue
            if key == "gradient_accumulation_steps" and value == 1:
                continue
            if key == "train_batch_size" and "per_device_train_batch_size" in self.hyperparameters:
                continue
            if key in ("augmentation", "aux_loss_options") and not value:
                value = "none"
            if key == "aux_loss" and not value:
                value = "none"
            rows.append((label, f"`{_one_line(value)}`"))
        if len(self.seeds) > 0:
            rows.append(("seeds" if len(self.seeds) > 1 else "seed", ", ".join(str(s) for s in self.seeds)))
        return rows

    def architecture_rows(self) -> list[tuple[str, str]]:
        rows = []
        for key, value in self.architecture.items():
            if value is None or (key in ("spec_augment", "class_weights") and not value):
                continue
            if key == "target_seconds":
                rows.append(("fixed input length", f"{value:g} s"))
                continue
            if key == "sampling_rate":
                rows.append(("sampling rate", f"{value} Hz"))
                continue
            rows.append((key.replace("_", " "), f"`{_one_line(value)}`"))
        if self.num_parameters is not None:
            rows.append(("parameters", f"{self.num_parameters:,}"))
        return rows

    def data_option_rows(self) -> list[tuple[str, str]]:
        labels = {
            "sampling_rate": ("audio resampled to", " Hz"),
            "lowpass_cutoff": ("low-pass filter cutoff", " Hz"),
            "lowpass_order": ("low-pass filter order", ""),
            "patient_split_fractions": ("patient split fractions (train, validation, test)", ""),
            "stratify_by": ("patient split stratified by", ""),
            "train_fraction": ("share of the training patients used", ""),
        }
        rows = []
        for key, value in self.data_options.items():
            label, unit = labels.get(key, (key.replace("_", " "), ""))
            rows.append((label, f"{_one_line(value)}{unit}"))
        return rows

    def threshold_rows(self) -> list[tuple[str, str]]:
        if not self.is_multi_label:
            return []
        thresholds = self.thresholds or list(DEFAULT_THRESHOLDS)
        labels = [self.id2label.get(i, f"label {i}") for i in range(len(thresholds))]
        return [(label, f"{t:g}") for label, t in zip(labels, thresholds, strict=False)]

    def template_context(self) -> dict[str, Any]:
        """Everything the Jinja template uses, already formatted."""
        encoder = self.encoder
        per_seed_header, per_seed_rows = self.per_seed_rows()
        repo = self.model_id or REPO_PLACEHOLDER
        return {
            "card": self,
            "model_name": self.get_model_name(),
            "model_id": self.model_id,
            "repo": repo,
            "is_multi_label": self.is_multi_label,
            "labels": [self.id2label[i] for i in sorted(self.id2label)],
            "encoder_name": encoder.display_name if encoder else (self.encoder_type or "unknown encoder"),
            "encoder_description": encoder.card_description if encoder else (self.encoder_type or "unknown"),
            "encoder_source": self.encoder_source,
            "encoder_source_is_hub": bool(self.base_model),
            "architecture_rows": self.architecture_rows(),
            "threshold_rows": self.threshold_rows(),
            "thresholds_tuned": self.thresholds_tuned,
            "dataset_name": self.dataset_name,
            "synthetic_data": self.synthetic_data,
            "split_description": self.split_description(),
            "split_rows": self.split_rows(),
            "split_has_patients": any(patients for _, _, patients in self.split_rows()),
            "subset_note": self.subset_note(),
            "split_seed": self.split_seed
            if self.validation_size or self.split_strategy == "patient"
            else None,
            "split_seed_label": "Patient split seed"
            if self.split_strategy == "patient"
            else "Validation split seed",
            "seeds": self.seeds,
            "model_seed": self.model_seed,
            "multi_seed": len(self.seeds) > 1 and bool(self.test_metrics_std),
            "data_option_rows": self.data_option_rows(),
            "sampling_rate_khz": f"{(self.architecture.get('sampling_rate') or 16000) / 1000:g}",
            "recipe": self.recipe,
            "hyperparameter_rows": self.hyperparameter_rows(),
            "training_summary": self.training_summary,
            "result_rows": self.result_rows(),
            "other_result_rows": self.other_result_rows(),
            "per_seed_header": per_seed_header,
            "per_seed_rows": per_seed_rows,
            "validation_rows": [
                {"label": MAIN_METRICS[n], "value": format_metric(n, self.validation_metrics[n])}
                for n in MAIN_METRICS
                if n in self.validation_metrics
            ],
            "metric_definitions": metric_definitions_markdown(),
            "citations": self.citations(),
            "notes": self.notes,
            "devices": list(corpus.DEVICES.values()),
            "num_patients": corpus.NUM_PATIENTS,
            "num_recordings": corpus.NUM_RECORDINGS,
            "num_cycles": corpus.NUM_CYCLES,
        }


# --------------------------------------------------------------------------------------------- callback
class ModelCardCallback(TrainerCallback):
    """Fills a :class:`RespiraModelCardData` while a ``Trainer`` runs.

    ``on_train_begin``: labels, encoder and architecture from ``model.config`` and the hyper-parameters
    from the training arguments; ``on_evaluate``: validation (``eval_*``) and test (``test_*``, from
    ``RespiraTrainer.evaluate_test``) metrics; ``on_train_end``: steps, epochs and the best validation
    score. ``callback.card_data`` is then ready for :func:`render_model_card`.
    """

    def __init__(self, card_data: RespiraModelCardData | None = None) -> None:
        self.card_data = card_data if card_data is not None else RespiraModelCardData()

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is not None and getattr(model, "config", None) is not None:
            self.card_data.set_model_config(model.config)
            if self.card_data.num_parameters is None:
                with contextlib.suppress(AttributeError, TypeError):
                    self.card_data.num_parameters = sum(p.numel() for p in model.parameters())
        self.card_data.set_training_args(args)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics:
            self.card_data.add_metrics(metrics)

    def on_train_end(self, args, state, control, **kwargs):
        self.card_data.set_trainer_state(state)


# --------------------------------------------------------------------------------------------- run folders
def card_data_from_run_dir(run_dir: str | Path, *, model_id: str | None = None) -> RespiraModelCardData:
    """Build the card data of a training run folder (see the module docstring for the files read)."""
    from ..models import RespiraConfig

    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir} has no config.json: not a respira model folder")
    card = RespiraModelCardData(model_id=model_id)
    run = _read_json(run_dir / "respira_run.json")
    if isinstance(run, Mapping):
        card.set_run_info(run)
    card.set_model_config(RespiraConfig.from_pretrained(run_dir))
    weights = run_dir / "model.safetensors"
    if weights.is_file():
        card.num_parameters = _safetensors_parameters(weights)
    state = _read_json(run_dir / "trainer_state.json")
    if isinstance(state, Mapping):
        card.set_trainer_state(state)
    metrics = _read_json(run_dir / "metrics.json")
    if isinstance(metrics, Mapping):
        card.add_metrics(metrics)
    return card


def _template_text() -> str:
    return resources.files(__package__).joinpath(MODEL_CARD_TEMPLATE).read_text(encoding="utf-8")


def render_model_card(card_data: RespiraModelCardData, template: str | None = None) -> ModelCard:
    """Render the card: YAML metadata from ``card_data.to_yaml()``, the body from the Jinja template.

    ``template``: Jinja text to use instead of the packaged ``model_card_template.md``.
    """
    import jinja2

    environment = jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    text = environment.from_string(template if template is not None else _template_text()).render(
        card_data=card_data.to_yaml(), **card_data.template_context()
    )
    text = re.sub(r"\n{3,}", "\n\n", text)
    return ModelCard(text)

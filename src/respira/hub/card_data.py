"""What a respira model card states: :class:`RespiraModelCardData` and the names it uses."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import CardData
from huggingface_hub.repocard_data import eval_results_to_model_index

from ..models.respira.audio_decoding import is_real
from ..models.respira.decision import aggregation_of, has_tuned_thresholds, thresholds_of
from ..models.respira.encoders import EncoderSpec, find_encoder_spec
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL, SINGLE_LABEL
from ..records.run import RunRecord, SeedResult, SplitSize
from ..records.site_fit import SiteFitRecord
from ..records.site_verdict import SiteVerdict
from .card_results import HUB_METRIC_ID, ExternalValidation, eval_results
from .encoder_cards import EncoderCard, encoder_card
from .hub_errors import is_hub_origin, is_hub_repo_id

TRAINER_STATE_FACTS: tuple[str, ...] = ("global_step", "epoch", "best_metric", "best_global_step")
"""What the card says of a ``trainer_state.json`` besides its log (``scripts/_build.py`` keeps them)."""

AUX_LOSS_NAMES: dict[str, str] = {
    "contrastive_tuple": "contrastive-tuple",
    "supcon": "SupCon",
    "metadata_contrastive": "metadata-contrastive",
    "add": "ADD",
    "patch_mix": "Patch-Mix contrastive",
    "stethoscope_supcon": "stethoscope-guided SupCon",
}
NOT_METRICS = ("loss", "runtime", "samples_per_second", "steps_per_second", "epoch", "model_preparation_time")
"""Suffixes of ``Trainer`` metrics that are no scores (left off the card's results)."""

HYPERPARAMETERS: dict[str, str] = {
    "learning_rate": "learning rate",
    "num_train_epochs": "epochs",
    "max_steps": "max steps",
    "per_device_train_batch_size": "batch size (per device)",
    "train_batch_size": "batch size",
    "gradient_accumulation_steps": "gradient accumulation steps",
    "weight_decay": "weight decay",
    "lr_scheduler_type": "learning-rate schedule",
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
    "augmentation": "waveform augmentation",
    "concat_same_label": "same-label concatenation probability",
    "concat_classes": "concatenation classes",
    "cache_embeddings": "cached embeddings (frozen encoder)",
    "augmented_views": "cached augmented views per training cycle (frozen encoder)",
    "lora_r": "LoRA rank (q_proj, v_proj)",
    "schedule": "training schedule",
    "two_stage_rounds": "two-stage rounds",
    "head_epochs": "head epochs per round",
    "head_learning_rate": "head learning rate (two-stage)",
    "early_stopping_patience": "early stopping patience",
    "metric_for_best_model": "model selection metric (validation)",
    "threshold_objective": "decision thresholds tuned for",
    "threshold_source": "decision thresholds tuned on",
    "threshold_folds": "patient groups of the threshold cross-fit",
    "threshold_aggregation": "threshold cross-fit scored (pooled, or its worst recording domain)",
    "mil_weight": "multiple-instance loss weight (recording bags)",
    "mil_pooling": "multiple-instance pooling of a recording's windows",
    "fp16": "fp16",
    "bf16": "bf16",
}
"""Hyper-parameters a card states (the training arguments' names), with their labels."""
ARCHITECTURE_KEYS = (
    *("featurizer", "sampling_rate", "lowpass_cutoff", "lowpass_order", "target_seconds", "pad_mode"),
    *("ast_length_policy", "pooling", "head", "head_dropout", "head_norm"),
    *("head_hidden_size", "projector_dim", "freeze_encoder", "spec_augment"),
)
"""The :class:`~respira.RespiraConfig` fields a card lists, in this order."""


def _json_option(value: Any) -> Any:
    if isinstance(value, str) and value.strip().startswith(("{", "[")):
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(value)
    return value


@dataclass
class RespiraModelCardData(CardData):
    """Everything a respira model card states (a ``huggingface_hub.CardData``): ``to_yaml()`` gives its YAML
    metadata; the other fields feed the Markdown body."""

    # Hub metadata (library_name None: transformers when the code ships with the model, else respira)
    model_id: str | None = None
    model_name: str | None = None
    language: str | list[str] | None = None
    license: str | None = "apache-2.0"
    library_name: str | None = None
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
    # model (recording_rule: the config's rule from window to recording probabilities)
    encoder_type: str | None = None
    encoder_source: str | None = None
    architecture: dict[str, Any] = field(default_factory=dict)
    recording_rule: tuple[str, int | None] = ("max", None)
    num_parameters: int | None = None
    # data (hub_dataset: the Hub dataset it was trained on; corpora: CORPORA names, ICBHI first)
    dataset_name: str = "ICBHI 2017 Respiratory Sound Database"
    dataset_id: str = "icbhi_2017"
    hub_dataset: str | None = None
    dataset_config: str | None = None
    corpora: list[str] = field(default_factory=lambda: ["icbhi"])
    synthetic_data: bool = False
    split_strategy: str | None = None
    validation_size: float | None = None
    split_seed: int | None = None
    seeds: list[int] = field(default_factory=list)
    model_seed: int | None = None
    split_sizes: dict[str, SplitSize] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    # training
    recipe: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training_summary: dict[str, Any] = field(default_factory=dict)
    # results (metric names without the split prefix)
    test_metrics: dict[str, float | None] = field(default_factory=dict)
    test_metrics_std: dict[str, float | None] = field(default_factory=dict)
    per_seed_metrics: list[SeedResult] = field(default_factory=list)
    validation_metrics: dict[str, float | None] = field(default_factory=dict)
    # what the folder holds besides the weights
    remote_code: bool = False
    code_requirements: list[str] = field(default_factory=list)
    code_size: tuple[int, int] | None = None
    onnx: bool = False
    adapter: bool = False
    checksums: dict[str, str] = field(default_factory=dict)
    # what the folder's files say
    external_validations: list[ExternalValidation] = field(default_factory=list)
    site_verdicts: list[SiteVerdict] = field(default_factory=list)
    build_record: Mapping[str, Any] | None = None
    code_elsewhere: str | None = None
    """What exports the code of a folder that declares it (``auto_map``) without the files."""
    site_fit: SiteFitRecord | None = None
    site_fit_base: Path | None = None
    base_comparison: list[dict[str, Any]] = field(default_factory=list)
    """Per held-out site, this detector's verdict beside the one it replaced (``card_results``)."""
    notes: list[str] = field(default_factory=list)

    def set_model_config(self, config: Any) -> None:
        """Labels, problem type, encoder and architecture from a :class:`~respira.RespiraConfig`."""
        self.problem_type = config.problem_type
        self.id2label = {int(k): str(v) for k, v in config.id2label.items()}
        self.encoder_type = config.encoder_config.model_type
        adapts_length = self.encoder is not None and self.encoder.fit_config_to_frames is not None
        self.architecture = {
            key: getattr(config, key)
            for key in ARCHITECTURE_KEYS
            if key != "ast_length_policy" or adapts_length  # only encoders that adapt to the length
        }
        self.recording_rule = aggregation_of(config)
        if has_tuned_thresholds(config):
            self.set_thresholds(thresholds_of(config), tuned=True)
        self._set_encoder_source(config.encoder_name_or_path)

    def _set_encoder_source(self, source: str | None) -> None:
        if source:
            self.encoder_source = source
        if self.base_model is None and source and is_hub_origin(source):
            self.base_model = source

    def set_fitted_thresholds(self, config: Any) -> None:
        """A site-fitted folder's thresholds: its config's (the fit's), not its run record's."""
        self.set_thresholds(thresholds_of(config))

    def set_thresholds(self, thresholds: Any, tuned: bool = True) -> None:
        """Decision thresholds of a multi-label model: ``[crackle, wheeze]``."""
        values = [float(t) for t in thresholds if t is not None]
        if values:
            self.thresholds = values
            self.thresholds_tuned = tuned

    def set_run_record(self, record: RunRecord) -> None:
        """Everything the run record holds: recipe, hyper-parameters, data, seeds, thresholds, results."""
        training = record.training
        self.recipe = record.recipe
        values = {
            **training.hyperparameters,
            "schedule": training.schedule,
            "two_stage_rounds": training.two_stage_rounds,
            "head_epochs": training.head_epochs,
            "head_learning_rate": training.head_learning_rate,
            "lora_r": record.model.lora_r,
        }
        self.hyperparameters = {
            k: _json_option(values[k]) for k in HYPERPARAMETERS if values.get(k) is not None
        }
        seed = values.get("seed")
        self.seeds = list(record.seeds) or ([int(seed)] if seed is not None else self.seeds)
        self.model_seed = record.selected_seed
        if record.model.num_parameters is not None:
            self.num_parameters = record.model.num_parameters
        if self.encoder_source is None:
            self._set_encoder_source(record.model.checkpoint)
        if record.thresholds is not None:
            self.set_thresholds(record.thresholds, tuned=record.thresholds_tuned)
        self._set_data(record)
        metrics = record.metrics
        self.test_metrics = {k: v for k, v in metrics.test.items() if not k.endswith(NOT_METRICS)}
        self.test_metrics_std = {k: v for k, v in metrics.test_std.items() if k in self.test_metrics}
        self.per_seed_metrics = list(metrics.per_seed)
        selected = record.selected_result()
        if selected is not None and selected.validation:
            self.validation_metrics = {
                k: v for k, v in selected.validation.items() if not k.endswith(NOT_METRICS)
            }

    def _set_data(self, record: RunRecord) -> None:
        data = record.data
        self.split_strategy = data.split_strategy
        self.validation_size = data.validation_size
        self.split_seed = data.split_seed
        self.split_sizes = dict(data.split_sizes)
        self.synthetic_data = data.synthetic
        if self.synthetic_data:
            self.dataset_name = "synthetic ICBHI-format corpus (respira.synthetic.make_synthetic_icbhi)"
            self.dataset_id = "synthetic_icbhi"
        if data.dataset_name and is_hub_repo_id(data.dataset_name):
            self.hub_dataset = self.dataset_id = data.dataset_name
            self.dataset_config = data.dataset_config_name
        options: dict[str, Any] = {"sampling_rate": data.sampling_rate}
        if data.lowpass_cutoff is not None:
            options["lowpass_cutoff"] = data.lowpass_cutoff
        if data.train_fraction < 1:
            options["train_fraction"] = data.train_fraction
        if data.split_strategy in ("patient_kfold", "leave_one_device_out"):
            options["num_folds"] = data.num_folds
            options["fold"] = data.fold
        if data.fold_devices:
            options["fold_devices"] = list(data.fold_devices)
        if data.corpora:
            self.corpora = [corpus.name for corpus in data.corpora]
            options["training_corpora"] = "; ".join(_describe_corpus(corpus) for corpus in data.corpora)
        if data.split_strategy == "patient":
            if data.patient_split_fractions is not None:
                options["patient_split_fractions"] = list(data.patient_split_fractions)
            if data.stratify_by is not None:
                options["stratify_by"] = data.stratify_by
        self.data_options = options

    def set_trainer_state(self, values: Mapping[str, Any]) -> None:
        """Steps, epochs and the best validation score from a ``trainer_state.json``."""
        self.training_summary.update({k: values[k] for k in TRAINER_STATE_FACTS if values.get(k) is not None})
        for key in ("num_train_epochs", "train_batch_size", "max_steps"):
            if values.get(key):
                self.hyperparameters.setdefault(key, values[key])
        history = [entry for entry in values.get("log_history") or [] if isinstance(entry, Mapping)]
        for key, summary_key in (("step", "global_step"), ("epoch", "epoch")):
            steps = [entry[key] for entry in history if is_real(entry.get(key))]
            if summary_key not in self.training_summary and steps:
                self.training_summary[summary_key] = max(steps)
        best_metric = values.get("best_metric")
        selection = str(self.hyperparameters.get("metric_for_best_model", "icbhi_score")).removeprefix(
            "eval_"
        )
        for entry in history:
            if f"eval_{selection}" not in entry:
                continue
            if best_metric is None or entry[f"eval_{selection}"] == best_metric:
                self.validation_metrics = {
                    key.removeprefix("eval_"): value
                    for key, value in entry.items()
                    if key.startswith("eval_") and not key.endswith(NOT_METRICS)
                    and (value is None or is_real(value))
                }  # fmt: skip
                if best_metric is not None:
                    break

    def all_tags(self) -> list[str]:
        """``tags`` and those the card data implies (auxiliary loss, encoder, code, ONNX, corpora...)."""
        tags = list(self.tags)
        aux = self.hyperparameters.get("aux_loss")
        implied = [
            f"{str(aux).replace('_', '-')}-loss" if aux else None,
            "synthetic-data" if self.synthetic_data else None,
            self.encoder_card.tag if self.encoder_card is not None else None,
            "custom_code" if self.remote_code else None,
            "onnx" if self.onnx else None,
        ]
        implied.extend(self.corpora)
        tags.extend(tag for tag in implied if tag is not None and tag not in tags)
        return tags

    @property
    def is_multi_label(self) -> bool:
        return self.problem_type == MULTI_LABEL

    @property
    def encoder(self) -> EncoderSpec | None:
        """The registry's spec of the encoder family."""
        return find_encoder_spec(self.encoder_type)

    @property
    def encoder_card(self) -> EncoderCard | None:
        """What the card says of the encoder family: its tag, description and citation."""
        return encoder_card(self.encoder) if self.encoder is not None else None

    def get_model_name(self) -> str:
        if self.model_name:
            return self.model_name
        encoder = self.encoder.display_name if self.encoder else (self.encoder_type or "respira")
        aux = self.hyperparameters.get("aux_loss")
        method = f" + {AUX_LOSS_NAMES.get(str(aux), str(aux))} loss" if aux else ""
        data = "a synthetic ICBHI-format corpus" if self.synthetic_data else "ICBHI 2017"
        return f"respira {encoder}{method} on {data}"

    def to_dict(self) -> dict[str, Any]:
        """The card's YAML metadata only (the other fields fill the Markdown body)."""
        data: dict[str, Any] = {
            "language": self.language,
            "license": self.license,
            "library_name": self.library_name or ("transformers" if self.remote_code else "respira"),
            "pipeline_tag": self.pipeline_tag,
            "tags": self.all_tags(),
            "base_model": self.base_model,
            "datasets": [self.hub_dataset] if self.hub_dataset else None,
            "metrics": [HUB_METRIC_ID],
        }
        dataset = (self.dataset_id, self.dataset_name, self.dataset_config or self.split_strategy or None)
        test = (self.test_metrics, self.test_metrics_std, len(self.seeds))
        results = eval_results(test, dataset, self.site_verdicts, self.external_validations)
        if results:
            data["model-index"] = eval_results_to_model_index(self.get_model_name(), results)
        return {key: value for key, value in data.items() if value is not None}


def _describe_corpus(corpus: Any) -> str:
    """``kauh (recording labels: 42 patients, 126 recordings, 1100 windows)`` for a run record's corpus."""
    unit = {"cycle": "cycles", "event": "events"}.get(corpus.labels, "windows")
    sizes = ((corpus.patients, "patients"), (corpus.recordings, "recordings"), (corpus.examples, unit))
    counts = [f"{value} {name}" for value, name in sizes if value is not None]
    return f"{corpus.name} ({corpus.labels} labels" + (f": {', '.join(counts)})" if counts else ")")

"""Rendering respira model cards from a folder's JSON files and the weights' header."""

from __future__ import annotations

import functools
import json
import math
import re
import warnings
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard

from .. import metrics
from ..data import corpus_files
from ..data.corpora import get_corpus
from ..metrics.baselines import icbhi_below_baselines
from ..models import RespiraConfig
from ..models.lora import has_adapter
from ..models.respira.audio_checks import LUNG_SOUND_BAND_TOP
from ..models.respira.audio_decoding import DEFAULT_SAMPLING_RATE
from ..models.respira.audio_dsp import DEFAULT_LOWPASS_ORDER
from ..models.respira.citations import CONTRASTIVE_TUPLE_CITATION
from ..models.respira.decision import thresholds_of, validate_thresholds
from ..models.respira.windows import describe_aggregation
from ..pretrained import BUILD_RECORD, SITE_FIT_PROTOCOL, site_verdicts
from ..pretrained.shipped import shipped_detector
from ..pretrained.site_fit import read_site_fit
from ..run_record import RunRecord
from ..utils.files import read_json_object
from ..utils.tables import format_score
from .card_data import AUX_LOSS_NAMES, HYPERPARAMETERS, RespiraModelCardData
from .card_results import (
    StaleEvaluationWarning,
    base_comparison,
    external_validations,
    held_out_titles,
    metric_rows,
    per_seed_rows,
    site_fit_context,
)
from .checksums import read_checksums
from .loading import check_model_folder
from .onnx import ONNX_FILE
from .remote_code import code_size, remote_code_files

MODEL_CARD_TEMPLATE = "model_card_template.md"
"""Name of the Jinja template of the card, shipped as package data of ``respira.hub``."""

_CONDITIONAL: dict[str, tuple[str, Any]] = {  # options that only matter when another one is set
    **dict.fromkeys(("aux_loss_weight", "aux_loss_options", "aux_input"), ("aux_loss", bool)),
    **dict.fromkeys(
        ("two_stage_rounds", "head_epochs", "head_learning_rate"), ("schedule", "contrastive_two_stage")
    ),
    **dict.fromkeys(("threshold_folds", "threshold_aggregation"), ("threshold_source", "cross_fit")),
    "concat_classes": ("concat_same_label", bool),
    "group_by_key": ("batch_sampler", "group_by_metadata"),  # the template reads it; no row
    "mil_pooling": ("mil_weight", bool),
}
_HIDE_IF_FALSY = {  # options not worth a row when off
    *("fp16", "bf16", "cache_embeddings", "concat_same_label", "warmup_steps", "lora_r"),
    *("label_smoothing_factor", "early_stopping_patience", "weight_decay", "max_steps"),
    "mil_weight",
}
_DATA_OPTION_LABELS: dict[str, tuple[str, str]] = {
    "sampling_rate": ("audio resampled to", " Hz"),
    "lowpass_cutoff": ("low-pass filter cutoff", " Hz"),
    "patient_split_fractions": ("patient split fractions (train, validation, test)", ""),
    "stratify_by": ("patient split stratified by", ""),
    "train_fraction": ("share of the training patients used", ""),
    "num_folds": ("cross-validation folds", ""),
    "fold": ("fold whose test split the model in this repository was scored on", ""),
    "fold_devices": ("device held out by each fold, in fold order", ""),
}


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


def citations(card: RespiraModelCardData) -> list[tuple[str, str]]:
    """``(what, bibtex)`` for every corpus the model was trained on and every method it uses."""
    from ..losses import AUXILIARY_LOSSES

    specs = [get_corpus(name) for name in card.corpora]
    items: list[tuple[str, str]] = [(spec.title, spec.citation.strip()) for spec in specs if spec.citation]
    if card.encoder is not None:
        items.append((f"Encoder: {card.encoder.citation_key}", card.encoder.citation))
    aux = card.hyperparameters.get("aux_loss")
    loss_class = AUXILIARY_LOSSES.get(str(aux)) if aux else None
    if loss_class is not None and getattr(loss_class, "citation", ""):
        items.append((f"Auxiliary loss: {AUX_LOSS_NAMES.get(str(aux), aux)}", loss_class.citation))
    if card.hyperparameters.get("batch_sampler") == "contrastive_tuple" or aux == "contrastive_tuple":
        items.append(("Contrastive-tuple batches", CONTRASTIVE_TUPLE_CITATION))
    unique: dict[str, tuple[str, str]] = {}
    for what, bibtex in items:
        key = match.group(1) if (match := re.match(r"\s*@\w+\{([^,]+),", bibtex)) else ""
        unique.setdefault(key, (what, bibtex))
    return list(unique.values())


def hyperparameter_rows(card: RespiraModelCardData) -> list[tuple[str, str]]:
    values = card.hyperparameters
    rows = []
    for key, label in HYPERPARAMETERS.items():
        if key not in values or (key.startswith("threshold_") and not card.is_multi_label):
            continue  # single-label models decide by argmax, without thresholds
        value, (other, wanted) = values[key], _CONDITIONAL.get(key, (None, None))
        met = other is None or (
            wanted(values.get(other)) if callable(wanted) else values.get(other) == wanted
        )
        if (
            not met
            or (key in _HIDE_IF_FALSY and not value)
            or (key == "max_steps" and isinstance(value, int) and value <= 0)
            or (key == "gradient_accumulation_steps" and value == 1)
            or (key == "train_batch_size" and "per_device_train_batch_size" in values)
        ):
            continue
        shown = "none" if key in ("augmentation", "aux_loss_options", "aux_loss") and not value else value
        rows.append((label, f"`{_one_line(shown)}`"))
    if card.seeds:
        rows.append(("seeds" if len(card.seeds) > 1 else "seed", ", ".join(str(s) for s in card.seeds)))
    return rows


def template_context(card: RespiraModelCardData) -> dict[str, Any]:
    """What the Jinja template uses: the card's fields by name and the tables and texts derived from them."""
    encoder = card.encoder
    order = {"train": 0, "validation": 1, "test": 2}
    splits = [
        (split, str(size.cycles), "" if size.patients is None else str(size.patients))
        for split, size in sorted(card.split_sizes.items(), key=lambda item: (order.get(item[0], 3), item[0]))
    ]
    learnt = [size for name, size in card.split_sizes.items() if name != "test"]
    total = sum(size.cycles for size in card.split_sizes.values())
    return {
        **vars(card),
        "model_name": card.get_model_name(),
        "is_multi_label": card.is_multi_label,
        "labels": [card.id2label[i] for i in sorted(card.id2label)],
        "encoder_name": encoder.display_name if encoder else (card.encoder_type or "unknown encoder"),
        "encoder_description": encoder.card_description if encoder else (card.encoder_type or "unknown"),
        "default_thresholds": list(validate_thresholds(None)),
        "other_corpora": [get_corpus(name) for name in card.corpora[1:]],
        "icbhi": corpus_files,
        "split_rows": splits,
        "split_has_patients": any(patients for _, _, patients in splits),
        "subset_cycles": total if total != corpus_files.NUM_CYCLES and not card.synthetic_data else 0,
        "data_option_labels": _DATA_OPTION_LABELS,
        "sampling_rate": int(card.architecture.get("sampling_rate") or DEFAULT_SAMPLING_RATE),
        "lung_band_top": LUNG_SOUND_BAND_TOP,
        "lowpass_cutoff": card.architecture.get("lowpass_cutoff"),
        "lowpass_order": card.architecture.get("lowpass_order") or DEFAULT_LOWPASS_ORDER,
        "default_lowpass_order": DEFAULT_LOWPASS_ORDER,
        "target_seconds": card.architecture.get("target_seconds") or 8.0,
        "recording_rule": describe_aggregation(*card.recording_rule),
        "hyperparameter_rows": hyperparameter_rows(card),
        "result_rows": metric_rows(card.test_metrics, card.test_metrics_std),
        "below_baseline": [
            line.line() for line in icbhi_below_baselines(card.test_metrics, where="test split")
        ],
        "other_result_rows": metric_rows(card.test_metrics, card.test_metrics_std, main=False),
        "per_seed_rows": per_seed_rows(card.per_seed_metrics),
        "validation_rows": metric_rows(card.validation_metrics, {}),
        "metric_definitions": _metric_definitions(),
        "citations": citations(card),
        "get_corpus": get_corpus,
        "site_fitted": any(v.protocol == SITE_FIT_PROTOCOL for v in card.site_verdicts),
        "held_out_titles": held_out_titles(card.site_verdicts, card.external_validations),
        "trained_on": (sum(s.cycles for s in learnt), sum(s.patients or 0 for s in learnt))
        if learnt
        else None,
        "no_test_split": bool(card.split_sizes) and "test" not in card.split_sizes,
        "site_corpora": [get_corpus(name) for name in dict.fromkeys(v.site for v in card.site_verdicts)],
        **site_fit_context(card.site_fit, card.site_fit_base),
    }


def _metric_definitions() -> str:
    """The metric definitions of :mod:`respira.metrics` (its docstring after the first line), as Markdown."""
    body = (metrics.__doc__ or "").strip().partition("\n")[2].strip() or (metrics.__doc__ or "").strip()
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", body).replace("``", "`")  # Sphinx roles


@functools.cache
def _template() -> Any:
    import jinja2

    environment = jinja2.Environment(
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    environment.filters.update(cell=_one_line, score=format_score)
    return environment.from_string(
        resources.files(__package__).joinpath(MODEL_CARD_TEMPLATE).read_text(encoding="utf-8")
    )


def render_model_card(card_data: RespiraModelCardData) -> ModelCard:
    """Render the card: YAML metadata from ``card_data.to_yaml()``, the body from the packaged template."""
    text = _template().render(card_data=card_data.to_yaml(), **template_context(card_data))
    return ModelCard(re.sub(r"\n{3,}", "\n\n", text))


def _safetensors_parameters(path: Path) -> int | None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="np") as weights:
            return sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())  # noqa: SIM118
    except (OSError, SafetensorError):
        return None


def card_data_from_run_dir(run_dir: str | Path, *, model_id: str | None = None) -> RespiraModelCardData:
    """The card data of a run folder, from its JSON files and the weights' header."""
    run_dir = Path(run_dir).expanduser()
    check_model_folder(run_dir, weights=())
    card = RespiraModelCardData(model_id=model_id)
    config = RespiraConfig.from_pretrained(run_dir)
    card.set_model_config(config)
    build = read_json_object(run_dir / BUILD_RECORD)
    state = read_json_object(run_dir / "trainer_state.json")
    if state is None and build is not None:
        state = build.get("trainer_state")
    if isinstance(state, Mapping):
        card.set_trainer_state(state)
    record = RunRecord.load_if_present(run_dir)
    if record is not None:
        card.set_run_record(record)
    card.external_validations, left_out = external_validations(run_dir)
    for reason in left_out:
        warnings.warn(reason, StaleEvaluationWarning, stacklevel=2)
    card.adapter = has_adapter(run_dir)
    card.site_verdicts = site_verdicts(run_dir)
    card.build_record = build
    site_fit = read_site_fit(run_dir)
    if site_fit is not None and any(v.protocol == SITE_FIT_PROTOCOL for v in card.site_verdicts):
        card.site_fit = site_fit
        card.hyperparameters["threshold_source"] = "site_fit"
        site = site_fit.get("site_name") or site_fit.get("dataset")
        if not site_fit.get("chosen_by"):  # a head chosen by a study elsewhere: the detector, not a site's
            card.model_name = f"{card.get_model_name()}, fitted to the site {site}"
        card.set_thresholds(thresholds_of(config))  # the fit's, not those of the run record it keeps
    card.base_comparison = base_comparison(run_dir, card.site_verdicts)
    if card.num_parameters is None and (run_dir / "model.safetensors").is_file():
        card.num_parameters = _safetensors_parameters(run_dir / "model.safetensors")
    return card


def set_folder_files(card: RespiraModelCardData, folder: Path, *, code: bool) -> None:
    """Set the card's code, ONNX and checksum fields from ``folder``'s files (``code``: it ships its code)."""
    if code:
        shipped = [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.py"))]
        card.remote_code, card.code_requirements = True, list(remote_code_files().requirements)
        card.code_size = code_size(shipped) if shipped else None  # the size of the code it holds
        if not shipped:
            card.code_elsewhere = folder.name if shipped_detector(folder.name) else "path/to/this_folder"
    card.onnx = (folder / ONNX_FILE).is_file()
    card.checksums = read_checksums(folder)


def render_folder_card(
    folder: str | Path, *, model_id: str | None = None, base_folder: Path | None = None
) -> Path:
    """Render the card of an exported model folder from its own files into its ``README.md``."""
    folder = Path(folder).expanduser()
    card = card_data_from_run_dir(folder, model_id=model_id)
    card.site_fit_base = base_folder
    set_folder_files(card, folder, code="auto_map" in (read_json_object(folder / "config.json") or {}))
    path = folder / "README.md"
    render_model_card(card).save(path)
    return path

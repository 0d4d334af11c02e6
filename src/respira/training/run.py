"""``respira train``: build the data and the model from a recipe, train one run per seed, report.

The output directory gets the selected model (``config.json``, ``model.safetensors``,
``preprocessor_config.json``), ``metrics.json`` (test metrics, mean ± std over seeds),
``respira_run.json`` (the resolved recipe and data description), plots, a model card and one
``seed_<n>/`` folder per seed with its checkpoints. Among seeds, the model kept at the root is the
one with the best *validation* score; the test split is only ever scored, never used to choose.
"""

from __future__ import annotations

import math
import shutil
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import DEFAULT_SAMPLING_RATE
from ..data import is_synthetic_corpus
from ..labels import CLASS_NAMES, MULTI_LABEL, NUM_CLASSES, classes_to_flags
from ..models.encoders import encoder_names, get_encoder_spec
from ..utils.files import write_json_atomic
from ..utils.tables import format_number, format_table
from .arguments import RespiraTrainingArguments
from .recipe import (
    DataArguments,
    ModelArguments,
    RunArguments,
    json_option,
    parse_seeds,
)

RUN_FILE = "respira_run.json"
MODEL_FILES = ("config.json", "model.safetensors")


def prepare_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Refuse a folder that already holds a run, unless ``overwrite``."""
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"output_dir {str(output_dir)!r} already holds a run; pass --overwrite to replace it "
                "or choose another --output_dir"
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)


def build_datasets(data: DataArguments, sampling_rate: int = DEFAULT_SAMPLING_RATE):
    """The recipe's splits, stored at ``sampling_rate``: by default the rate of every model a recipe
    builds (``RespiraConfig.sampling_rate`` defaults to it); the collator takes the model's own
    ``config.sampling_rate`` and resamples any other."""
    from ..data import load_icbhi

    if not data.data_dir:
        raise ValueError(
            "missing data_dir: pass --data_dir <folder of an ICBHI download> or set it in the recipe"
        )
    options: dict[str, Any] = {"split_strategy": data.split_strategy, "stratify_by": data.stratify_by}
    if data.split_strategy == "patient":
        options["patient_split_fractions"] = tuple(float(f) for f in data.patient_split_fractions.split(","))
        validation_size = 0.0
    else:
        validation_size = data.validation_size
    if data.lowpass_cutoff:
        options["lowpass_cutoff"] = data.lowpass_cutoff
    splits = load_icbhi(
        data.data_dir,
        sampling_rate=sampling_rate,
        validation_size=validation_size,
        seed=data.split_seed,
        cache_dir=data.dataset_cache_dir,
        num_proc=data.num_proc,
        **options,
    )
    if data.train_fraction < 1.0:
        splits["train"] = _patient_subset(splits["train"], data.train_fraction, data.split_seed)
    return splits


def _patient_subset(train, fraction: float, seed: int):
    """A stratified, patient-wise share of the training split (the rest is simply not used)."""
    from ..data import patient_split

    if not 0 < fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction}")
    index = train.select_columns(["patient_id", "label"]).to_pandas()
    index["label"] = [CLASS_NAMES[i] for i in index["label"]]
    kept = patient_split(index, {"kept": fraction, "rest": 1 - fraction}, seed=seed, require_all=None)
    return train.select(np.flatnonzero(kept.to_numpy() == "kept"))


def _class_weights(spec: str | None, labels: list[int], problem_type: str) -> list[float] | None:
    if not spec:
        return None
    if spec != "balanced":
        return [float(value) for value in spec.split(",")]
    labels_array = np.asarray(labels)
    if problem_type == MULTI_LABEL:  # BCE positive weights: negatives / positives per flag
        flags = classes_to_flags(labels_array)
        positives = flags.sum(axis=0).clip(min=1)
        return [float(w) for w in (len(flags) - positives) / positives]
    counts = np.bincount(labels_array, minlength=NUM_CLASSES).clip(min=1)
    return [float(w) for w in len(labels_array) / (NUM_CLASSES * counts)]


def build_model(model: ModelArguments, train_labels: list[int]):
    """A fresh classifier for the recipe (pretrained encoder weights when ``encoder_name_or_path`` is set)."""
    from ..models import RespiraConfig, RespiraForAudioClassification

    if model.encoder not in encoder_names():
        raise ValueError(f"encoder={model.encoder!r} is not one of {', '.join(encoder_names())}")
    spec = get_encoder_spec(model.encoder)
    options = {
        "problem_type": model.problem_type,
        "target_seconds": model.target_seconds,
        "pad_mode": model.pad_mode,
        "crop_mode": model.crop_mode,
        "ast_length_policy": model.ast_length_policy,
        "spec_augment": json_option(model.spec_augment, "spec_augment") or None,
        "pooling": model.pooling,
        "head": model.head,
        "head_dropout": model.head_dropout,
        "projector_dim": model.projector_dim,
        "class_weights": _class_weights(model.class_weights, train_labels, model.problem_type),
        "freeze_encoder": model.freeze_encoder,
    }
    encoder_options = json_option(model.encoder_config, "encoder_config")
    source = model.encoder_name_or_path
    if source is None and not encoder_options:
        source = spec.default_checkpoint
    if source is not None:
        classifier = RespiraForAudioClassification.from_encoder_pretrained(source, **options)
    else:
        config = RespiraConfig(encoder_config={"model_type": spec.model_type, **encoder_options}, **options)
        classifier = RespiraForAudioClassification(config)
    if model.lora_r:
        from ..models.lora import add_lora

        return add_lora(classifier, r=model.lora_r, alpha=2 * model.lora_r)
    return classifier


def _trainer(model, args, splits, **kwargs):
    from .trainer import RespiraTrainer

    evaluation = splits.get("validation") if args.eval_strategy != "no" else None
    return RespiraTrainer(model, args, splits["train"], eval_dataset=evaluation, **kwargs)


def _contrastive_two_stage(model, args: RespiraTrainingArguments, run: RunArguments, splits):
    """Song et al. (2021): encoder trained with the contrastive loss alone, then frozen while a linear
    classifier trains on it; repeated ``two_stage_rounds`` times."""
    from dataclasses import replace

    trainer = None
    for _ in range(run.two_stage_rounds):
        model.unfreeze_encoder()
        embedding_args = replace(
            args,
            task_loss_weight=0.0,
            aux_loss=args.aux_loss or "contrastive_tuple",
            batch_sampler="contrastive_tuple" if args.batch_sampler == "random" else args.batch_sampler,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            early_stopping_patience=None,
        )
        _trainer(model, embedding_args, splits).train()
        model.freeze_encoder()
        head_args = replace(args, aux_loss=None, batch_sampler="random", num_train_epochs=run.head_epochs)
        trainer = _trainer(model, head_args, splits)
        trainer.train()
    return trainer


def run_seed(
    model_args, data_args, run_args, args: RespiraTrainingArguments, splits, seed: int, folder: Path
):
    """Train one seed; return (trainer, validation score, test metrics)."""
    from dataclasses import replace

    import transformers

    transformers.set_seed(seed)
    args = replace(args, seed=seed, output_dir=str(folder))
    model = build_model(model_args, splits["train"]["label"])
    if run_args.schedule == "contrastive_two_stage":
        trainer = _contrastive_two_stage(model, args, run_args, splits)
    elif run_args.schedule == "standard":
        trainer = _trainer(model, args, splits)
        trainer.train()
    else:
        raise ValueError(f"schedule={run_args.schedule!r} is not one of standard, contrastive_two_stage")
    if model.config.problem_type == MULTI_LABEL and "validation" in splits:
        _tune_thresholds_on_validation(trainer, splits["validation"])
    validation = None
    if "validation" in splits:
        validation = trainer.evaluate(splits["validation"])["eval_icbhi_score"]
    test = trainer.evaluate_test(splits["test"], output_dir=folder) if "test" in splits else {}
    return trainer, validation, test


def _tune_thresholds_on_validation(trainer, validation) -> None:
    """Per-label decision thresholds maximising F1 on the validation split (never the test split).

    They are stored in the model config (``decision_thresholds``, used by ``respira predict``) and
    used for every later evaluation of this trainer.
    """
    import torch

    from ..metrics import make_compute_metrics
    from ..metrics.multilabel import tune_thresholds

    prediction = trainer.predict(validation)
    logits = (
        prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    )
    probabilities = torch.sigmoid(torch.as_tensor(logits)).numpy()
    labels = np.asarray(prediction.label_ids)
    targets = classes_to_flags(labels) if labels.ndim == 1 else labels
    try:
        thresholds = [float(t) for t in tune_thresholds(targets, probabilities, metric="f1")]
    except ValueError as error:  # e.g. no positive cycle of a label in a small validation split
        import warnings

        warnings.warn(f"decision thresholds kept at 0.5: {error}", stacklevel=2)
        return
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.config.decision_thresholds = thresholds
    trainer.compute_metrics = make_compute_metrics(
        problem_type=model.config.problem_type, thresholds=thresholds
    )


def summarize_seeds(per_seed: dict[int, dict[str, float]]) -> dict[str, Any]:
    """Mean and (sample) standard deviation of every numeric test metric over seeds."""
    summary: dict[str, Any] = {"seeds": sorted(per_seed)}
    keys = sorted({key for metrics in per_seed.values() for key in metrics if key.startswith("test_")})
    for key in keys:
        values = [
            m[key]
            for m in per_seed.values()
            if isinstance(m.get(key), (int, float)) and not math.isnan(m[key])
        ]
        if not values:
            continue
        summary[key] = values[0] if len(values) == 1 else statistics.fmean(values)
        if len(per_seed) > 1:
            summary[f"{key}_mean"] = statistics.fmean(values)
            summary[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    summary["per_seed"] = {str(seed): metrics for seed, metrics in per_seed.items()}
    return summary


def results_table(per_seed: dict[int, dict[str, float]], validation: dict[int, float | None]) -> str:
    """Validation and test scores per seed, and their mean ± std over several seeds."""
    keys = ("specificity", "sensitivity", "icbhi_score")
    rows = [
        [seed, format_number(validation.get(seed)), *(format_number(metrics.get(f"test_{k}")) for k in keys)]
        for seed, metrics in per_seed.items()
    ]
    if len(per_seed) > 1:
        summary = summarize_seeds(per_seed)
        spread = [
            f"{format_number(summary.get(f'test_{k}_mean'))} ± {format_number(summary.get(f'test_{k}_std'))}"
            for k in keys
        ]
        rows.append(["mean", "", *spread])
    return format_table(rows, ["seed", "val score", "test Sp", "test Se", "test score"])


def _save_selected(trainer, output_dir: Path) -> None:
    from ..models import RespiraFeatureExtractor

    model = trainer.model
    if hasattr(model, "merge_and_unload"):  # LoRA: save a plain model
        model = model.merge_and_unload()
    model.save_pretrained(output_dir)
    RespiraFeatureExtractor(sampling_rate=model.config.sampling_rate).save_pretrained(output_dir)
    write_json_atomic(
        output_dir / "trainer_state.json", {"log_history": trainer.state.log_history}, default=str
    )


def _reports(trainer, splits, output_dir: Path) -> None:
    """Plots, the test-split evaluation report and the model card, when those modules are installed."""
    try:
        from ..reports.plots import plot_training_curves
    except ImportError:
        return
    plot_training_curves(trainer.state.log_history, output_dir / "training_curves.png")
    if "test" in splits:
        from ..reports.evaluation import evaluate_model

        evaluate_model(trainer.model, splits["test"], output_dir=output_dir / "evaluation_test")


def _model_card(output_dir: Path) -> None:
    try:
        from ..hub.card import card_data_from_run_dir, render_model_card
    except ImportError:
        return
    render_model_card(card_data_from_run_dir(output_dir)).save(output_dir / "README.md")


def run_training(
    model_args: ModelArguments,
    data_args: DataArguments,
    run_args: RunArguments,
    args: RespiraTrainingArguments,
    *,
    log=print,
) -> dict[str, Any]:
    """Train every seed of a parsed recipe and write the run folder; return the metrics summary.

    Under ``accelerate launch`` / ``torchrun`` every process trains; only the main process prepares
    the folder, writes files and prints.
    """
    from accelerate import PartialState

    state = PartialState()
    main = state.is_main_process
    log = log if main else (lambda *_: None)
    if args.disable_tqdm:  # also transformers' own bars, e.g. "Writing model shards" at each checkpoint
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    output_dir = Path(args.output_dir)
    seeds = parse_seeds(run_args.seeds, args.seed)
    with state.main_process_first():  # one process builds the dataset cache, the others reuse it
        splits = build_datasets(data_args)
    if args.eval_strategy != "no" and "validation" not in splits:
        raise ValueError(
            "evaluation during training needs a validation split: set validation_size > 0 (official split) "
            "or use split_strategy=patient; the test split is never used for model selection"
        )
    if main:
        prepare_output_dir(output_dir, run_args.overwrite)
    state.wait_for_everyone()
    per_seed: dict[int, dict[str, float]] = {}
    validation: dict[int, float | None] = {}
    best_trainer, best_score = None, -math.inf
    for seed in seeds:
        log(f"== seed {seed}: training ({args.num_train_epochs:g} epochs) ==")
        trainer, validation[seed], per_seed[seed] = run_seed(
            model_args, data_args, run_args, args, splits, seed, output_dir / f"seed_{seed}"
        )
        score = validation[seed] if validation[seed] is not None else -math.inf
        if best_trainer is None or score > best_score:
            best_trainer, best_score, best_seed = trainer, score, seed
    summary = summarize_seeds(per_seed)
    summary["selected_seed"] = best_seed
    if not main:
        state.wait_for_everyone()
        return summary
    _save_selected(best_trainer, output_dir)
    write_json_atomic(output_dir / "metrics.json", summary, default=str)
    write_json_atomic(
        output_dir / RUN_FILE,
        {
            "model": asdict(model_args),
            "data": {
                **asdict(data_args),
                "split_sizes": {split: len(part) for split, part in splits.items()},
                "synthetic": is_synthetic_corpus(data_args.data_dir),
            },
            "run": {**asdict(run_args), "seeds": seeds, "selected_seed": best_seed},
            "training": _training_summary(args),
        },
        default=str,
    )
    _reports(best_trainer, splits, output_dir)
    _model_card(output_dir)
    log(results_table(per_seed, validation))
    log(f"run written to {output_dir} (model from seed {best_seed}, chosen on validation)")
    state.wait_for_everyone()
    return summary


def _training_summary(args: RespiraTrainingArguments) -> dict[str, Any]:
    """The hyper-parameters worth recording: common Trainer ones and every respira-specific one."""
    from transformers import TrainingArguments

    respira_keys = set(RespiraTrainingArguments.__dataclass_fields__) - set(
        TrainingArguments.__dataclass_fields__
    )
    values = args.to_dict()
    return {key: values[key] for key in sorted({*_TRAINING_KEYS, *respira_keys}) if key in values}


_TRAINING_KEYS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "optim",
    "metric_for_best_model",
    "early_stopping_patience",
    "seed",
)

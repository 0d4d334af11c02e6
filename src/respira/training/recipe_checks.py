"""Check a whole training recipe before any work: nothing is built, trained or written for a bad one, and
every error is one line naming the option and its value."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from huggingface_hub.errors import StrictDataclassError

from ..data.corpus_files import locate_corpus
from ..data.folds import device_folds, fold_splits, is_fold_strategy, patient_kfold
from ..data.icbhi import ICBHIConfig
from ..data.multi_corpus import check_corpora, has_recording_labels
from ..data.run_splits import dataset_source, inspect_source
from ..data.text_files import corpus_index
from ..models.respira.encoders import check_encoder_checkpoint, get_encoder_spec
from ..models.respira.labels import MULTI_LABEL
from ..utils.messages import one_line
from .collator import METADATA_KEYS
from .data import MISSING_DATA_DIR, data_record
from .embedding_cache import check_cache_options
from .run_folder import ResumePoint, check_output_dir
from .training_args import (
    DataArguments,
    ModelArguments,
    RespiraTrainingArguments,
    RunArguments,
    config_options,
    encoder_config,
    json_option,
    model_sampling_rate,
)


def validate_run(
    model: ModelArguments,
    data: DataArguments,
    run: RunArguments,
    args: RespiraTrainingArguments,
    *,
    resume: ResumePoint | None = None,
    corpus_written_later: bool = False,
) -> None:
    """Raise a one-line ``ValueError`` (``OSError`` for the output folder) for anything a run would fail
    on later; reads the corpus folder's listing, writes nothing."""
    _check_model(model)
    _check_corpora(model, data, run, args)
    _check_data(data, args, corpus_written_later=corpus_written_later)
    if resume is not None and run.schedule != "standard":
        raise ValueError(
            f"resume_from_checkpoint resumes the standard schedule only, not schedule={run.schedule!r}"
        )
    _check_combinations(model, run, args)
    check_integrations(args.report_to)
    check_output_dir(args.output_dir, overwrite=run.overwrite, resume=resume)
    check_push_to_hub(args)


def check_push_to_hub(args: RespiraTrainingArguments) -> None:
    """With ``push_to_hub``, check the repository, the connection and the token now, not after training."""
    if not args.push_to_hub:
        return
    from ..hub.push import check_push_target

    repo_id = args.hub_model_id or Path(args.output_dir).absolute().name
    try:
        check_push_target(repo_id, token=args.hub_token, owner_required=False)
    except (ConnectionError, PermissionError, ValueError) as error:
        raise type(error)(f"--push_to_hub: {error}") from None


def _check_model(model: ModelArguments) -> None:
    from ..models import RespiraConfig

    if model.lora_r and not get_encoder_spec(model.encoder).lora_targets:
        raise ValueError(f"lora_r={model.lora_r}: LoRA does not apply to the {model.encoder} encoder")
    if model.lora_r and importlib.util.find_spec("peft") is None:
        raise ValueError(f"lora_r={model.lora_r} needs peft: pip install 'respira[lora]'")
    _check_encoder_source(model)
    options = {"encoder_config": encoder_config(model), **config_options(model)}
    try:
        RespiraConfig(**options)
    except (ValueError, TypeError, StrictDataclassError) as error:  # a validator's: the error it raised
        message = one_line(error.__cause__ or error)
        raise ValueError(f"invalid model options: {message}") from None


def _check_encoder_source(model: ModelArguments) -> None:
    source = model.encoder_name_or_path
    if not source:
        return
    from ..hub.loading import ModelLoadError, hub_config, resolve_model_name

    try:
        if resolve_model_name(source) is None:
            hub_config(source)  # a Hub id: downloaded now (training would), or one line for a wrong one
    except ModelLoadError as error:
        exists = Path(source).expanduser().exists()
        hint = "" if exists else "; `respira convert` writes an official checkpoint there"
        raise ValueError(f"encoder_name_or_path: {error}{hint}") from None
    check_encoder_checkpoint(source, model_sampling_rate(model))  # an audio encoder, its extractor's rate


def _check_corpora(
    model: ModelArguments, data: DataArguments, run: RunArguments, args: RespiraTrainingArguments
) -> None:
    names = check_corpora(
        data.corpora,
        data.corpus_dirs,
        window_seconds=data.corpus_window_seconds,
        hop_seconds=data.corpus_hop_seconds,
        problem_type=model.problem_type,
    )
    if len(names) < 2:
        return
    if data.dataset_name:
        raise ValueError("corpora builds its splits from corpus folders: give data_dir, not dataset_name")
    if not has_recording_labels(names):  # events join as cycles: no bags to keep whole
        return
    refusals = (
        (args.batch_sampler != "random", f"batch_sampler={args.batch_sampler} (bags need their own batches)"),
        (args.views > 1, f"views={args.views}"),
        (run.schedule != "standard", f"schedule={run.schedule}"),
    )
    for refused, why in refusals:
        if refused:
            raise ValueError(f"corpora={','.join(names)} trains on bags of windows, which {why} cannot do")


def _check_data(data: DataArguments, args: RespiraTrainingArguments, *, corpus_written_later: bool) -> None:
    if dataset_source(data) is not None:  # a datasets dataset: its card, features and splits, no audio
        record = data_record(data, 16000)
        source = inspect_source(record, data.dataset_cache_dir)
        needed = ["train", "test", *(["validation"] if args.eval_strategy != "no" else [])]
        source.require_splits(needed, "training needs (validation: for evaluation during training)")
        return
    if not data.data_dir:
        raise ValueError(MISSING_DATA_DIR)
    config = ICBHIConfig(  # checks the split and audio options as the builder will
        name="cycles",
        split_strategy=data.split_strategy,
        validation_size=data.validation_size if data.split_strategy == "official" else 0.0,
        patient_split_fractions=data.patient_split_fractions,
        stratify_by=data.stratify_by,
        num_folds=data.num_folds,
        fold_stratify_by=data.fold_stratify_by,
        seed=data.split_seed,
        lowpass_cutoff=data.lowpass_cutoff or None,
        lowpass_order=data.lowpass_order,
    )
    layout = None if corpus_written_later else locate_corpus(data.data_dir)  # a missing folder, named
    if data.split_strategy == "official" and layout is not None and layout.split_file is None:
        raise ValueError(
            f"{data.data_dir} has no official split file (ICBHI_challenge_train_test.txt): use "
            "--split_strategy patient for a patient-wise split, or add the split file"
        )
    share = config.patient_split_fractions[1] if data.split_strategy == "patient" else data.validation_size
    if args.eval_strategy != "no" and not share:  # no validation split
        raise ValueError(
            "evaluation during training needs a validation split: set validation_size > 0 (official split, "
            "patient_kfold) or use split_strategy=patient; the test split is never used for model selection"
        )
    if is_fold_strategy(data.split_strategy) and layout is not None:
        _check_folds(data, layout)


def _check_folds(data: DataArguments, layout) -> None:
    index = corpus_index(layout)
    strata = ["label", *([data.fold_stratify_by] if data.fold_stratify_by else [])]
    try:
        if data.split_strategy == "leave_one_device_out":
            folds, devices = device_folds(index)
            num_folds = len(devices)
        else:
            folds = patient_kfold(index, data.num_folds, seed=data.split_seed, stratify_by=strata)
            num_folds = data.num_folds
        for fold in range(num_folds):
            fold_splits(index, folds, fold, validation_size=data.validation_size, seed=data.split_seed)
    except (ValueError, KeyError) as error:
        message = one_line(error)
        raise ValueError(f"split_strategy={data.split_strategy}: {message}") from None


def _check_combinations(model: ModelArguments, run: RunArguments, args: RespiraTrainingArguments) -> None:
    if model.pooling == "autopool" and (args.cache_embeddings or args.augmented_views is not None):
        raise ValueError(
            "pooling=autopool pools the head's logits on the encoder's time steps, which cached embeddings "
            "(cache_embeddings / augmented_views) do not have"
        )
    loss = args.aux_loss
    if loss == "patch_mix" and get_encoder_spec(model.encoder).patch_embeddings is None:
        raise ValueError(
            f"aux_loss=patch_mix mixes patch embeddings, which the {model.encoder} encoder has not"
        )
    if loss and (args.aux_input == "projections" or loss == "patch_mix") and model.projector_dim is None:
        raise ValueError(
            f"aux_loss={loss} works on projections: set projector_dim (or aux_input: embeddings)"
        )
    standard = run.schedule == "standard"
    if loss == "contrastive_tuple" and standard and args.batch_sampler != "contrastive_tuple":
        raise ValueError(
            "aux_loss=contrastive_tuple needs batches of [anchors, positives]: set batch_sampler: "
            f"contrastive_tuple (got {args.batch_sampler})"
        )
    if loss == "metadata_contrastive" and args.views < 2:
        raise ValueError(
            f"aux_loss=metadata_contrastive needs two augmented views: set views: 2 (got {args.views})"
        )
    keys = args.aux_loss_kwargs.get("positive_key") or args.aux_loss_kwargs.get("negative_keys") or ()
    for key in [keys] if isinstance(keys, str) else list(keys):
        if key != "labels" and key not in METADATA_KEYS:
            raise ValueError(
                f"aux_loss_options names the metadata key {key!r}; batches carry {', '.join(METADATA_KEYS)}"
            )
    if args.threshold_aggregation != "pooled" and args.threshold_source != "cross_fit":
        raise ValueError(
            f"threshold_aggregation={args.threshold_aggregation} scores cross-fitted predictions: "
            "set threshold_source: cross_fit"
        )
    if args.threshold_source == "cross_fit":
        refusals = (
            (
                model.problem_type != MULTI_LABEL,
                f"tunes multi-label thresholds: set problem_type: {MULTI_LABEL}",
            ),
            (args.threshold_objective == "fixed", "tunes thresholds; threshold_objective=fixed tunes none"),
            (run.schedule != "standard", f"trains the recipe per group; schedule={run.schedule} cannot"),
        )
        for refused, why in refusals:
            if refused:
                raise ValueError(f"threshold_source=cross_fit {why}")
    check_cache_options(
        args,
        freeze_encoder=model.freeze_encoder,
        spec_augment=json_option(model.spec_augment, "spec_augment"),
        schedule=run.schedule,
    )


def check_integrations(report_to: list[str]) -> None:
    """Raise a one-line ``ValueError`` for a ``report_to`` integration (``TrainingArguments``' list, ``none``
    and ``all`` resolved) that is unknown or not installed."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    for name in report_to:
        if name not in INTEGRATION_TO_CALLBACK:
            raise ValueError(f"report_to {name!r} is not one of {', '.join(sorted(INTEGRATION_TO_CALLBACK))}")
        if name not in get_available_reporting_integrations():
            how = f"pip install 'respira[{name}]'" if name in ("tensorboard", "wandb") else f"install {name}"
            raise ValueError(f"report_to {name} needs {name}, which is not installed: {how}")

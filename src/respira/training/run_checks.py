"""A run's recipe checked as a whole before any work (:func:`validate_run`): what no one field shows (options
together, the model config, the data folder and splits, the integrations, the output folder); nothing is
built, trained or written for a bad one, and every error is one line naming the option and its value. The
checks import the data layer on first use, so a bad flag is refused without it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from huggingface_hub.errors import StrictDataclassError

from ..models.respira.encoders import check_encoder_checkpoint, get_encoder_spec
from ..models.respira.labels import MULTI_LABEL
from ..utils.files import check_output_folder
from ..utils.messages import one_line
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
    resuming: bool = False,
    corpus_written_later: bool = False,
) -> None:
    """Raise a one-line ``ValueError`` (``OSError`` for the output folder) for anything a run would fail
    on later; reads the corpus folder's listing, writes nothing."""
    _check_model(model)
    from .data import check_corpus_options, check_data_options

    check_corpus_options(model, data, run, args)
    check_data_options(data, args, corpus_written_later=corpus_written_later)
    if resuming and run.schedule != "standard":
        raise ValueError(
            f"resume_from_checkpoint resumes the standard schedule only, not schedule={run.schedule!r}"
        )
    _check_combinations(model, run, args)
    check_integrations(args.report_to)
    check_output_dir(args.output_dir, overwrite=run.overwrite, resuming=resuming)
    check_push_to_hub(args)


def check_output_dir(output_dir: str | Path, *, overwrite: bool, resuming: bool = False) -> None:
    """Refuse, before any work, an ``output_dir`` that cannot take the run (read-only checks)."""
    message = (
        f"output_dir {str(output_dir)!r} already holds a run; pass --overwrite to replace it "
        "(only once the new run succeeds) or choose another --output_dir"
    )
    if not resuming:
        check_output_folder(Path(output_dir).expanduser(), overwrite=overwrite, exists_message=message)


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


def _check_combinations(model: ModelArguments, run: RunArguments, args: RespiraTrainingArguments) -> None:
    from .collator import METADATA_KEYS
    from .embedding_cache import check_cache_options

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

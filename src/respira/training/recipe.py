"""Recipes: YAML files whose keys are fields of :data:`DATACLASSES`, overridden by ``--field value`` flags
(:func:`flag_parser`, defaulting to ``argparse.SUPPRESS`` so that parsing yields only the flags given); the
whole recipe checked before any work (:func:`validate_run`): nothing is built, trained or written for a bad
one, and every error is one line naming the option and its value. The checks import the data layer on first
use, so a bad flag is refused without it."""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import re
import textwrap
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub.errors import StrictDataclassError
from transformers import TrainingArguments
from transformers.hf_argparser import string_to_bool

from ..measured import split_note, with_note
from ..models.respira.encoders import check_encoder_checkpoint, get_encoder_spec
from ..models.respira.labels import MULTI_LABEL
from ..options import OptionError, OptionParser, checked_values, option_specs, unrecognized
from ..utils.files import check_output_folder
from ..utils.messages import one_line, unknown_names
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

DATACLASSES = (ModelArguments, DataArguments, RunArguments, RespiraTrainingArguments)
_ALIASES: dict[str, str] = {  # other tools' names for an option (suggested before close spellings)
    "epochs": "num_train_epochs",
    "max_epochs": "num_train_epochs",
    "lr": "learning_rate",
    "batch_size": "per_device_train_batch_size",
    "train_batch_size": "per_device_train_batch_size",
    "eval_batch_size": "per_device_eval_batch_size",
}


def _field_names() -> set[str]:
    return {f.name for cls in DATACLASSES for f in fields(cls) if f.init}


def field_suggestions(key: str) -> list[str]:
    """The fields an unknown ``key`` may mean: respira's name for another tool's (``lr``), else up to three
    close spellings or fields containing it."""
    alias = _ALIASES.get(key.replace("-", "_"))
    if alias:
        return [alias]
    valid = _field_names()
    close = difflib.get_close_matches(key, valid, n=2)
    ratios = [difflib.SequenceMatcher(None, key, name).ratio() for name in close]
    close = [name for name, ratio in zip(close, ratios, strict=True) if ratio >= ratios[0] - 0.1]
    return close + [name for name in sorted(valid) if key in name and name not in close][: 3 - len(close)]


COMMON_TRAINING_OPTIONS: tuple[str, ...] = (
    "output_dir",
    "num_train_epochs",
    "max_steps",
    "learning_rate",
    "per_device_train_batch_size",
    "seed",
    "resume_from_checkpoint",
)
"""The ``TrainingArguments`` fields ``--help`` lists; the others are accepted but not listed."""

RECIPE_ONLY_OPTIONS: tuple[str, ...] = (
    "ast_length_policy",
    "head",
    "lowpass_order",
    "dataset_cache_dir",
    "num_proc",
    "corpus_window_seconds",
    "corpus_hop_seconds",
    "two_stage_rounds",
    "head_epochs",
    "head_learning_rate",
    "group_by_key",
    "concat_classes",
    "threshold_folds",
    "mil_weight",
)
"""respira's fields a recipe sets beside the option they serve: accepted as flags, left out of ``--help``."""

_NOT_FLAGS = ("debug",)  # TrainingArguments.debug: recipes only (``--debug`` is respira's traceback switch)
FLAG_GROUPS: dict[str, str] = {
    "model": "Which encoder, and how the classifier around it is built. transformers' names are "
    "accepted too: --model_name_or_path, --max_length_seconds, --freeze_feature_encoder (as theirs: a "
    "wav2vec 2.0-family encoder's convolutional feature encoder; --freeze_encoder trains the head only).",
    "data": "Where the ICBHI corpus is and how it is split; or a prepared dataset (--dataset_name, "
    "names as in transformers' run_audio_classification.py) with its own splits.",
    "run": "Seeds, schedule and output handling of a run.",
    "training": "respira's options (auxiliary loss, batches, augmentation) and the transformers."
    "TrainingArguments options set most. Every TrainingArguments field is accepted as --field value "
    "(https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments).",
}
"""The dataclasses' ``_argument_group_name``, in ``--help``'s order, with its description."""
_METAVARS = {int: "INT", float: "FLOAT", str: "TEXT", string_to_bool: "BOOL"}


@dataclass(frozen=True)
class Flag:
    """One recipe field's flag: the spellings ``--help`` lists, those accepted unlisted, its keywords."""

    group: str
    dest: str
    option_strings: tuple[str, ...]
    options: dict[str, Any]
    listed: bool
    hidden_strings: tuple[str, ...] = ()
    recipe_only: bool = False


def _shown_default(value: Any) -> str:
    if value is None or value == "":
        return "unset"
    if isinstance(value, (list, tuple)):
        return ",".join(str(getattr(item, "value", item)) for item in value) or "none"
    return str(getattr(value, "value", value))


def _training_defaults() -> dict[str, Any]:
    try:
        arguments = RespiraTrainingArguments()
    except Exception:
        return {}
    return {f.name: getattr(arguments, f.name) for f in fields(arguments) if f.init}


def _flag(group: str, names: tuple[str, ...], options: dict[str, Any], resolved: dict[str, Any]) -> Flag:
    """One recorded ``add_argument`` call; a listed one gets its default, measured note and a metavar."""
    trainer_fields = {f.name for f in fields(TrainingArguments)}
    own_fields = {f.name for cls in DATACLASSES for f in fields(cls)} - trainer_fields
    dest = options.get("dest") or names[0][2:]
    complement = names[0] != f"--{dest}"  # --no_field of a field defaulting to True
    shown = tuple(name for name in names if "-" not in name[2:])
    hidden = tuple(name for name in names if name not in shown)
    recipe_only = not complement and dest in RECIPE_ONLY_OPTIONS
    listed = not complement and not recipe_only and (dest in own_fields or dest in COMMON_TRAINING_OPTIONS)
    default = resolved.get(dest, options.get("default"))
    options = {**options, "default": argparse.SUPPRESS}
    if not listed and not recipe_only:
        return Flag(group, dest, (), {**options, "help": argparse.SUPPRESS}, False, names)
    text, _ = split_note(str(options.get("help") or "").strip())  # a field's own help may carry its note
    described = f"{text.rstrip('.')} (default: {_shown_default(default)})"
    options["help"] = with_note(dest, described).replace("%", "%%")
    choices = options.get("choices")
    if choices is None or len(choices) > 6:
        options["metavar"] = _METAVARS.get(options.get("type"), "VALUE") if choices is None else "NAME"
    if recipe_only:
        return Flag(group, dest, (), options, False, names, recipe_only=True)
    return Flag(group, dest, shown, options, True, hidden)


def recipe_flags() -> tuple[Flag, ...]:
    """Every recipe field's flags, by group, respira's own before ``TrainingArguments``' (less ``debug``)."""
    trainer_fields = {f.name for f in fields(TrainingArguments)}
    resolved = _training_defaults()
    flags = [_flag(*call, resolved) for call in option_specs(DATACLASSES)]
    flags = [flag for flag in flags if flag.dest not in _NOT_FLAGS]
    order = list(FLAG_GROUPS)
    return tuple(sorted(flags, key=lambda flag: (order.index(flag.group), flag.dest in trainer_fields)))


def flag_parser() -> argparse.ArgumentParser:
    """A parent parser (no ``-h``) with one flag per recipe field, by group."""
    parser = OptionParser([], add_help=False, allow_abbrev=False)
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback of an error"
    )
    groups = {
        title: parser.add_argument_group(title, textwrap.fill(text, 90, break_long_words=False))
        for title, text in FLAG_GROUPS.items()
    }
    for flag in recipe_flags():
        group = groups[flag.group]
        if flag.option_strings:
            group.add_argument(*flag.option_strings, **flag.options)
        if flag.hidden_strings:
            hidden = {k: v for k, v in flag.options.items() if k != "metavar"}
            hidden.update(dest=flag.dest, help=argparse.SUPPRESS)
            group.add_argument(*flag.hidden_strings, **hidden)
    return parser


def command_line_options(namespace: argparse.Namespace) -> dict[str, Any]:
    """The recipe fields given as flags in ``namespace`` (from a parser with :func:`flag_parser`'s flags)."""
    names = _field_names() - set(_NOT_FLAGS)
    return {name: value for name, value in vars(namespace).items() if name in names}


def override_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Recipe fields given as Python values (``None``: not given), checked as their flags are."""
    return checked_values(values, DATACLASSES, suggest=field_suggestions)


def parse_flags(arguments: Sequence[str]) -> dict[str, Any]:
    """``--field value`` strings as typed field values; unknown flags are named (with the closest fields)."""
    if not arguments:
        return {}
    namespace, extra = flag_parser().parse_known_args(list(arguments), argparse.Namespace())
    unknown = [arg.split("=", 1)[0] for arg in extra if arg.startswith("--")]
    if unknown:
        raise OptionError(unrecognized(unknown, (), field_suggestions))
    if extra:
        raise ValueError(f"command line: unexpected argument {extra[0]!r} (options are --field value)")
    return command_line_options(namespace)


TRANSFORMERS_NAMES: dict[str, str] = {
    alias[2:]: f.name for cls in DATACLASSES for f in fields(cls) for alias in f.metadata.get("aliases", ())
}
"""transformers' ``run_audio_classification.py`` names accepted for respira's fields (their flag aliases)."""

RECIPE_MAPPING = "the recipe mapping"  # how errors name a recipe given as a mapping


@dataclass(frozen=True)
class Recipe:
    """A recipe's options (as their flags read them; mappings as JSON text) and the line of each key in its
    file (``path`` is ``None`` for a mapping)."""

    path: Path | None
    options: dict[str, Any]
    lines: dict[str, int]

    def where(self, key: str) -> str:
        """``path:line`` of ``key`` (``path`` when unknown; :data:`RECIPE_MAPPING` without a file)."""
        if self.path is None:
            return RECIPE_MAPPING
        line = self.lines.get(key)
        return f"{self.path}:{line}" if line is not None else str(self.path)

    def named(self, error: Exception, keys: Iterable[str]) -> ValueError:
        """``error`` in one line, after the :meth:`where` of the one of ``keys`` it begins with (``KEY ...``,
        ``argument --KEY ...``)."""
        message = one_line(error)
        key = next((key for key in keys if re.match(rf"(argument --)?{key}\b", message)), None)
        return ValueError(message if key is None else f"{self.where(key)}: {message}")


def _key_lines(text: str) -> dict[str, int]:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): key.start_mark.line + 1 for key, _ in node.value}


def _yaml_error(path: Path, error: yaml.YAMLError) -> str:
    """``FILE:LINE:COLUMN: not valid YAML: ...`` (PyYAML's message names ``"<unicode string>"``)."""
    mark = getattr(error, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    parts = [getattr(error, "context", None), getattr(error, "problem", None)]
    said = "; ".join(one_line(part) for part in parts if part) or one_line(error)
    return f"{where}: not valid YAML: {said}"


def read_recipe(path: str | Path) -> Recipe:
    """A YAML recipe, its keys checked against the known fields and its values against their types."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {str(path)!r} not found")
    try:
        text = path.read_text(encoding="utf-8")
        options = yaml.safe_load(text) or {}
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    except yaml.YAMLError as error:
        raise ValueError(_yaml_error(path, error)) from None
    if not isinstance(options, dict):
        raise ValueError(f"{path}: a recipe is a mapping of option: value, got a {type(options).__name__}")
    return _checked_recipe(options, path, _key_lines(text))


def _checked_recipe(options: dict[Any, Any], path: Path | None, lines: dict[str, int]) -> Recipe:
    """``options`` (keys in transformers' names too) read as their flags are (:func:`checked_values`); a null:
    the field's ``None``, where its type takes one."""
    source = str(path) if path is not None else RECIPE_MAPPING
    twice = [key for key in options if TRANSFORMERS_NAMES.get(str(key)) in options]
    if twice:
        raise ValueError(
            f"{source}: {twice[0]} and {TRANSFORMERS_NAMES[twice[0]]} name the same option; keep one"
        )
    lines.update({TRANSFORMERS_NAMES[key]: line for key, line in lines.items() if key in TRANSFORMERS_NAMES})
    options = {TRANSFORMERS_NAMES.get(str(key), key): value for key, value in options.items()}
    unknown = [str(key) for key in options if key not in _field_names()]
    if unknown:
        raise ValueError(
            f"unknown option(s) in {source}: {unknown_names(unknown, suggest=field_suggestions)}"
        )
    recipe = Recipe(path, {}, lines)
    hints = {name: hint for cls in DATACLASSES for name, hint in typing.get_type_hints(cls).items()}
    nulls = [key for key, value in options.items() if value is None]
    for key in nulls:
        if type(None) not in typing.get_args(hints[key]):
            raise ValueError(f"{recipe.where(key)}: {key} cannot be null")
    try:
        recipe.options.update(checked_values(options, DATACLASSES))
    except OptionError as error:
        raise recipe.named(error, options) from None
    recipe.options.update(dict.fromkeys(nulls))
    return recipe


def parse_recipe(
    recipe: str | Path | Recipe | Mapping[str, Any] | None,
    overrides: list[str] | None = None,
    *,
    given: Mapping[str, Any] | None = None,
) -> tuple[ModelArguments, DataArguments, RunArguments, RespiraTrainingArguments]:
    """The four argument dataclasses of ``recipe`` (a file, a :class:`Recipe` or a mapping) overridden by
    ``given`` (typed field values), then ``overrides`` (``--field value`` strings). Errors are one-line
    ``ValueError``s; a bad value from the recipe names its file and line."""
    flags = {**(given or {}), **parse_flags(overrides or [])}
    read = as_recipe(recipe) if recipe is not None else Recipe(None, {}, {})
    options = {**read.options, **flags}
    if options.get("encoder_name_or_path") and "encoder" not in options:
        family = checkpoint_encoder(options["encoder_name_or_path"])
        if family is not None:  # --model_name_or_path alone, as in transformers' examples
            options["encoder"] = family
    try:
        return tuple(
            cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options}) for cls in DATACLASSES
        )
    except ValueError as error:  # a value from the recipe (not overridden): named by its line
        raise read.named(error, [key for key in read.options if key not in flags]) from None


def as_recipe(recipe: str | Path | Recipe | Mapping[str, Any]) -> Recipe:
    """``recipe`` (a YAML file's path, a mapping or a :class:`Recipe`) read and checked."""
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, Mapping):  # checked as a file is
        return _checked_recipe(dict(recipe), None, {})
    if isinstance(recipe, (str, Path)):
        return read_recipe(recipe)
    raise ValueError(
        f"a recipe is a YAML file's path or a mapping of option: value, got a {type(recipe).__name__}"
    )


def checkpoint_encoder(source: str) -> str | None:
    """The encoder family of a checkpoint's ``config.json``; ``None`` when unreadable or not respira's."""
    from transformers import PreTrainedConfig

    from ..models.respira.encoders import find_encoder_spec

    try:  # a local folder or a Hub id
        config, _ = PreTrainedConfig.get_config_dict(str(Path(source).expanduser()))
        spec = find_encoder_spec(config.get("model_type"))
    except Exception:
        return None
    return spec.name if spec is not None else None


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
    _check_corpora(model, data, run, args)
    _check_data(data, args, corpus_written_later=corpus_written_later)
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


def _check_corpora(
    model: ModelArguments, data: DataArguments, run: RunArguments, args: RespiraTrainingArguments
) -> None:
    from ..data.multi_corpus import check_corpora, has_recording_labels

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
    from ..data.corpus_files import locate_corpus, shown_dirs
    from ..data.folds import is_fold_strategy
    from ..data.icbhi import ICBHIConfig
    from ..data.run_splits import dataset_source, inspect_source
    from .data import MISSING_DATA_DIR, data_record

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
            f"{shown_dirs(data.data_dir)} has no official split file (ICBHI_challenge_train_test.txt): use "
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
    from ..data.folds import device_folds, fold_splits, patient_kfold
    from ..data.text_files import corpus_index

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

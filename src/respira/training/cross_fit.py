"""Thresholds tuned on cross-fitted predictions of the training pool (``threshold_source: cross_fit``):
per patient group, a model trained as the kept one on the rest predicts it; the thresholds are tuned on
those predictions (pooled or worst domain) and stored in the kept model's config."""

from __future__ import annotations

import copy
import math
import tempfile
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..data.folds import patient_kfold
from ..data.multi_corpus import threshold_unit_column, threshold_units
from ..metrics import multilabel_scores
from ..metrics.thresholds import ThresholdChoice, choose_thresholds, sigmoid
from ..utils.progress import progress
from .embedding_cache import ViewStore, shows_progress, uses_cache
from .training_args import build_model

if TYPE_CHECKING:
    import datasets
    from torch import nn

    from .trainer import RespiraTrainer
    from .training_args import ModelArguments, RespiraTrainingArguments


@dataclass(frozen=True)
class CrossFit:
    """The chosen thresholds, the pool's out-of-fold probabilities and groups, the epochs and the score."""

    choice: ThresholdChoice
    probabilities: np.ndarray
    groups: np.ndarray
    epochs: float
    icbhi_score: float


def training_pool(splits: datasets.DatasetDict) -> datasets.Dataset:
    """Train and validation (when there is one), in that order."""
    import datasets

    parts = [splits[name] for name in ("train", "validation") if name in splits]
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def check_cross_fit_pool(splits: datasets.DatasetDict, args: RespiraTrainingArguments) -> None:
    """Raise a one-line ``ValueError`` when the training pool cannot make ``args``' cross-fit groups."""
    folds, key = args.threshold_folds, args.group_by_key
    pool = training_pool(splits)
    if args.threshold_aggregation == "worst_domain":
        option = "threshold_aggregation=worst_domain"
        if key not in pool.column_names:
            raise ValueError(f"{option}: the training pool has no {key!r} column (group_by_key)")
        names = sorted({str(domain) for domain in pool[key]})
        if len(names) < 2:
            raise ValueError(
                f"{option} needs at least 2 recording domains ({key}) in train + validation, which hold "
                f"{len(names)} ({', '.join(names)}): use threshold_aggregation: pooled"
            )
    patients = set(pool["patient_id"])
    if len(patients) < folds:
        raise ValueError(
            f"threshold_source=cross_fit: threshold_folds={folds} needs at least {folds} patients in "
            f"train + validation, which hold {len(patients)}: lower threshold_folds"
        )


def pool_groups(pool: datasets.Dataset, folds: int, seed: int) -> np.ndarray:
    """The group (``0 .. folds - 1``) of each pool row: whole patients, stratified by class."""
    import pandas as pd

    index = pd.DataFrame({"patient_id": pool["patient_id"], "label": pool["label"]})
    return patient_kfold(index, folds, seed=seed, require_all=None).to_numpy()


def group_training_rows(pool: datasets.Dataset, groups: np.ndarray, group: int) -> np.ndarray:
    """The pool rows group ``group``'s model trains on: all but the group's and its patients'."""
    patients = np.asarray([str(patient) for patient in pool["patient_id"]])
    held = groups == group
    return np.flatnonzero(~held & ~np.isin(patients, patients[held]))


def selected_epochs(trainer: RespiraTrainer) -> float:
    """The epochs of the kept model's selected checkpoint (else the last), at least one."""
    state = trainer.state
    epoch = state.epoch or 0.0
    best = state.best_global_step
    if best:
        logged = [entry["epoch"] for entry in state.log_history if entry.get("step") == best]
        epoch = logged[0] if logged else epoch
    return max(1.0, float(math.ceil(epoch - 1e-9)))


def cross_fit_thresholds(
    model_args: ModelArguments,
    args: RespiraTrainingArguments,
    splits: datasets.DatasetDict,
    epochs: float,
    *,
    lowpass_cutoff: float | None = None,
    store: ViewStore | None = None,
    template: nn.Module | None = None,
) -> CrossFit:
    """Tune multi-label thresholds on cross-fitted predictions of ``splits``' training pool; the group
    models start from copies of ``template`` (the seed's fresh model), else each is built anew."""
    import transformers

    pool = training_pool(splits)  # its options and pool: checked before the run trained (validate_run)
    groups = pool_groups(pool, args.threshold_folds, args.seed)
    probabilities = np.zeros((len(pool), 2))
    if store is None and uses_cache(args):
        store = ViewStore()
    if template is None and not model_args.lora_r:  # the group models' initial weights are the seed's
        transformers.set_seed(args.seed)
        template = build_model(model_args, lowpass_cutoff=lowpass_cutoff)
    with tempfile.TemporaryDirectory(prefix="respira_cross_fit_") as scratch:
        group_args = replace(
            args,
            output_dir=scratch,
            num_train_epochs=epochs,
            max_steps=-1,
            eval_strategy="no",
            save_strategy="no",
            load_best_model_at_end=False,
            early_stopping_patience=None,
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
        )
        groups_shown = progress(
            range(int(groups.max()) + 1),
            "training the cross-fit group models",
            unit="group",
            enabled=shows_progress(args),
        )
        for group in groups_shown:
            held_out = np.flatnonzero(groups == group)
            if held_out.size == 0:
                continue
            trained = pool.select(group_training_rows(pool, groups, group))
            probabilities[held_out] = _group_probabilities(
                model_args, group_args, trained, pool.select(held_out), lowpass_cutoff, store, template
            )
    flags, scored = threshold_units(pool, probabilities)  # a recording's windows: one unit, as deployed
    domains = None
    if args.threshold_aggregation == "worst_domain":
        domains = threshold_unit_column(pool, args.group_by_key)
    choice = choose_thresholds(flags, scored, args.threshold_objective, domains=domains)
    score = multilabel_scores(flags, scored, choice.thresholds, warn=False)["icbhi_score"]
    return CrossFit(choice, probabilities, groups, epochs, float(score))


def _group_probabilities(
    model_args: ModelArguments,
    args: RespiraTrainingArguments,
    trained: datasets.Dataset,
    held_out: datasets.Dataset,
    lowpass_cutoff: float | None,
    store: ViewStore | None,
    template: nn.Module | None,
) -> np.ndarray:
    """Train one group model on ``trained`` (from a copy of ``template`` when given); its probabilities on
    ``held_out``."""
    import transformers
    from transformers import PrinterCallback

    from .trainer import RespiraTrainer

    transformers.set_seed(args.seed)
    if template is not None:
        model = copy.deepcopy(template)
    else:
        model = build_model(model_args, lowpass_cutoff=lowpass_cutoff)
    trainer = RespiraTrainer(model, args, trained, embedding_store=store)  # evaluates nothing
    trainer.remove_callback(PrinterCallback)  # the group models train silently
    trainer.train()
    return sigmoid(trainer.predict_logits(held_out))

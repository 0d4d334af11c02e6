"""``RespiraTrainer``: task loss + λ·auxiliary loss, one compact log line, validation-only selection;
validation tunes a multi-label model's thresholds into its config, other evaluations decide at them. The
training schedules: ``standard`` (one ``Trainer.train``) or ``contrastive_two_stage``."""

from __future__ import annotations

import contextlib
import gc
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from torch import nn
from transformers import EarlyStoppingCallback, PrinterCallback, ProgressCallback, Trainer, TrainerCallback
from transformers.trainer_utils import PredictionOutput

from ..data.multi_corpus import BAG_COLUMN, has_bags
from ..losses import MultipleInstanceLoss, apply_patch_mix, build_auxiliary_loss, patch_mix_plan
from ..metrics import make_compute_metrics
from ..models.respira.decision import thresholds_of
from ..models.respira.encoders import encoder_specs, get_encoder_spec
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL, MULTI_LABEL_NAMES, classes_to_flags
from ..records.run import METRICS_FILE
from ..utils.files import write_json_atomic
from ..utils.precision import full_float32
from ..utils.tables import format_percent
from .collator import AudioCollator, DatasetCyclePool, EpochToCollator, SameLabelConcat, build_augmentation
from .embedding_cache import (
    ProcessShare,
    ViewStore,
    cache_datasets,
    clean_embeddings,
    shows_progress,
    uses_cache,
)
from .samplers import (
    BagPackingBatchSampler,
    ContrastiveTupleBatchSampler,
    FlattenedBatchSampler,
    RandomOrderSampler,
    view_sampler,
)
from .training_args import RespiraTrainingArguments, RunArguments

PATCH_MIX = "patch_mix"


def _split_name(dataset: Any) -> str | None:
    split = getattr(dataset, "split", None)
    return str(split).split("[")[0] if split is not None else None


def training_collator(config: Any, args: RespiraTrainingArguments, train_dataset: Any) -> AudioCollator:
    """The collator of a training run: ``args``' augmentation and same-label concatenation."""
    concat = None
    if args.concat_same_label > 0 and train_dataset is not None and "label" in train_dataset.column_names:
        names = {name.strip() for name in args.concat_classes.split(",") if name.strip()}
        classes = tuple(sorted(CLASS_NAMES.index(name) for name in names))
        concat = SameLabelConcat(
            DatasetCyclePool(train_dataset, config.sampling_rate),
            probability=args.concat_same_label,
            classes=classes,
            sampling_rate=config.sampling_rate,
        )
    return AudioCollator(
        sampling_rate=config.sampling_rate,
        augment=build_augmentation(args.augmentation_spec),
        concat=concat,
        seed=args.seed,
        views=args.views,
    )


class RespiraTrainer(Trainer):
    """A ``transformers.Trainer`` for respira classifiers."""

    args: RespiraTrainingArguments
    thresholds_fixed: bool = False  # chosen elsewhere (cross_fit): validation decides at them, tunes none

    def __init__(
        self,
        model: nn.Module | None,
        args: RespiraTrainingArguments,
        train_dataset: datasets.Dataset | None = None,
        eval_dataset: datasets.Dataset | None = None,
        data_collator: AudioCollator | None = None,
        compute_metrics: Any = None,
        aux_loss: nn.Module | None = None,
        callbacks: list[TrainerCallback] | None = None,
        model_config: Any = None,
        embedding_store: ViewStore | None = None,
        **kwargs: Any,
    ) -> None:
        """``model`` may be ``None`` when ``model_init`` and ``model_config`` are given (for
        ``Trainer.hyperparameter_search``)."""
        if _split_name(eval_dataset) == "test":
            raise ValueError(
                "eval_dataset is the test split: model selection and early stopping must use a validation "
                "split (load_icbhi(..., validation_size=0.2) carves one by patient); score the test split "
                "once at the end with evaluate_test()"
            )
        args.remove_unused_columns = False  # the collator needs the audio and metadata columns
        config = model.config if model is not None else model_config
        if config is None:
            raise ValueError("pass a model, or model_init together with model_config")
        if data_collator is None:
            data_collator = training_collator(config, args, train_dataset)
        self.embedding_store = embedding_store
        self.embedding_share = ProcessShare.of_training(args)  # each process embeds its share, gathered
        if uses_cache(args):  # frozen encoder: train on embeddings computed once (augmented views too)
            train_dataset, eval_dataset = cache_datasets(
                model,
                args,
                data_collator,
                train_dataset,
                eval_dataset,
                store=embedding_store,
                share=self.embedding_share,
            )
        callbacks = list(callbacks or [])
        callbacks.append(EpochToCollator(data_collator))
        if args.early_stopping_patience is not None:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience))
        self._decides = compute_metrics is None  # respira's decision rule (thresholds tuned on validation)
        if compute_metrics is None:
            compute_metrics = make_compute_metrics(problem_type=config.problem_type)
        if kwargs.get("processing_class") is None:
            from ..models.respira.feature_extraction_respira import feature_extractor_for

            kwargs["processing_class"] = feature_extractor_for(config)
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=data_collator,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            **kwargs,
        )
        _compact_logs(self)
        self.aux_loss = aux_loss
        if self.aux_loss is None and args.aux_loss:
            self.aux_loss = build_auxiliary_loss(args.aux_loss, **args.aux_loss_kwargs)
        if self.aux_loss is not None and args.aux_loss == PATCH_MIX:
            self._patch_embeddings(self.model)  # an encoder without patch embeddings fails here
        self.mil_loss = MultipleInstanceLoss()
        self._components: dict[str, float] = defaultdict(float)
        self._component_steps = 0

    # ------------------------------------------------------------------ data
    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        return view_sampler(dataset, self._cycle_sampler, self.args.seed)  # cached views: one per epoch

    def _cycle_sampler(self, dataset):
        strategy, seed = self.args.batch_sampler, self.args.seed
        if has_bags(dataset):  # recordings as bags of windows: batches keep each bag whole
            size = self.args.per_device_train_batch_size
            return FlattenedBatchSampler(BagPackingBatchSampler(dataset[BAG_COLUMN], size, seed=seed), size)
        if strategy == "random":
            return RandomOrderSampler(len(dataset), seed=seed)
        anchors = self.args.per_device_train_batch_size // 2
        return FlattenedBatchSampler(
            ContrastiveTupleBatchSampler(dataset["label"], anchors, seed=seed), 2 * anchors
        )

    @contextlib.contextmanager
    def _evaluation_mode(self):
        """No augmentation, every sample scored (``dataloader_drop_last`` is for training batches only), and
        in full float32 on CUDA, as respira predicts: thresholds are tuned on what inference computes."""
        drop_last = self.args.dataloader_drop_last
        self.args.dataloader_drop_last = False
        if isinstance(self.data_collator, AudioCollator):
            self.data_collator.training = False
        try:
            with full_float32():
                yield
        finally:
            self.args.dataloader_drop_last = drop_last
            if isinstance(self.data_collator, AudioCollator):
                self.data_collator.training = True

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        """``Trainer.evaluate`` without augmentation."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        tune = metric_key_prefix == "eval" and not isinstance(dataset, dict) and self._tunes_thresholds()
        if tune and _split_name(dataset) == "test":
            raise ValueError(
                "decision thresholds are never tuned on the test split: score it with evaluate_test() "
                "(or metric_key_prefix='test'), which decides at the thresholds validation chose"
            )
        with self._evaluation_mode(), self._decision_rule(dataset, tune):
            metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if tune:
            self._set_thresholds(metrics, metric_key_prefix)
        return metrics

    def predict(self, test_dataset: Any, *args: Any, **kwargs: Any):
        """``Trainer.predict`` without augmentation; decides at the config's thresholds."""
        with self._evaluation_mode(), self._decision_rule(test_dataset, tune=False):
            return super().predict(test_dataset, *args, **kwargs)

    def _embedded(self, dataset: datasets.Dataset) -> datasets.Dataset:
        """``dataset`` embedded (clean, once) when the run trains on cached embeddings."""
        if not uses_cache(self.args) or "embeddings" in dataset.column_names:
            return dataset
        batch = self.args.per_device_eval_batch_size
        shown = "embedding the cycles to score" if shows_progress(self.args) else None
        return clean_embeddings(
            self.model,
            dataset,
            batch_size=batch,
            store=self.embedding_store,
            progress=shown,
            share=self.embedding_share,
            split=_split_name(dataset) or "scored",
        )

    def predict_logits(self, dataset: datasets.Dataset) -> np.ndarray:
        """The model's logits ``[N, outputs]`` for every row of ``dataset``, without augmentation."""
        return _logits(self.predict(self._embedded(dataset), metric_key_prefix="predict").predictions)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``, whose closing ``gc.collect()`` (accelerate's ``free_memory``) skips the objects
        that predate it: a full pass over the process's heap takes a quarter of a second."""
        if gc.get_freeze_count():  # the caller froze the heap itself
            return super().train(*args, **kwargs)
        gc.freeze()
        try:
            return super().train(*args, **kwargs)
        finally:
            gc.unfreeze()

    # ------------------------------------------------------------------ loss
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        metadata = inputs.pop("metadata", {})
        base = self.accelerator.unwrap_model(model)
        bags = inputs.pop("bags", None)
        outputs = model(**inputs)
        views = outputs.logits.shape[0] // labels.shape[0]
        components: dict[str, Any] = {}
        if bags is not None and model.training and bool((bags >= 0).any()):
            task_loss = self._bag_task_loss(base, outputs.logits, labels, bags, components)
        else:  # evaluation scores every window on its own, against its recording's flags
            task_loss = base.compute_loss(outputs.logits, labels.repeat(views, *[1] * (labels.dim() - 1)))
        loss = self.args.task_loss_weight * task_loss
        components["task_loss"] = task_loss.detach()
        if self.aux_loss is not None and model.training:
            aux = self._auxiliary(model, inputs, outputs, labels, metadata)
            loss = loss + self.args.aux_loss_weight * aux
            components["aux_loss"] = aux.detach()
            for name, value in getattr(self.aux_loss, "last_components", {}).items():
                components[f"aux/{name}"] = value
        if model.training:
            for name, value in components.items():
                self._components[name] += float(value)
            self._component_steps += 1
        return (loss, outputs) if return_outputs else loss

    def _patch_embeddings(self, model: nn.Module) -> tuple[nn.Module, int]:
        """The encoder's patch-embedding module (its output is mixed) and its number of patches."""
        base = self.accelerator.unwrap_model(model)
        find = get_encoder_spec(base.config.encoder_config.model_type).patch_embeddings
        if find is None:
            names = " or ".join(spec.display_name for spec in encoder_specs() if spec.patch_embeddings)
            raise ValueError(
                f"the patch_mix auxiliary loss mixes {names} patch embeddings: use an {names} encoder"
            )
        return find(base.respira.encoder)

    def _auxiliary(self, model: nn.Module, inputs: dict[str, Any], outputs, labels, metadata) -> torch.Tensor:
        if self.args.aux_loss == PATCH_MIX:
            return self._patch_mix(model, inputs, outputs)
        features = outputs.projections if self.args.aux_input == "projections" else outputs.embeddings
        if features is None:
            raise ValueError("the auxiliary loss needs projections: set projector_dim in the model config")
        # the loss gathers features, labels and metadata across processes itself
        return self.aux_loss(features, labels, **metadata)

    def _patch_mix(self, model: nn.Module, inputs: dict[str, Any], outputs) -> torch.Tensor:
        patch_embeddings, num_patches = self._patch_embeddings(model)
        batch = outputs.logits.shape[0]
        generator = torch.Generator().manual_seed(
            hash((self.args.seed, self.state.global_step, 1)) & 0x7FFFFFFF
        )
        permutation, mask, lam = patch_mix_plan(batch, num_patches, generator=generator)
        hook = patch_embeddings.register_forward_hook(
            lambda module, args, output: apply_patch_mix(
                output, permutation.to(output.device), mask.to(output.device)
            )
        )
        try:
            mixed = model(**inputs)
        finally:
            hook.remove()
        return self.aux_loss(
            mixed.projections, outputs.projections, permutation.to(mixed.projections.device), lam
        )

    def _bag_task_loss(
        self,
        base: nn.Module,
        logits: torch.Tensor,
        labels: torch.Tensor,
        bags: torch.Tensor,
        components: dict[str, Any],
    ) -> torch.Tensor:
        """Cycle BCE over the cycles (``bags < 0``) + ``mil_weight`` × the bags' multiple-instance loss."""
        windows = bags >= 0
        flags = classes_to_flags(labels[windows]) if labels.dim() == 1 else labels[windows]
        bag_loss = self.mil_loss(logits[windows], bags[windows], flags)
        components["mil_loss"] = bag_loss.detach()
        loss = self.args.mil_weight * bag_loss
        if bool((~windows).any()):
            cycle_loss = base.compute_loss(logits[~windows], labels[~windows])
            components["cycle_loss"] = cycle_loss.detach()
            loss = loss + cycle_loss
        return loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if self._component_steps and "loss" in logs:
            for name, total in self._components.items():
                logs[name] = round(total / self._component_steps, 6)
            self._components.clear()
            self._component_steps = 0
        super().log(logs, start_time)

    # ------------------------------------------------------------------ decision rule

    def _model_config(self) -> Any:
        return self.accelerator.unwrap_model(self.model).config

    def keep_thresholds(self, thresholds: list[float] | None) -> None:
        """Store thresholds chosen outside validation (``None``: 0.5); later evaluations decide at them."""
        self._model_config().decision_thresholds = thresholds
        self.thresholds_fixed = True

    def _tunes_thresholds(self) -> bool:
        return (
            self._decides
            and self._model_config().problem_type == MULTI_LABEL
            and self.args.threshold_objective != "fixed"
            and not self.thresholds_fixed
        )

    @contextlib.contextmanager
    def _decision_rule(self, dataset: Any, tune: bool) -> Iterator[None]:
        """``compute_metrics`` for one evaluation of ``dataset``: thresholds tuned on it, or the config's."""
        if not self._decides:
            yield
            return
        config = self._model_config()
        multi_label = config.problem_type == MULTI_LABEL
        has_patients = isinstance(dataset, datasets.Dataset) and "patient_id" in dataset.column_names
        previous = self.compute_metrics
        self.compute_metrics = make_compute_metrics(
            problem_type=config.problem_type,
            thresholds=thresholds_of(config) if multi_label and not tune else None,
            threshold_objective=self.args.threshold_objective if multi_label and tune else "fixed",
            patient_ids=dataset["patient_id"] if has_patients else None,
        )
        try:
            yield
        finally:
            self.compute_metrics = previous

    def _set_thresholds(self, metrics: dict[str, Any], prefix: str) -> None:
        """Store the thresholds an evaluation tuned in the model config (``None`` when it tuned none)."""
        values = [metrics.get(f"{prefix}_threshold_{name}") for name in MULTI_LABEL_NAMES]
        if any(value is None for value in values):
            return
        tuned = metrics.get(f"{prefix}_thresholds_tuned", 0)
        self._model_config().decision_thresholds = [float(v) for v in values] if tuned else None

    def _load_best_model(self) -> None:
        """Load the best checkpoint's weights and restore the thresholds its validation evaluation tuned."""
        super()._load_best_model()
        step = self.state.best_global_step
        if step is None or not self._tunes_thresholds():
            return
        logged = [
            e for e in self.state.log_history if e.get("step") == step and "eval_threshold_crackle" in e
        ]
        if logged:
            self._set_thresholds(logged[-1], "eval")

    # ------------------------------------------------------------------ results
    def save_metrics(self, split: str, metrics: dict[str, Any], combined: bool = True) -> None:
        """``Trainer.save_metrics``, written atomically with undefined values (NaN) as ``null``."""
        if not self.is_world_process_zero():
            return
        folder = Path(self.args.output_dir)
        write_json_atomic(folder / f"{split}_results.json", metrics, default=str)
        if combined:
            path = folder / METRICS_FILE
            existing = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            existing.update(metrics)
            write_json_atomic(path, existing, default=str)

    def evaluate_test(self, test_dataset: datasets.Dataset) -> PredictionOutput:
        """Score the test split once (after selection on validation), log and save its metrics."""
        output = self.predict(self._embedded(test_dataset), metric_key_prefix="test")
        self.log(output.metrics)
        self.save_metrics("test", output.metrics)
        return output._replace(predictions=_logits(output.predictions))


def _logits(predictions: Any) -> np.ndarray:
    while isinstance(predictions, tuple):
        predictions = predictions[0]
    return np.asarray(predictions)


def _compact_logs(trainer: Trainer) -> None:
    from ..utils.progress import on_terminal  # looked up at each call: tests stand in for it

    progress = CompactProgressCallback if on_terminal() else CompactPrinterCallback
    for plain, compact in ((PrinterCallback, CompactPrinterCallback), (ProgressCallback, progress)):
        if any(type(callback) is plain for callback in trainer.callback_handler.callbacks):
            trainer.remove_callback(plain)
            trainer.add_callback(compact)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _evaluation(logs: Mapping[str, Any], prefix: str) -> list[str]:
    def get(name: str) -> Any:
        return logs.get(f"{prefix}_{name}")

    parts = [f"{prefix} loss {_number(get('loss'))}"] if get("loss") is not None else []
    if get("icbhi_score") is not None:
        score = f"ICBHI {format_percent(get('icbhi_score'))}"
        if get("specificity") is not None and get("sensitivity") is not None:
            score += f" (Sp {format_percent(get('specificity'))}, Se {format_percent(get('sensitivity'))})"
        parts.append(score)
    aucs = [
        f"{name} {format_percent(get(f'auc_{name}'))}"
        for name in MULTI_LABEL_NAMES
        if get(f"auc_{name}") is not None
    ]
    if aucs:
        parts.append("AUC " + ", ".join(aucs))
    if get("patient_icbhi_score") is not None:
        parts.append(f"per patient {format_percent(get('patient_icbhi_score'))}")
    return parts


def compact_line(logs: Mapping[str, Any]) -> str:
    """A one-line summary of a ``Trainer.log`` dictionary (training step, evaluation or the end)."""
    parts = [f"epoch {logs['epoch']:.3g}"] if isinstance(logs.get("epoch"), (int, float)) else []
    prefix = next((p for p in ("eval", "test") if any(key.startswith(f"{p}_") for key in logs)), None)
    if prefix is not None:
        parts += _evaluation(logs, prefix)
    elif "train_runtime" in logs:
        parts.append(f"training done in {logs['train_runtime']:.1f} s")
        if "train_loss" in logs:
            parts.append(f"mean loss {_number(logs['train_loss'])}")
    else:
        for key, label in (
            ("loss", "loss"),
            ("task_loss", "task"),
            ("aux_loss", "aux"),
            ("mil_loss", "bags"),
            ("learning_rate", "lr"),
        ):
            if key in logs:
                parts.append(f"{label} {_number(logs[key])}")
    if len(parts) <= 1:  # nothing known: the dictionary's own keys, still one line
        parts += [
            f"{key} {_number(value)}" for key, value in logs.items() if key not in ("epoch", "total_flos")
        ]
    return " · ".join(parts)


class CompactPrinterCallback(PrinterCallback):
    """``PrinterCallback`` (``disable_tqdm``) that prints :func:`compact_line`."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_local_process_zero and logs:
            print(compact_line(logs))


class CompactProgressCallback(ProgressCallback):
    """``ProgressCallback`` (the progress bars) that writes :func:`compact_line` above the bar."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs:
            self.training_bar.write(compact_line(logs))


def make_trainer(
    model: nn.Module, args: RespiraTrainingArguments, splits: datasets.DatasetDict, **kwargs: Any
) -> RespiraTrainer:
    """A trainer on the training split, evaluating on validation when ``args.eval_strategy`` asks."""
    evaluation = splits.get("validation") if args.eval_strategy != "no" else None
    return RespiraTrainer(model, args, splits["train"], eval_dataset=evaluation, **kwargs)


def train_with_schedule(
    model: nn.Module,
    args: RespiraTrainingArguments,
    run: RunArguments,
    splits: datasets.DatasetDict,
    *,
    resume_from: str | Path | None = None,
    embedding_store: ViewStore | None = None,
) -> RespiraTrainer:
    """Train ``model`` with ``run.schedule``; return the trainer that holds the final model."""
    if run.schedule == "contrastive_two_stage":  # resuming it is refused by validate_run
        return _contrastive_two_stage(model, args, run, splits)
    trainer = make_trainer(model, args, splits, embedding_store=embedding_store)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    return trainer


def _contrastive_two_stage(
    model: nn.Module, args: RespiraTrainingArguments, run: RunArguments, splits: datasets.DatasetDict
) -> RespiraTrainer:
    """Song et al. (2021): the encoder trained with the contrastive loss alone, then frozen while the
    classifier trains on it (``run.head_epochs`` at ``run.head_learning_rate``)."""
    trainer = None
    for _ in range(run.two_stage_rounds):
        model.freeze_encoder(False)
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
        make_trainer(model, embedding_args, splits).train()
        model.freeze_encoder()
        head_args = replace(
            args,
            aux_loss=None,
            batch_sampler="random",
            num_train_epochs=run.head_epochs,
            learning_rate=run.head_learning_rate,
        )
        trainer = make_trainer(model, head_args, splits)
        trainer.train()
    return trainer

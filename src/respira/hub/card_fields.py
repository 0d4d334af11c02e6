"""The names a model card uses: the hyper-parameters and architecture fields it states and their labels,
the auxiliary losses' names, and the test metrics it reports as ``model-index`` results (read by
:mod:`respira.hub.card_data` to fill a card and by :mod:`respira.hub.card_render` to lay it out)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "ARCHITECTURE_KEYS",
    "AUX_LOSS_NAMES",
    "HUB_METRIC_ARGS",
    "HUB_METRIC_ID",
    "HYPERPARAMETERS",
    "MODEL_INDEX_METRICS",
    "NOT_METRICS",
]

AUX_LOSS_NAMES: dict[str, str] = {
    "contrastive_tuple": "contrastive-tuple",
    "supcon": "SupCon",
    "metadata_contrastive": "metadata-contrastive",
    "add": "ADD",
    "patch_mix": "Patch-Mix contrastive",
    "stethoscope_supcon": "stethoscope-guided SupCon",
}
MODEL_INDEX_METRICS: dict[str, str] = {
    "icbhi_score": "ICBHI score",
    "specificity": "Specificity",
    "sensitivity": "Sensitivity (strict)",
}
HUB_METRIC_ID = "recall"
"""The Hub metric id (https://hf.co/metrics) of the three ICBHI metrics: each is a recall. Specificity
is the recall of ``normal`` cycles, sensitivity the micro-averaged recall of the abnormal classes (a cycle
counts only with its exact class), the ICBHI score their mean; ``args`` in the model-index says which."""
HUB_METRIC_ARGS: dict[str, dict[str, Any]] = {
    "specificity": {"labels": ["normal"], "average": "micro"},
    "sensitivity": {"labels": ["crackle", "wheeze", "both"], "average": "micro"},
    "icbhi_score": {"average": "icbhi", "mean_of": ["specificity", "sensitivity"]},
}
"""Test metrics stated as ``model-index`` results (and in the per-seed table), with their labels."""
NOT_METRICS = (
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
    "threshold_groups": "groups of the threshold cross-fit (patients or recording domains)",
    "threshold_aggregation": "threshold cross-fit scored (pooled, or its worst recording domain)",
    "mil_weight": "multiple-instance loss weight (recording bags)",
    "mil_pooling": "multiple-instance pooling of a recording's windows",
    "frame_loss_weight": "frame loss weight (time steps against annotated events: strong labels)",
    "frame_mil_weight": "frame multiple-instance loss weight (time steps pooled against flags: weak labels)",
    "frame_mil_pooling": "multiple-instance pooling of an example's time steps",
    "fp16": "fp16",
    "bf16": "bf16",
}
"""Hyper-parameters a card states (the training arguments' names), with their labels."""
ARCHITECTURE_KEYS = (  # the RespiraConfig fields a card lists, in this order
    *("featurizer", "sampling_rate", "lowpass_cutoff", "lowpass_order", "target_seconds", "pad_mode"),
    "crop_mode",
    "ast_length_policy",
    *(
        "pooling",
        "head",
        "head_dropout",
        "head_norm",
        "instance_norm",
        "head_hidden_size",
        "projector_dim",
        "freeze_encoder",
        "spec_augment",
        "class_weights",
    ),
)

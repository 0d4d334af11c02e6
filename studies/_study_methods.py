"""The methods of the real-data study (``studies/real_data.py``): each one's recipe, its CPU-feasible
overrides of it and label, and the ``respira train`` options the study runs it with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

import _protocols as protocols

ROOT = Path(__file__).resolve().parent.parent
RATE, LOWPASS = 16_000, 4000.0
"""The study's cycles (baselines): 16 kHz audio, 4 kHz low-pass (a method's own is ``Method.lowpass``)."""
BASELINES = ("all_normal", "class_prior", "logmel_lr")
DIAGNOSTICS = ("efficientat_embedding_lr", "efficientat_embedding_lr_oracle")


@dataclass(frozen=True)
class Method:
    """A method trained with ``respira train``: its recipe, CPU-feasible overrides and label."""

    label: str
    recipe: str
    overrides: tuple[str, ...]
    pretrained: bool = False
    """Needs the converted EfficientAT encoder (``--encoder_name_or_path``)."""
    drop: tuple[str, ...] = ()
    """Recipe fields removed (the run uses their defaults), in a copy of the recipe under ``--work``."""
    lowpass: float = LOWPASS
    """The recordings' low-pass (Hz, ``--lowpass_cutoff``; the KAUH evaluation reads it from the model)."""
    corpora: tuple[str, ...] = ()
    """Corpora trained on beside ICBHI (``--corpora``), each from its folder under ``--shared``."""

    def __post_init__(self) -> None:
        if "--lowpass_cutoff" in self.overrides:  # the study appends the cutoff after the overrides
            raise ValueError(f"{self.label}: set the low-pass with Method.lowpass, not in overrides")
        if {"--corpora", "--corpus_dirs"} & set(self.overrides):
            raise ValueError(f"{self.label}: name other corpora with Method.corpora, not in overrides")

    def tests_on_its_training_data(self, protocol: str) -> bool:
        """Whether ``protocol``'s test corpus is one the method trains on (ICBHI → KAUH with KAUH)."""
        return protocol == "icbhi_to_kauh" and "kauh" in self.corpora


CNN = ("--num_train_epochs", "8", "--target_seconds", "4", "--early_stopping_patience", "4")
ADD = ("--aux_loss", "add", "--aux_loss_weight", "1.0", "--aux_input", "embeddings")
FINETUNE = (
    "--head", "linear", "--head_norm", "true", "--freeze_encoder", "false", "--learning_rate", "0.0001",
    "--num_train_epochs", "10", "--target_seconds", "4", "--per_device_train_batch_size", "16",
    "--early_stopping_patience", "4", "--threshold_source", "validation",
)  # fmt: skip
FROZEN_HEAD = ("--num_train_epochs", "60", "--head", "linear", "--head_norm", "true")
FROZEN = (*FROZEN_HEAD, "--threshold_source", "validation")
CROSS_FIT = (*FROZEN_HEAD, "--threshold_source", "cross_fit")
TRANSFER = (
    "--num_train_epochs", "30", "--head", "linear", "--head_norm", "true", "--threshold_source", "cross_fit",
    "--augmented_views", "0",
)  # fmt: skip
"""The flagship recipe as the transfer study runs it on this CPU: clean cached embeddings, 30 epochs."""
CONTRASTIVE = (
    "--learning_rate", "0.001", "--two_stage_rounds", "2", "--num_train_epochs", "3",
    "--head_epochs", "3", "--target_seconds", "4",
)  # fmt: skip
METHODS: dict[str, Method] = {
    "cnn_ce": Method("CNN, cross-entropy", "cnn_ce.yaml", CNN),
    "cnn_add": Method("CNN, CE + ADD", "cnn_ce.yaml", CNN + ADD),
    "cnn_contrastive": Method(
        "CNN, contrastive two-stage (from a random CNN)",
        "cnn_contrastive.yaml",
        CONTRASTIVE,
        drop=("encoder_name_or_path",),  # no CE run to start from
    ),
    "efficientat_frozen": Method(
        "EfficientAT mn04 frozen, standardised embeddings, linear head (augmented cache, K = 2), "
        "thresholds from validation",
        "efficientat_frozen_multilabel.yaml",
        FROZEN,
        pretrained=True,
    ),
    "efficientat_frozen_cross_fit": Method(
        "the same, thresholds cross-fitted on the training pool (the recipe)",
        "efficientat_frozen_multilabel.yaml",
        CROSS_FIT,
        pretrained=True,
    ),
    "efficientat_frozen_cross_fit_clean": Method(
        "the same, cross-fitted thresholds, no augmentation (`augmented_views: 0`)",
        "efficientat_frozen_multilabel.yaml",
        (*CROSS_FIT, "--augmented_views", "0"),
        pretrained=True,
    ),
    "efficientat_finetune": Method(
        "EfficientAT mn04 fine-tuned, standardised embeddings, linear head",
        "efficientat_frozen_multilabel.yaml",
        FINETUNE,
        True,
        drop=("augmented_views",),  # the cache needs a frozen encoder: augmentation runs on the fly
    ),
    "efficientat_finetune_add": Method(
        "EfficientAT mn04 fine-tuned + ADD, standardised embeddings, linear head",
        "efficientat_frozen_multilabel.yaml",
        FINETUNE + ADD,
        True,
        drop=("augmented_views",),
    ),
}
METHODS["transfer_flagship"] = Method(
    "flagship recipe, CPU-reduced (clean cached embeddings, 30 epochs, cross-fitted thresholds)",
    "efficientat_frozen_multilabel.yaml",
    TRANSFER,
    pretrained=True,
)
TRUNK = ("--head_hidden_size", "128")
SG_SCL = ("--aux_loss", "stethoscope_supcon", "--projector_dim", "128", "--aux_loss_weight", "1.0")
for name, label, extra in (
    ("transfer_trunk", "the same, a shared linear+ReLU layer of 128 before the head (SG-SCL control)",
     TRUNK),
    ("transfer_sg_scl", "the same layer + stethoscope-guided SupCon (Kim et al. 2024, device positives, λ 1)",
     (*TRUNK, *SG_SCL)),
    ("transfer_worst_device_thresholds", "the same, thresholds that maximise the lowest cross-fitted score "
     "over the pool's devices (threshold_aggregation: worst_domain), not the pooled score",
     ("--threshold_aggregation", "worst_domain")),
    ("transfer_sg_scl_across", "the same layer + SupCon, positives: same class on another device (λ = 1)",
     (*TRUNK, *SG_SCL, "--aux_loss_options", '{"positives": "label_across_domains"}')),
):  # fmt: skip
    METHODS[name] = Method(label, "efficientat_frozen_multilabel.yaml", (*TRANSFER, *extra), pretrained=True)
METHODS["transfer_common_band"] = Method(
    "the same, 2 kHz low-pass: the band every device records (Litt3200, some Meditron and KAUH are 4 kHz)",
    "efficientat_frozen_multilabel.yaml",
    TRANSFER,
    pretrained=True,
    lowpass=2000.0,
)
DEVICE_EQ = (
    "--augmented_views", "2", "--concat_same_label", "0",
    "--augmentation", '{"frequency_response": {"db": [-6, 6], "bands": [3, 6], "probability": 1.0}}',
)  # fmt: skip
"""Two views per cycle, each coloured by a random frequency response (FilterAugment's published range)."""
METHODS["transfer_device_eq"] = Method(
    "the same with 2 augmented views per cycle, each through a random frequency response (FilterAugment's "
    "linear filter, ±6 dB, 3-6 bands over mel; no gain, shift or concatenation): a stethoscope's colour",
    "efficientat_frozen_multilabel.yaml",
    (*TRANSFER, *DEVICE_EQ),
    pretrained=True,
)
METHODS["transfer_with_kauh"] = Method(
    "the same trained on ICBHI + every KAUH recording (4-s windows every 2 s as bags, bag BCE with max "
    "pooling, weight 1, beside the cycle BCE): 56 more patients of another hospital (held-out devices only)",
    "efficientat_frozen_multilabel.yaml",
    (*TRANSFER, "--mil_weight", "1.0", "--mil_pooling", "max"),
    pretrained=True,
    corpora=("kauh",),
)
METHODS["transfer_finetune"] = Method(
    "EfficientAT mn04 fine-tuned (the study's fine-tuning row: 10 epochs, thresholds from validation)",
    "efficientat_frozen_multilabel.yaml",
    FINETUNE,
    pretrained=True,
    drop=("augmented_views",),
)
REFERENCE = "transfer_flagship"
"""What the transfer variants are paired against (``--reference``)."""
LABELS = {
    "all_normal": "all-normal",
    "class_prior": "class prior (expected)",
    "logmel_lr": "logistic regression on log-mel mean/std",
    "efficientat_embedding_lr": "diagnostic: logistic regression on frozen EfficientAT embeddings",
    "efficientat_embedding_lr_oracle": "diagnostic: the same, thresholds tuned on the test fold (a ceiling)",
    **{name: method.label for name, method in METHODS.items()},
}


def recipe_for(name: str, method: Method, work: Path) -> Path:
    """The method's recipe (a copy under ``work`` without the fields it drops)."""
    recipe = ROOT / "recipes" / method.recipe
    if method.drop:
        fields = yaml.safe_load(recipe.read_text())
        recipe = work / "recipes" / f"{name}.yaml"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        recipe.write_text(yaml.safe_dump({k: v for k, v in fields.items() if k not in method.drop}))
    return recipe


def train_options(method: Method, shared: Path, protocol: str, folds: int, encoder: Path) -> tuple[str, ...]:
    """``respira train``'s options (after the recipe) for ``method`` on ``protocol``: its overrides, then
    the study's data options with the method's own low-pass (set here only, so nothing overrides it)."""
    extra = ("--encoder_name_or_path", str(encoder)) if method.pretrained else ()
    if method.corpora:
        folders = {name: str(shared / name) for name in method.corpora}
        extra += ("--corpora", ",".join(("icbhi", *method.corpora)), "--corpus_dirs", json.dumps(folders))
    return (
        *method.overrides, *extra, "--data_dir", str(shared / "icbhi"),
        *protocols.train_options(protocol, folds), "--lowpass_cutoff", f"{method.lowpass:g}",
        "--overwrite", "true", "--logging_steps", "50",
    )  # fmt: skip

"""What the project measured for each option: every recipe field and command option is in
:data:`MEASURED` (its help ends with the verdict against the default and the ``docs/history/`` section
holding the numbers, or "Not measured.") or :data:`MECHANICAL` (paths, outputs, speed, seeds: no verdict).
"""

from __future__ import annotations

from dataclasses import dataclass

VERDICTS: tuple[str, ...] = ("helped", "hurt", "no effect", "mixed")
HISTORY = "docs/history"
NOT_MEASURED = "Not measured."
_MEASURED_PREFIX = "Measured: "


@dataclass(frozen=True)
class Measurement:
    """A verdict, its ``page.md#anchor`` under :data:`HISTORY` and its value (``None``: any non-default)."""

    verdict: str
    section: str
    value: str | None = None


# the history's sections: page and heading anchor (GitHub's) under docs/history/
_IMBALANCE = "in-domain.md#class-imbalance-options-on-real-cycles-studiesimbalancepy"
_EFFICIENTAT_RATE = (
    "in-domain.md#efficientat-at-16-khz-upsampled-against-its-native-32-khz-on-real-cycles-"
    "studiesefficientat_ratepy"
)
_AUGMENTED_CACHE = (
    "speed.md#frozen-efficientat-with-augmentation-re-encoding-every-step-vs-the-augmented-embedding-cache-"
    "benchmarksaugmented_cachepy"
)
_REAL_DATA = (
    "in-domain.md#the-real-data-study-every-method-and-the-baselines-under-one-patient-wise-5-fold-"
    "cv-studiesreal_datapy"
)
_KAUH_EXTERNAL = (
    "new-site.md#external-validation-on-kauh-an-icbhi-trained-detector-per-recording-studieskauh_externalpy"
)
_MULTI_CORPUS = (
    "new-site.md#icbhi--kauh-with-a-multiple-instance-objective-scored-on-held-out-kauh-patients-"
    "studiesmulti_corpuspy"
)
_COMMON_BAND = (
    "new-site.md#the-band-every-stethoscope-records-transfer_common_band-2-khz-low-pass-and-"
    "instance-norm-at-3-seeds-"
    "studiesreal_datapy-studiestransfer_reportpy"
)
_OUT_OF_DOMAIN = (
    "new-site.md#where-the-out-of-domain-score-is-lost-decision-ceilings-linear-probes-and-the-last-"
    "variants-at-3-seeds-"
    "studiestransfer_reportpy-studiestransfer_probepy"
)
_WORST_DEVICE = (
    "new-site.md#the-thresholds-that-do-best-on-their-worst-device-hand-crafted-lung-sound-features-"
    "and-the-crackle-"
    "ranking-inside-one-stethoscope-studiesreal_datapy-studiestransfer_probepy"
)
_OWN_LENGTH = (
    "new-site.md#each-cycle-at-its-own-length-instead-of-repeat-padded-to-8-s-"
    "studiestransfer_probepy-one-more-probe"
)
_LEAVE_ONE_SITE_OUT = (
    "sites.md#leave-one-site-out-learn-from-two-hospitals-score-the-third-studiesleave_one_site_outpy"
)
_LOSO_FINETUNE = (
    "sites.md#the-encoder-fine-tuned-on-two-sites-with-and-without-stethoscope-guided-contrastive-learning-"
    "studiesloso_finetunepy"
)
_EVENT_DETECTION = (
    "events.md#event-detection-frame-posteriors-against-the-window-baseline-on-held-out-patients-"
    "studiesevent_detectionpy"
)
_FRAME_TRAINING = (
    "events.md#frame-level-training-strong-labels-end-to-end-against-clip-training-studiesframe_trainingpy"
)
_FIT_SITE_RULES = "fit-site.md#thresholds-from-the-expected-score-fit-sites-default-rules"
_SHIPPED_83 = "sites.md#the-shipped-detector-issue-83-the-probes-head-on-all-65-icbhi-patients-make-detector"

MEASURED: dict[str, tuple[Measurement, ...]] = {
    # the model
    "encoder": (Measurement("no effect", _REAL_DATA, "efficientat"),),
    "encoder_name_or_path": (),  # every fine-tuning user: which pretrained weights
    "encoder_config": (),  # training an encoder from random init (the seed CNN paper)
    "problem_type": (),  # four classes (the ICBHI score) or crackle/wheeze flags (the detectors)
    "sampling_rate": (Measurement("hurt", _EFFICIENTAT_RATE, "16000 for efficientat"),),
    "target_seconds": (),  # every recipe sets the input length its encoder expects
    "pad_mode": (Measurement("helped", _OWN_LENGTH, "repeat"),),
    "ast_length_policy": (),  # the AST recipes (adapt)
    "spec_augment": (),  # ast_add.yaml, beats_add.yaml (the ADD recipes)
    "pooling": (Measurement("mixed", _FRAME_TRAINING, "autopool"),),
    "head": (),  # one value, linear (mlp hurt: retired); the shipped detector's recipe names it
    "head_dropout": (),  # the shipped detector's recipe (0.3)
    "head_norm": (Measurement("helped", _REAL_DATA),),
    "head_hidden_size": (Measurement("hurt", _OUT_OF_DOMAIN),),  # SG-SCL's layer on a frozen encoder
    "projector_dim": (),  # every auxiliary loss (the seed and peer methods)
    "freeze_encoder": (Measurement("helped", _OUT_OF_DOMAIN),),
    "freeze_feature_encoder": (),  # transformers' meaning: a wav2vec 2.0-family convolutional feature encoder
    "use_weighted_layer_sum": (),  # transformers' own probe of every hidden state (SUPERB)
    "layer": (),  # respira bench: which hidden state the probe reads (auto: inner cross-validation chooses)
    "lora_r": (),  # docs/how-to/lora.md: fine-tuning AST / BEATs where memory is short
    "width": (),
    # the data a model learns from and hears
    "train_fraction": (),  # reproduce-a-paper: the label-fraction table
    "lowpass_cutoff": (  # 4000: the shipped detector's recipe
        Measurement("no effect", _EFFICIENTAT_RATE, "4000"),
        Measurement("hurt", _COMMON_BAND, "2000"),
    ),
    "lowpass_order": (),  # a dataset prepared with another order
    "corpora": (Measurement("mixed", _MULTI_CORPUS, "icbhi,kauh"),),
    "corpus_window_seconds": (),  # corpora: the windows deployment scores
    "corpus_hop_seconds": (),  # corpora: as above
    # training
    "schedule": (Measurement("no effect", _REAL_DATA, "contrastive_two_stage"),),
    "two_stage_rounds": (),  # contrastive_two_stage (seed method)
    "head_epochs": (),  # contrastive_two_stage (seed method)
    "head_learning_rate": (),  # contrastive_two_stage (seed method)
    "aux_loss": (
        Measurement("no effect", _REAL_DATA, "add"),
        Measurement("hurt", _LOSO_FINETUNE, "stethoscope_supcon"),
    ),
    "aux_loss_weight": (),  # every auxiliary loss: its λ
    "task_loss_weight": (),  # metadata_contrastive.yaml: the embedding alone (0)
    "aux_loss_options": (),  # each loss's own options (temperature, positives)
    "aux_input": (),  # ast_add.yaml, beats_add.yaml: ADD on embeddings
    "batch_sampler": (),  # cnn_contrastive.yaml: contrastive_tuple batches (seed method)
    "group_by_key": (),  # threshold_aggregation's domains
    "augmentation": (Measurement("no effect", _REAL_DATA),),  # the shipped detector's recipe
    "concat_same_label": (),  # the shipped detector's recipe
    "concat_classes": (),  # the shipped detector's recipe
    "views": (),  # metadata_contrastive.yaml: two views of each cycle
    "cache_embeddings": (Measurement("no effect", _AUGMENTED_CACHE),),  # speed: the frozen-head benchmark
    "augmented_views": (Measurement("no effect", _AUGMENTED_CACHE),),  # the shipped detector's recipe
    "early_stopping_patience": (),  # the shipped detector's recipe
    "threshold_objective": (Measurement("helped", _IMBALANCE, "0.5"),),
    "threshold_source": (Measurement("helped", _REAL_DATA, "cross_fit"),),
    "threshold_folds": (),  # cross_fit (the shipped detector)
    "threshold_aggregation": (Measurement("mixed", _WORST_DEVICE, "worst_domain"),),
    "mil_weight": (),  # corpora with recording labels
    "num_train_epochs": (),
    "max_steps": (),
    "learning_rate": (),
    "per_device_train_batch_size": (),
    # decisions on a trained model's outputs
    "aggregation": (Measurement("no effect", _KAUH_EXTERNAL, "topk_mean"),),
    "top_k": (),
    "window": (),
    "hop": (),
    "smoothing": (),
    "thresholds": (),
    "events": (Measurement("mixed", _EVENT_DETECTION),),
    "frame_hop": (),
    "apply_anyway": (Measurement("mixed", _LEAVE_ONE_SITE_OUT),),
    "chosen_by": (Measurement("mixed", _SHIPPED_83),),
    "candidates": (),
    "selection": (Measurement("mixed", _FIT_SITE_RULES, "bonferroni"),),
}
"""Each option that changes a model or its results: what the runs measured of it (``()``: nothing)."""

MECHANICAL: frozenset[str] = frozenset(
    (  # noqa: SIM905 (names grouped by kind, with a comment per group)
        # where things are and which data: paths, datasets, columns, Hub repositories
        "annotations archive audio_column audio_column_name cache_dir checkpoint config config_name "
        "corpus_dirs data data_dir dataset dataset_cache_dir dataset_config_name dataset_name family files "
        "label_column_name labels model models patient_pattern recipe repo_id run_dir source split unit "
        # where results go and how they are shown or shipped
        "budget chunk_size format onnx output output_dir record overwrite per_recording plot plot_dir "
        "private push_to_hub site_name revision space web token with_code "
        # where and how fast a run goes, what it logs and saves
        "allowed_host batch_size debug device host max_windows num_proc port resume_from_checkpoint threads "
        # which runs to train and which randomness they draw
        "n_patients seed seeds split_seed "
        # how a run is split and scored: the evaluation protocol
        "bootstrap fold_stratify_by num_folds outer_folds patient_split_fractions split_strategy stratify_by "
        "task validation_size "
        # a benchmark's protocol (respira bench): its tasks, sizes, folds, draws and intervals
        "draws folds resamples sizes suite tasks "
    ).split()
)
"""Options that do not change a model or its results: no verdict in their help."""


def note(name: str) -> str:
    """The last sentence of option ``name``'s help: ``Measured: <verdicts> (docs/history/<page>#<anchor>)``,
    ``Not measured.``, or ``""`` (a :data:`MECHANICAL` or unclassified option)."""
    measurements = MEASURED.get(name)
    if measurements is None:
        return ""
    if not measurements:
        return NOT_MEASURED
    found: dict[str, list[str]] = {}
    for m in measurements:
        found.setdefault(m.section, []).append(m.verdict if m.value is None else f"{m.value}: {m.verdict}")
    parts = [f"{', '.join(verdicts)} ({HISTORY}/{section})" for section, verdicts in found.items()]
    return f"{_MEASURED_PREFIX}{'; '.join(parts)}."


def split_note(text: str) -> tuple[str, str]:
    """``text`` without its trailing :func:`note`, and that note (or ``""``)."""
    if text.endswith(NOT_MEASURED):
        index = len(text) - len(NOT_MEASURED)
    else:
        index = text.rfind(_MEASURED_PREFIX)
        if index < 0 or not text.endswith(".") or f"({HISTORY}/" not in text[index:]:
            return text, ""
    return text[:index].rstrip().rstrip("."), text[index:]


def with_note(name: str, text: str | None) -> str:
    """Help ``text`` of option ``name`` ending with its :func:`note` (once)."""
    text, sentence = (text or "").strip(), note(name)
    if split_note(text)[1] or not sentence:
        return text
    return f"{text.rstrip('.')}. {sentence}" if text else sentence

"""Configuration of respira's audio classifier: featurizer → encoder → pooling → head (+ projector).

The encoder families' classes, registered with transformers' Auto classes on import (in respira and in
the code shipped with a model alike), and one way to register a model folder's classes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from huggingface_hub.dataclasses import strict
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers.configuration_utils import SubConfigSpec

from .audio_decoding import DEFAULT_LOWPASS_ORDER, DEFAULT_SAMPLING_RATE, check_whole
from .configuration_beats import BeatsConfig
from .configuration_cnn import RespiraCNNConfig
from .configuration_efficientat import EfficientATConfig
from .decision import EventSettings, aggregation_of
from .encoders import (
    DEFAULT_ENCODER,
    DEFAULT_ENCODER_MODEL_TYPE,
    encoder_specs,
    featurizer_names,
    find_encoder_spec,
)
from .labels import PROBLEM_TYPES, SINGLE_LABEL, label_names
from .modeling_beats import BeatsForAudioClassification, BeatsModel
from .modeling_cnn import RespiraCNNModel
from .modeling_efficientat import EfficientATForAudioClassification, EfficientATModel
from .windows import DEFAULT_AGGREGATION


def register_model_type(
    config_class: type[PreTrainedConfig],
    model_class: type[PreTrainedModel],
    classification_class: type[PreTrainedModel] | None = None,
    feature_extractor_class: type | None = None,
) -> None:
    """Register the given classes with ``AutoConfig``, ``AutoModel`` and the other Auto classes."""
    # exist_ok: a reloaded module (or a model's shipped copy) brings new class objects, which replace the old
    AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoModel.register(config_class, model_class, exist_ok=True)
    if classification_class is not None:
        AutoModelForAudioClassification.register(config_class, classification_class, exist_ok=True)
    if feature_extractor_class is not None:
        AutoFeatureExtractor.register(config_class, feature_extractor_class, exist_ok=True)


register_model_type(RespiraCNNConfig, RespiraCNNModel)
register_model_type(BeatsConfig, BeatsModel, BeatsForAudioClassification)
register_model_type(EfficientATConfig, EfficientATModel, EfficientATForAudioClassification)


@strict
class RespiraConfig(PreTrainedConfig):
    r"""Everything needed to rebuild a respira classifier, including its fixed-length policy.

    encoder_config (`dict` or `PreTrainedConfig`, *optional*):
        An `ASTConfig`, `BeatsConfig`, `EfficientATConfig` or `RespiraCNNConfig` (default: the CNN), or an
        audio config of transformers: wav2vec 2.0, HuBERT, WavLM, data2vec-audio, UniSpeech(-SAT), SEW,
        Whisper (its encoder) or CLAP's audio tower.
    encoder_name_or_path (`str`, *optional*):
        Hub id or folder the encoder weights came from (for the model card).
    featurizer (`str`, *optional*):
        `"ast_fbank"`, `"beats_fbank"`, `"log_mel"` or `"efficientat_mel"` (an encoder of the Hub:
        `"waveform"`, `"whisper_log_mel"` or `"clap_log_mel"`); default: the encoder's own.
    encoder_feature_extractor (`dict`, *optional*):
        An encoder of the Hub: the settings of its own feature extractor, which the featurizer reproduces
        (`None`: the extractor's defaults).
    sampling_rate (`int`, *optional*):
        Rate of the waveforms `forward` takes; default: the encoder family's (EfficientAT 32000, else 16000).
    lowpass_cutoff (`float`, *optional*), lowpass_order (`int`, defaults to 4):
        The zero-phase Butterworth low-pass (Hz) the training recordings were filtered with; whatever
        feeds the model applies it the same way. `None`: no filter.
    target_seconds (`float`, defaults to 8.0):
        Every cycle is brought to this length before featurization.
    pad_mode (`str`, defaults to `"repeat"`):
        `"repeat"` tiles short cycles (a `fade_seconds` fade at each seam); `"zero"` pads with silence,
        masked out of attention and pooling.
    ast_length_policy (`str`, defaults to `"pad"`):
        AST only: `"pad"` pads the fbank to the checkpoint's `max_length`; `"adapt"` runs on the cycle's
        own frames with position embeddings cropped or interpolated.
    spec_augment (`dict`, *optional*):
        SpecAugment options (`freq_mask_param`, `time_mask_param`, `num_freq_masks`, `num_time_masks`),
        in training mode only.
    pooling (`str`, defaults to `"mean"`):
        `"mean"` over time, `"cls_distill"` (AST's two tokens averaged), or `"autopool"` (auto-pool of
        the head's per-step logits, McFee et al., 2018).
    head, head_dropout (`"linear"`, 0.1):
        The head (dropout → linear) and its dropout.
    head_norm (`bool`, defaults to `False`):
        Standardise each feature of the pooled embedding before the head.
    head_hidden_size (`int`, *optional*):
        A trainable linear → ReLU layer before both the classifier and the projector.
    projector_dim (`int`, *optional*, defaults to 128):
        Size of the L2-normalised projection fed to auxiliary losses; `None` for no projector.
    freeze_encoder (`bool`, defaults to `False`):
        Keep the encoder in eval mode without gradients.
    freeze_feature_encoder (`bool`, defaults to `False`):
        As transformers' wav2vec 2.0-family classifiers: no gradients for the encoder's convolutional feature
        encoder (wav2vec 2.0, HuBERT, WavLM, ... only).
    encoder_layer (`int`, *optional*), use_weighted_layer_sum (`bool`), every_layer (`bool`):
        Which hidden states the tokens are (wav2vec 2.0 family, Whisper, AST): the last (default), hidden
        state `encoder_layer` (0: the embeddings; negative from the end), their softmax-weighted sum with
        learnt weights (as transformers' sequence-classification heads), or all of them side by side
        (`respira bench` probes each).
    decision_thresholds (`list[float]`, *optional*):
        Multi-label models: the (crackle, wheeze) thresholds tuned on validation (default 0.5).
    calibration (`dict`, *optional*):
        Set by `respira fit-site`: what was fitted on which labelled sample.
    recording_aggregation (`str`, defaults to `"max"`), recording_top_k (`int`, *optional*):
        How a recording's window probabilities become its own (`"max"`, `"mean"` or `"topk_mean"` of the
        `recording_top_k` largest).
    event_settings (`dict`, *optional*):
        How frame decisions become events (`EventSettings.to_dict` of `events.py`); `None`: defaults.
    problem_type:
        `"single_label_classification"` (normal / crackle / wheeze / both, the default) or
        `"multi_label_classification"` (crackle, wheeze).
    """

    model_type = "respira"
    keys_to_ignore_at_inference: ClassVar[list[str]] = [
        "embeddings",
        "projections",
        "hidden_states",
        "attentions",
        "frame_logits",
        "frame_mask",
        "frame_times",
    ]
    sub_configs_defaults: ClassVar[dict[str, SubConfigSpec]] = {
        "encoder_config": SubConfigSpec(config_class=AutoConfig, model_type=DEFAULT_ENCODER_MODEL_TYPE),
    }

    encoder_config: dict | PreTrainedConfig | None = None
    encoder_name_or_path: str | None = None
    featurizer: str | None = None
    encoder_feature_extractor: dict | None = None
    sampling_rate: int | None = None
    lowpass_cutoff: float | int | None = None
    lowpass_order: int = DEFAULT_LOWPASS_ORDER
    target_seconds: float | int = 8.0
    pad_mode: str = "repeat"
    fade_seconds: float | int = 0.01
    ast_length_policy: str = "pad"
    spec_augment: dict | None = None
    pooling: str = "mean"
    head: str = "linear"
    head_dropout: float | int = 0.1
    head_norm: bool = False
    head_hidden_size: int | None = None
    projector_dim: int | None = 128
    freeze_encoder: bool = False
    freeze_feature_encoder: bool = False
    encoder_layer: int | None = None
    use_weighted_layer_sum: bool = False
    every_layer: bool = False
    decision_thresholds: list[float] | None = None
    calibration: dict | None = None
    recording_aggregation: str = DEFAULT_AGGREGATION
    recording_top_k: int | None = None
    event_settings: dict | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        kwargs.pop("adaptation", None)  # written by the retired `respira adapt` (null in the shipped configs)
        kwargs.pop("label_priors", None)  # read only by its prior shift (in the shipped configs)
        kwargs.pop("quality", None)  # the retired `respira quality` head's (null in the shipped configs)
        if self.problem_type is None:
            self.problem_type = SINGLE_LABEL
        if self.id2label is None and kwargs.get("num_labels") is None:
            names = label_names(self.problem_type if self.problem_type in PROBLEM_TYPES else None)
            self.id2label = dict(enumerate(names))
            self.label2id = {name: index for index, name in self.id2label.items()}
        super().__post_init__(**kwargs)
        # an encoder without a spec (none of respira's families) takes the default family's featurizer
        spec = find_encoder_spec(self.encoder_config.model_type) or find_encoder_spec(DEFAULT_ENCODER)
        if self.featurizer is None and spec is not None:
            self.featurizer = spec.featurizer
        if self.sampling_rate is None and self.encoder_feature_extractor:
            self.sampling_rate = self.encoder_feature_extractor["sampling_rate"]
        if self.sampling_rate is None:
            self.sampling_rate = spec.sampling_rate if spec is not None else DEFAULT_SAMPLING_RATE

    def validate_architecture(self) -> None:
        choices = {
            "featurizer": featurizer_names(),
            "pooling": ("mean", "cls_distill", "autopool"),
            "head": ("linear",),
            "pad_mode": ("repeat", "zero"),
            "ast_length_policy": ("pad", "adapt"),
            "problem_type": PROBLEM_TYPES,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
        spec = find_encoder_spec(self.encoder_config.model_type)
        if self.pooling == "cls_distill" and not (spec is not None and spec.cls_tokens):
            with_cls = " or ".join(family.display_name for family in encoder_specs() if family.cls_tokens)
            raise ValueError(f"pooling='cls_distill' needs the {with_cls} encoder's CLS tokens; use 'mean'")
        fixed = next((s for s in encoder_specs() if s.fixed_rate and s.featurizer == self.featurizer), None)
        if fixed is not None and self.sampling_rate not in (None, fixed.sampling_rate):
            raise ValueError(
                f"the {self.featurizer} featurizer takes {fixed.sampling_rate} Hz audio, not "
                f"sampling_rate={self.sampling_rate}: resample the audio instead"
            )
        if self.lowpass_cutoff is not None and not 0 < self.lowpass_cutoff < self.sampling_rate / 2:
            raise ValueError(
                f"lowpass_cutoff={self.lowpass_cutoff} Hz must lie between 0 and the Nyquist frequency "
                f"{self.sampling_rate / 2} Hz of sampling_rate {self.sampling_rate}"
            )
        check_whole(self.lowpass_order, "lowpass_order")
        if self.head_hidden_size is not None:
            check_whole(self.head_hidden_size, "head_hidden_size")
        if self.target_seconds <= 0:
            raise ValueError(f"target_seconds must be positive, got {self.target_seconds}")
        aggregation_of(self)  # checks recording_aggregation and recording_top_k
        self._check_layers(spec)
        if self.event_settings is not None:  # as events.EventSettings reads them
            EventSettings.from_dict(self.event_settings)

    def _check_layers(self, spec: Any) -> None:
        """``freeze_feature_encoder`` and the layer options: on an encoder that has what they read."""
        name = spec.display_name if spec is not None else self.encoder_config.model_type
        if self.freeze_feature_encoder and not (spec is not None and spec.featurizer == "waveform"):
            raise ValueError(
                "freeze_feature_encoder freezes a wav2vec 2.0-family encoder's convolutional feature "
                f"encoder (as transformers' run_audio_classification.py); the {name} encoder has none: "
                "freeze_encoder trains the head only"
            )
        chosen = [n for n in ("encoder_layer", "use_weighted_layer_sum", "every_layer") if getattr(self, n)]
        if self.encoder_layer == 0 and "encoder_layer" not in chosen:
            chosen.insert(0, "encoder_layer")
        if not chosen:
            return
        if spec is None or spec.hidden_states is None:
            raise ValueError(
                f"{chosen[0]} reads an encoder's hidden states of one size (wav2vec 2.0 family, Whisper, "
                f"AST); the {name} encoder's are not"
            )
        if len(chosen) > 1:
            raise ValueError(f"{chosen[0]} and {chosen[1]} exclude each other: choose one")
        count = spec.hidden_states(self.encoder_config)
        if self.encoder_layer is not None and not -count <= self.encoder_layer < count:
            raise ValueError(
                f"encoder_layer={self.encoder_layer}: the encoder has hidden states 0 .. {count - 1}"
            )

    @property
    def target_samples(self) -> int:
        return round(self.target_seconds * self.sampling_rate)

    @property
    def hidden_size(self) -> int:
        """The pooled embedding's size (``every_layer``: each hidden state's side by side)."""
        if self.every_layer:
            spec = find_encoder_spec(self.encoder_config.model_type)
            return spec.hidden_states(self.encoder_config) * self.encoder_config.hidden_size
        return self.encoder_config.hidden_size

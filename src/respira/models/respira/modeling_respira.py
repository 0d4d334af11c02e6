"""respira's audio classifier: featurizer → encoder → pooling → head (+ projector for auxiliary losses)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.models.auto.modeling_auto import MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from .configuration_respira import RespiraConfig
from .encoders import (
    check_encoder_checkpoint,
    checkpoint_sampling_rate,
    find_encoder_spec,
    get_encoder_spec,
    step_centres,
)
from .featurizer import RespiraFeaturizer, prepare_waveforms
from .hub_encoders import load_hub_encoder
from .labels import MULTI_LABEL, classes_to_flags
from .spectrum import DerivedBuffers


@dataclass
class RespiraModelOutput(ModelOutput):
    """Pooled ``embeddings``, encoder ``tokens`` and their mask; with ``output_time_steps=True`` the
    tokens as time steps, their mask and ``step_times`` (seconds, step centres)."""

    embeddings: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    token_mask: torch.Tensor | None = None
    step_tokens: torch.Tensor | None = None
    step_mask: torch.Tensor | None = None
    step_times: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class RespiraClassifierOutput(ModelOutput):
    """``loss``, ``logits``, pooled ``embeddings`` and L2-normalised ``projections``; with
    ``output_frames=True`` the head's ``frame_logits`` on the encoder's time steps, their mask and times."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None
    projections: torch.Tensor | None = None
    frame_logits: torch.Tensor | None = None
    frame_mask: torch.Tensor | None = None
    frame_times: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def auto_pool(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Step logits ``[batch, steps, labels]`` → clip logits: the logit of ``Σ_t w_t σ(z_t)``, ``w =
    softmax(z)`` over the real steps (auto-pool with α = 1, McFee et al., 2018)."""
    scores = logits.float().masked_fill(~mask.unsqueeze(-1), -torch.inf)
    weights = scores.softmax(dim=1)
    probability = (weights * torch.sigmoid(logits.float())).sum(dim=1).clamp(1e-6, 1 - 1e-6)
    return (torch.log(probability) - torch.log1p(-probability)).to(logits.dtype)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class RespiraPreTrainedModel(PreTrainedModel):
    config: RespiraConfig
    config_class = RespiraConfig
    base_model_prefix = "respira"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = True  # per instance: the encoder's

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, DerivedBuffers):
            module.reset_buffers()
        elif isinstance(module, EmbeddingStandardizer):
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif getattr(module, "layer_weights", None) is not None:
            init.constant_(module.layer_weights, 1.0 / module.layer_weights.numel())


class RespiraModel(RespiraPreTrainedModel):
    """Featurizer, encoder and pooling: waveforms in, pooled embeddings out."""

    def __init__(self, config: RespiraConfig) -> None:
        super().__init__(config)
        spec = get_encoder_spec(config.encoder_config.model_type)
        self.featurizer = RespiraFeaturizer(config)
        if spec.fit_config_to_frames is not None and config.ast_length_policy == "adapt":
            spec.fit_config_to_frames(
                config.encoder_config, self.featurizer.transform.frames_for(config.target_samples)
            )
        self.encoder_spec = spec
        build_encoder = spec.build_encoder or AutoModel.from_config
        self.encoder = build_encoder(config.encoder_config)
        self.supports_gradient_checkpointing = self.encoder.supports_gradient_checkpointing
        self.reads_layers = (
            config.encoder_layer is not None or config.use_weighted_layer_sum or config.every_layer
        )
        self.layer_weights = None
        if config.use_weighted_layer_sum:  # transformers' wav2vec 2.0-family classifiers' layer weights
            count = spec.hidden_states(config.encoder_config)
            self.layer_weights = nn.Parameter(torch.ones(count) / count)
        if config.freeze_encoder:
            self.encoder.requires_grad_(False)
        elif config.freeze_feature_encoder:
            self.encoder.feature_extractor._freeze_parameters()
        self.post_init()

    def train(self, mode: bool = True) -> RespiraModel:
        if self.config.freeze_encoder and all(
            module.training == (mode and not (name == "encoder" or name.startswith("encoder.")))
            for name, module in self.named_modules()
        ):
            return self  # the Trainer calls train() every step
        super().train(mode)
        if self.config.freeze_encoder:
            self.encoder.eval()
        return self

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        sampling_rate: int | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        output_time_steps: bool = False,
        **kwargs: Any,
    ) -> RespiraModelOutput:
        """Waveforms → pooled embeddings; ``output_time_steps``: the tokens as time steps too."""
        waveforms, lengths = prepare_waveforms(
            input_values, attention_mask, sampling_rate, self.config.sampling_rate
        )
        features, frame_mask = self.featurizer(waveforms, lengths)
        features = features.to(self.encoder.dtype)
        encoder_kwargs = {
            "output_hidden_states": output_hidden_states or self.reads_layers,
            "return_dict": True,
        }
        if output_attentions:
            encoder_kwargs["output_attentions"] = True
        encoded = self.encoder_spec.encode(self, features, frame_mask, **encoder_kwargs)
        tokens, token_mask, summary, output = encoded
        steps = step_times = None
        if output_time_steps:
            steps = self.encoder_spec.time_steps(self, encoded, features.shape[1])
            step_times = step_centres(steps, *self.featurizer.transform.frame_timing)
        embeddings = summary if self.config.pooling == "cls_distill" else masked_mean(tokens, token_mask)
        return RespiraModelOutput(
            embeddings=embeddings,
            tokens=tokens,
            token_mask=token_mask,
            step_tokens=steps.tokens if steps is not None else None,
            step_mask=steps.mask if steps is not None else None,
            step_times=step_times,
            hidden_states=getattr(output, "hidden_states", None),
            attentions=getattr(output, "attentions", None),
        )


class EmbeddingStandardizer(nn.BatchNorm1d):
    """Per-feature standardisation of pooled embeddings before the head (``config.head_norm``), no affine
    parameters; ``cumulative`` (frozen encoder): running statistics averaged over every batch."""

    def __init__(self, num_features: int, *, cumulative: bool = True) -> None:
        super().__init__(num_features, affine=False, momentum=None if cumulative else 0.1)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        if self.training and embeddings.shape[0] < 2:
            return self.with_running_statistics(embeddings)
        return super().forward(embeddings)

    def with_running_statistics(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Standardised by the running statistics, left unchanged."""
        return nn.functional.batch_norm(
            embeddings, self.running_mean, self.running_var, training=False, eps=self.eps
        )


class RespiraForAudioClassification(RespiraPreTrainedModel):
    """Waveforms ``[batch, samples]`` (or pooled ``embeddings=``, to train the head alone) → logits over
    ICBHI classes (or crackle/wheeze), plus embeddings and projections.

    ``labels``: class indices, class probabilities (mixup), or ``[batch, 2]`` flags.
    """

    def __init__(self, config: RespiraConfig) -> None:
        super().__init__(config)
        self.respira = RespiraModel(config)
        hidden = config.hidden_size
        self.head_norm = (
            EmbeddingStandardizer(hidden, cumulative=config.freeze_encoder) if config.head_norm else None
        )
        self.head_trunk = None
        if config.head_hidden_size:  # shared by the classifier and the projector
            self.head_trunk = nn.Sequential(nn.Linear(hidden, config.head_hidden_size), nn.ReLU())
            hidden = config.head_hidden_size
        self.classifier = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(hidden, config.num_labels))
        self.projector = None
        if config.projector_dim:
            self.projector = nn.Sequential(
                nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, config.projector_dim)
            )
        self.supports_gradient_checkpointing = self.respira.supports_gradient_checkpointing
        self.post_init()

    @classmethod
    def from_encoder_pretrained(
        cls, encoder_name_or_path: str, **config_kwargs: Any
    ) -> RespiraForAudioClassification:
        """A new classifier whose encoder starts from a pretrained checkpoint (Hub id or folder)."""
        source = str(encoder_name_or_path)
        checkpoint = AutoConfig.from_pretrained(source)
        found = find_encoder_spec(checkpoint.model_type)
        rate = config_kwargs.get("sampling_rate")
        if rate is None and found is not None and found.featurizer_from_config is None:
            rate = config_kwargs["sampling_rate"] = checkpoint_sampling_rate(source, found)
        extractor = check_encoder_checkpoint(source, rate, config=checkpoint)
        if extractor is not None:  # an encoder of the Hub's: its featurizer checked before any weights load
            config_kwargs.setdefault("encoder_feature_extractor", extractor)
            own = getattr(checkpoint, "audio_config", checkpoint)  # CLAP: its audio tower's
            found.featurizer_from_config(RespiraConfig(encoder_config=own.to_dict(), **config_kwargs))
        # the encoder without the checkpoint's task head
        head_class = MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING.get(type(checkpoint), None)
        if found is not None and found.build_encoder is not None:  # a part of its checkpoint's model
            encoder = load_hub_encoder(source, checkpoint)
        elif head_class is not None and head_class.__name__ in (checkpoint.architectures or ()):
            encoder = head_class.from_pretrained(source, config=checkpoint).base_model
        else:
            encoder = AutoModel.from_pretrained(source, config=checkpoint)
        if isinstance(encoder, RespiraModel):  # a respira run: continue from its (e.g. pre-trained) encoder
            encoder = encoder.encoder
        config = RespiraConfig(
            encoder_config=encoder.config.to_dict(),
            encoder_name_or_path=str(encoder_name_or_path),
            **config_kwargs,
        )
        spec = get_encoder_spec(config.encoder_config.model_type)
        if spec.fit_encoder_to_frames is not None and config.ast_length_policy == "adapt":
            frames = int(RespiraFeaturizer(config).transform.frames_for(torch.tensor(config.target_samples)))
            encoder = spec.fit_encoder_to_frames(encoder, frames)
            config.encoder_config = encoder.config
        model = cls(config)
        model.respira.encoder.load_state_dict(encoder.state_dict())
        return model

    def freeze_encoder(self, frozen: bool = True) -> None:
        """Freeze the encoder (eval mode, no gradients), or with ``frozen=False`` let it train again;
        recorded in the config."""
        self.config.freeze_encoder = self.respira.config.freeze_encoder = frozen
        self.respira.encoder.requires_grad_(not frozen)
        self.train(self.training)

    def _head(self, embeddings: torch.Tensor, *, steps: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(the features the classifier reads, its logits); ``steps`` never update ``head_norm``."""
        features = embeddings
        if self.head_norm is not None:
            standardize = self.head_norm.with_running_statistics if steps else self.head_norm
            features = standardize(embeddings)
        if self.head_trunk is not None:
            features = self.head_trunk(features)
        return features, self.classifier(features)

    def compute_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config.problem_type == MULTI_LABEL:
            if labels.dim() == 1:  # class indices → (crackle, wheeze) flags, unchecked (no device sync)
                labels = classes_to_flags(labels)
            return nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        if labels.dim() == 2:  # soft labels (mixup)
            return nn.functional.cross_entropy(logits, labels.to(logits.dtype))
        return nn.functional.cross_entropy(logits, labels.long())

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        embeddings: torch.Tensor | None = None,
        sampling_rate: int | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        output_frames: bool = False,
        **kwargs: Any,
    ) -> RespiraClassifierOutput:
        """Logits (+ loss with ``labels``), embeddings and projections; ``output_frames``: the head applied
        to each of the encoder's time steps as well (waveform inputs only)."""
        hidden_states = attentions = output = None
        autopool = self.config.pooling == "autopool"
        if embeddings is None:
            if input_values is None:
                raise ValueError(
                    "pass input_values (waveforms) or embeddings (precomputed with embed_waveforms)"
                )
            output = self.respira(
                input_values,
                attention_mask=attention_mask,
                sampling_rate=sampling_rate,
                output_hidden_states=output_hidden_states,
                output_attentions=output_attentions,
                output_time_steps=output_frames or autopool,
                return_dict=True,
            )
            embeddings, hidden_states, attentions = output.embeddings, output.hidden_states, output.attentions
        elif output_frames or autopool:
            needs = "output_frames" if output_frames else "pooling='autopool'"
            raise ValueError(f"{needs} needs input_values: pooled embeddings have no time steps")
        else:
            embeddings = embeddings.to(self.dtype)  # cached in float32, for a head that may be bf16
        features, logits = self._head(embeddings)
        frame_logits = None
        if output_frames or autopool:
            steps = output.step_tokens
            frame_logits = self._head(steps.flatten(0, 1), steps=True)[1]
            frame_logits = frame_logits.unflatten(0, steps.shape[:2])
            if autopool:
                logits = auto_pool(frame_logits, output.step_mask)
            if not output_frames:
                frame_logits = None
        projections = None
        if self.projector is not None:
            shared = features if self.head_trunk is not None else embeddings
            projections = nn.functional.normalize(self.projector(shared), dim=-1)
        loss = self.compute_loss(logits, labels) if labels is not None else None
        return RespiraClassifierOutput(
            loss=loss,
            logits=logits,
            embeddings=embeddings,
            projections=projections,
            frame_logits=frame_logits,
            frame_mask=output.step_mask if frame_logits is not None else None,
            frame_times=output.step_times if frame_logits is not None else None,
            hidden_states=hidden_states,
            attentions=attentions,
        )


def build_model(
    encoder: str, *, encoder_config: dict[str, Any] | None = None, **config_kwargs: Any
) -> RespiraForAudioClassification:
    """A new classifier (random head) around ``encoder``: a family name (``"cnn"``, ``"wav2vec2"``, ...:
    randomly initialised, ``encoder_config`` overriding its config's defaults) or a Hub id or folder
    (pretrained: respira's four families, a respira run, or a transformers audio model: wav2vec 2.0, HuBERT,
    WavLM, data2vec-audio, UniSpeech(-SAT), SEW, AST, Whisper, CLAP, with its own feature extractor).
    ``config_kwargs`` are :class:`RespiraConfig` options, e.g. ``freeze_encoder=True`` to embed."""
    spec = find_encoder_spec(encoder)
    if spec is not None and spec.name == encoder:
        encoder_options = {**(encoder_config or {}), "model_type": spec.model_type}
        return RespiraForAudioClassification(RespiraConfig(encoder_config=encoder_options, **config_kwargs))
    return RespiraForAudioClassification.from_encoder_pretrained(encoder, **config_kwargs)

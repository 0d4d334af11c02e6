"""The encoder registry (respira.models.respira.encoders) and the one Auto-registration helper."""

from __future__ import annotations

import logging

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.lora import add_lora
from respira.models.respira.configuration_respira import register_model_type
from respira.models.respira.encoders import (
    encoder_names,
    encoder_specs,
    featurizer_names,
    find_encoder_spec,
    get_encoder_spec,
)
from respira.models.respira.filterbanks import AST_NORMALIZATION, BEATS_NORMALIZATION

RATE = 16000
TINY: dict[str, dict] = {  # small random encoders of each family
    "cnn": {"channels": [4, 8, 8, 16]},
    "ast": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_length": 100,
    },
    "beats": {
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 4,
        "intermediate_size": 48,
        "patch_embedding_dim": 24,
        "conv_pos": 8,
        "conv_pos_groups": 4,
        "num_buckets": 32,
        "max_distance": 64,
    },
    "efficientat": {},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(name: str, **kwargs) -> RespiraForAudioClassification:
    spec = get_encoder_spec(name)
    torch.manual_seed(0)
    config = RespiraConfig(encoder_config={"model_type": spec.model_type, **TINY[name]}, **kwargs)
    return RespiraForAudioClassification(config).eval()


def test_the_families_are_registered_by_recipe_name() -> None:
    hub = (
        "wav2vec2",
        "hubert",
        "wavlm",
        "data2vec-audio",
        "unispeech",
        "unispeech-sat",
        "sew",
        "whisper",
        "clap",
    )
    assert encoder_names() == ("cnn", "ast", "beats", "efficientat", *hub)
    assert [spec.name for spec in encoder_specs()] == list(encoder_names())
    assert len({spec.model_type for spec in encoder_specs()}) == len(encoder_names())
    assert featurizer_names() == (
        *("log_mel", "ast_fbank", "beats_fbank", "efficientat_mel"),
        *("waveform", "whisper_log_mel", "clap_log_mel"),
    )


@pytest.mark.parametrize("name", ["cnn", "ast", "beats", "efficientat"])
def test_spec_found_by_recipe_name_and_model_type(name: str) -> None:
    spec = get_encoder_spec(name)
    assert spec.name == name
    assert get_encoder_spec(spec.model_type) is spec
    assert find_encoder_spec(spec.model_type) is spec
    # the featurizer a config names finds its family (RespiraFeaturizer's lookup)
    assert [other.name for other in encoder_specs() if other.featurizer == spec.featurizer] == [name]
    # the model type is one the Auto classes know (the model folders register theirs)
    assert AutoConfig.for_model(spec.model_type).model_type == spec.model_type


def test_known_model_types() -> None:
    assert get_encoder_spec("ast").model_type == "audio-spectrogram-transformer"
    assert get_encoder_spec("cnn").model_type == "respira_cnn"
    assert get_encoder_spec("ast").default_checkpoint == "MIT/ast-finetuned-audioset-10-10-0.4593"
    assert all(get_encoder_spec(name).default_checkpoint is None for name in ("cnn", "beats", "efficientat"))


def test_unknown_encoder_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'bert': expected one of cnn, ast, beats, efficientat"):
        get_encoder_spec("bert")
    assert find_encoder_spec("bert") is None and find_encoder_spec(None) is None
    with pytest.raises(
        StrictDataclassClassValidationError, match="featurizer='mfcc' is not one of log_mel, ast_fbank"
    ):
        RespiraConfig(featurizer="mfcc")


@pytest.mark.parametrize("name", ["cnn", "ast", "beats", "efficientat"])
def test_each_family_builds_with_its_featurizer_and_encodes(name: str) -> None:
    spec = get_encoder_spec(name)
    model = tiny_model(name, target_seconds=1.0, pad_mode="zero")
    assert model.config.featurizer == spec.featurizer
    featurizer = model.respira.featurizer
    if name == "ast":
        assert featurizer.transform.normalization == AST_NORMALIZATION
    elif name == "beats":
        assert featurizer.transform.normalization == BEATS_NORMALIZATION
    rate = model.config.sampling_rate
    waves = 0.1 * torch.randn(2, rate, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, rate, dtype=torch.long)
    mask[1, rate // 4 :] = 0  # the second cycle is a quarter of the first
    with torch.no_grad():
        features, frame_mask = featurizer(waves, mask.sum(dim=1))
        assert features.shape[-1] == getattr(model.config.encoder_config, "num_mel_bins", 128)
        tokens, token_mask, summary, _ = spec.encode(model.respira, features, frame_mask)
        output = model(waves, attention_mask=mask)
    assert tokens.shape[:2] == token_mask.shape and tokens.shape[-1] == model.config.hidden_size
    assert token_mask[0].all() and 0 < token_mask[1].sum() < token_mask[0].sum()
    assert (summary is not None) == spec.cls_tokens
    assert output.logits.shape == (2, 4) and torch.isfinite(output.logits).all()


def test_cls_pooling_only_for_families_with_cls_tokens() -> None:
    assert [spec.name for spec in encoder_specs() if spec.cls_tokens] == ["ast"]
    with pytest.raises(StrictDataclassClassValidationError, match="needs the AST encoder's CLS tokens"):
        tiny_model("beats", pooling="cls_distill")


def test_ast_adapt_sizes_the_encoder_to_the_cycle() -> None:
    model = tiny_model("ast", target_seconds=1.0, ast_length_policy="adapt")
    assert model.config.encoder_config.max_length == (RATE - 400) // 160 + 1  # the fbank frames of 1 s
    padded = tiny_model("ast", target_seconds=1.0, ast_length_policy="pad")
    assert padded.config.encoder_config.max_length == 100


@pytest.mark.parametrize("name", ["cnn", "ast", "beats", "efficientat"])
def test_lora_targets_exist_exactly_where_declared(name: str) -> None:
    spec = get_encoder_spec(name)
    model = tiny_model(name, target_seconds=1.0)
    leaves = {module_name.rsplit(".", 1)[-1] for module_name, _ in model.respira.encoder.named_modules()}
    if spec.lora_targets:
        assert set(spec.lora_targets) <= leaves
        adapted = add_lora(model, r=2, alpha=4)
        assert any("lora_A" in parameter for parameter, _ in adapted.named_parameters())
    else:
        assert not {"q_proj", "v_proj"} & leaves
        with pytest.raises(
            ValueError, match=r"no \['q_proj', 'query', 'v_proj', 'value'\] modules.*\(AST, BEATs, "
        ):
            add_lora(model)


def test_patch_embeddings_of_ast_are_the_mixed_patches() -> None:
    assert [spec.name for spec in encoder_specs() if spec.patch_embeddings] == ["ast"]
    model = tiny_model("ast", target_seconds=1.0, ast_length_policy="adapt")
    module, num_patches = get_encoder_spec("ast").patch_embeddings(model.respira.encoder)
    seen: list[torch.Size] = []
    module.register_forward_hook(lambda _module, _args, output: seen.append(output.shape))
    with torch.no_grad():
        model(torch.randn(2, RATE) * 0.1)
    assert seen == [torch.Size([2, num_patches, model.config.hidden_size])]


# ---------------------------------------------------------------------------------------------- registration


def _config_class(module: str) -> type[PreTrainedConfig]:
    class RegistrationTestConfig(PreTrainedConfig):
        model_type = "respira_registration_test"

    RegistrationTestConfig.__module__ = module
    return RegistrationTestConfig


def _model_class(config_class: type[PreTrainedConfig]) -> type[PreTrainedModel]:
    class RegistrationTestModel(PreTrainedModel):
        config_class = None

    RegistrationTestModel.config_class = config_class
    return RegistrationTestModel


def test_register_again_is_harmless(caplog) -> None:
    first = _config_class("respira.models.registration_test")
    register_model_type(first, _model_class(first))
    assert CONFIG_MAPPING["respira_registration_test"] is first
    reloaded = _config_class("respira.models.registration_test")  # a reloaded module: new class objects
    reloaded_model = _model_class(reloaded)
    with caplog.at_level(logging.WARNING, logger="respira.models.respira.configuration_respira"):
        register_model_type(reloaded, reloaded_model)
        register_model_type(reloaded, reloaded_model)
    assert not caplog.records
    assert CONFIG_MAPPING["respira_registration_test"] is reloaded
    assert AutoModel._model_mapping[reloaded] is reloaded_model


def test_the_default_encoders_model_type_is_named_without_its_spec() -> None:
    from respira.models.respira.encoders import DEFAULT_ENCODER, DEFAULT_ENCODER_MODEL_TYPE

    assert get_encoder_spec(DEFAULT_ENCODER).model_type == DEFAULT_ENCODER_MODEL_TYPE
    assert RespiraConfig().encoder_config.model_type == DEFAULT_ENCODER_MODEL_TYPE
    assert RespiraConfig().featurizer == get_encoder_spec(DEFAULT_ENCODER).featurizer

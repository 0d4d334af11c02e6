"""Encoders of the Hub: respira's featurizer and encoder call give the hidden states of the family's own
transformers forward on its own feature extractor's output; Hub folders load with their extractor; bad
folders are refused in one line before any weights load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from respira.models import build_model
from respira.models.respira.hub_encoders import WAVEFORM_MODEL_TYPES, feature_extractor_settings

from .encoder_tester import CASES, RATE, tiny_clap_audio_options, tiny_extractor, tiny_whisper_config

HUB = (*WAVEFORM_MODEL_TYPES, "whisper", "clap")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _wave(seconds: float) -> np.ndarray:
    return (0.1 * np.random.default_rng(1).standard_normal(int(seconds * RATE))).astype(np.float32)


@pytest.mark.parametrize("name", HUB)
def test_hidden_states_are_the_familys_own_forward_on_its_extractors_features(name: str) -> None:
    """A 0.6 s wave zero-padded to the model's 1 s: the extractor's features (padded as respira pads)
    through the encoder itself give respira's tokens; the padding is masked out of pooling."""
    model = CASES[name].model(pad_mode="zero")
    model_type = model.config.encoder_config.model_type
    extractor, wave = tiny_extractor(model_type), _wave(0.6)
    encoder = model.respira.encoder
    with torch.no_grad():
        ours = model.respira(torch.from_numpy(wave)[None], return_dict=True)
        if model_type == "clap_audio_model":
            inputs = extractor(wave, sampling_rate=RATE, return_tensors="pt")
            theirs = encoder(input_features=inputs["input_features"], is_longer=inputs["is_longer"] * False)
            torch.testing.assert_close(ours.embeddings, theirs.pooler_output, atol=2e-5, rtol=1e-4)
            return
        if model_type == "whisper":
            inputs = extractor(wave, sampling_rate=RATE, return_tensors="pt")
        else:
            inputs = extractor(
                wave, sampling_rate=RATE, return_tensors="pt", padding="max_length", max_length=RATE
            )
        theirs = encoder(**inputs).last_hidden_state
    torch.testing.assert_close(ours.tokens, theirs, atol=2e-5, rtol=1e-4)
    real = int(ours.token_mask.sum())
    assert 0 < real < ours.tokens.shape[1]
    torch.testing.assert_close(ours.embeddings, theirs[:, :real].mean(dim=1), atol=2e-5, rtol=1e-4)


def test_a_waveform_model_without_attention_masks_is_normalised_over_its_padded_row() -> None:
    """``return_attention_mask=False`` (wav2vec 2.0 base): zeros padded, the whole row normalised, no mask."""
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False)
    settings = feature_extractor_settings(extractor, "wav2vec2", "tiny")
    model = CASES["wav2vec2"].model(pad_mode="zero", encoder_feature_extractor=settings)
    wave = _wave(0.6)
    with torch.no_grad():
        ours = model.respira(torch.from_numpy(wave)[None], return_dict=True).tokens
        inputs = extractor(
            wave, sampling_rate=RATE, return_tensors="pt", padding="max_length", max_length=RATE
        )
        assert "attention_mask" not in inputs
        torch.testing.assert_close(
            ours, model.respira.encoder(**inputs).last_hidden_state, atol=2e-5, rtol=1e-4
        )


# ---------------------------------------------------------------------------------------------- Hub folders


@pytest.fixture(scope="session")
def hub_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random checkpoints as the Hub holds them (whole models, with their feature extractors)."""
    root = tmp_path_factory.mktemp("hub")
    torch.manual_seed(0)
    names = ("hubert", "whisper", "clap", "ast", "bert", "stereo", "ast_8k", "ast_speech")
    folders = {name: root / name for name in names}
    transformers.HubertModel(CASES["hubert"].encoder_config()).save_pretrained(folders["hubert"])
    tiny_extractor("hubert").save_pretrained(folders["hubert"])
    transformers.WhisperModel(tiny_whisper_config()).save_pretrained(folders["whisper"])
    tiny_extractor("whisper").save_pretrained(folders["whisper"])
    text = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    clap = transformers.ClapConfig(
        audio_config=tiny_clap_audio_options(),
        text_config={**text, "intermediate_size": 20, "max_position_embeddings": 40},
        projection_dim=16,
    )
    transformers.ClapModel(clap).save_pretrained(folders["clap"])
    tiny_extractor("clap_audio_model").save_pretrained(folders["clap"])
    ast = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}
    transformers.ASTModel(transformers.ASTConfig(**ast, num_mel_bins=32, max_length=64)).save_pretrained(
        folders["ast"]
    )
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(folders["ast"])
    for name, extractor in (("ast_8k", {"sampling_rate": 8000}), ("ast_speech", {"mean": -6.8, "std": 5.5})):
        transformers.ASTConfig(**ast, num_mel_bins=32, max_length=64).save_pretrained(folders[name])
        transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64, **extractor).save_pretrained(
            folders[name]
        )
    transformers.BertConfig(**text, intermediate_size=20).save_pretrained(folders["bert"])
    CASES["hubert"].encoder_config().save_pretrained(folders["stereo"])
    transformers.Wav2Vec2FeatureExtractor(feature_size=2).save_pretrained(folders["stereo"])
    return folders


@pytest.mark.parametrize("name", ["hubert", "whisper", "clap"])
def test_a_hub_folder_loads_its_weights_and_its_feature_extractor(
    name: str, hub_folders: dict[str, Path]
) -> None:
    model = build_model(str(hub_folders[name]), target_seconds=1.0, sampling_rate=RATE)
    assert model.config.encoder_name_or_path == str(hub_folders[name])
    extractor = transformers.AutoFeatureExtractor.from_pretrained(hub_folders[name])
    model_type = model.config.encoder_config.model_type
    assert model.config.encoder_feature_extractor == feature_extractor_settings(extractor, model_type, "")
    whole = transformers.AutoModel.from_pretrained(hub_folders[name])
    own = whole.get_encoder() if name == "whisper" else getattr(whole, "audio_model", whole)
    for key, value in own.state_dict().items():
        torch.testing.assert_close(model.respira.encoder.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_a_family_name_builds_a_random_encoder() -> None:
    tiny = CASES["hubert"].encoder_config().to_dict()
    model = build_model("hubert", encoder_config=tiny, target_seconds=1.0, freeze_encoder=True)
    assert model.config.encoder_config.model_type == "hubert" and model.config.featurizer == "waveform"
    assert not any(p.requires_grad for p in model.respira.encoder.parameters())


def test_bad_hub_folders_are_one_line_each(hub_folders: dict[str, Path]) -> None:
    for folder, message in (
        (hub_folders["bert"], r"is a bert model, not an audio encoder respira takes: expected one of "),
        (hub_folders["stereo"], r"takes 2 channels per sample; respira feeds mono waveforms"),
        (
            hub_folders["ast_8k"],
            r"ast_8k: its feature extractor takes 8000 Hz audio, not sampling_rate=16000",
        ),
        (hub_folders["ast_speech"], r"ast_speech: its feature extractor normalises the fbank by mean -6.8"),
    ):
        with pytest.raises(ValueError, match=message) as error:
            build_model(str(folder))
        assert "\n" not in str(error.value)
    with pytest.raises(
        ValueError, match=r"takes 16000 Hz audio, not sampling_rate=8000: set sampling_rate"
    ) as error:
        build_model(str(hub_folders["clap"]), target_seconds=1.0, sampling_rate=8000)
    tiny = CASES["hubert"].encoder_config().to_dict()  # a random encoder: its family's extractor's rate
    with pytest.raises(ValueError, match=r"^the hubert encoder: its feature extractor takes 16000 Hz audio"):
        build_model("hubert", encoder_config=tiny, sampling_rate=8000)
    with pytest.raises(
        ValueError, match=r"target_seconds=2.0 is longer than the 1 s Whisper's encoder takes"
    ):
        build_model(str(hub_folders["whisper"]), target_seconds=2.0)


def test_an_ast_folder_is_the_ast_family_and_agrees_with_its_own_forward(
    hub_folders: dict[str, Path],
) -> None:
    model = build_model(str(hub_folders["ast"]), target_seconds=0.6).eval()
    assert model.config.featurizer == "ast_fbank" and model.config.encoder_feature_extractor is None
    wave = _wave(0.6)
    extractor = transformers.ASTFeatureExtractor.from_pretrained(hub_folders["ast"])
    with torch.no_grad():
        ours = model.respira(torch.from_numpy(wave)[None], return_dict=True).tokens
        own = transformers.ASTModel.from_pretrained(hub_folders["ast"]).eval()
        theirs = own(**extractor(wave, sampling_rate=RATE, return_tensors="pt")).last_hidden_state[:, 2:]
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["hubert", "whisper", "clap"])
def test_lora_adapts_a_hub_encoders_attention(name: str) -> None:
    pytest.importorskip("peft")
    from respira.models.lora import add_lora

    adapted = add_lora(CASES[name].model(), r=2, alpha=4)
    names = [parameter for parameter, _ in adapted.named_parameters() if "lora_A" in parameter]
    assert names and all(".encoder." in parameter for parameter in names)

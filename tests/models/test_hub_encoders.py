"""Encoders of the Hub: respira's featurizer and encoder call give the hidden states of the family's own
transformers forward on its own feature extractor's output; Hub folders load with their extractor; bad
folders are refused in one line before any weights load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError

from respira.models import RespiraForAudioClassification, build_model
from respira.models.respira.hub_encoders import WAVEFORM_MODEL_TYPES, feature_extractor_settings

from .encoder_tester import (
    CASES,
    RATE,
    assert_saved_weights,
    randomise_initial_constants,
    tiny_clap_audio_options,
    tiny_extractor,
    tiny_whisper_config,
    waveforms,
)

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
    names = (
        "hubert",
        "wav2vec2",
        "wavlm",
        "whisper",
        "clap",
        "clap_tower",
        "ast",
        "bert",
        "stereo",
        "ast_8k",
    )
    folders = {name: root / name for name in (*names, "ast_speech")}
    for name in ("hubert", "wav2vec2", "wavlm"):
        model = transformers.AutoModel.from_config(CASES[name].encoder_config())
        randomise_initial_constants(model)
        model.save_pretrained(folders[name])
        tiny_extractor(name).save_pretrained(folders[name])
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
    tower = transformers.ClapAudioModel(transformers.ClapAudioConfig(**tiny_clap_audio_options()))
    randomise_initial_constants(tower)
    tower.save_pretrained(folders["clap_tower"])  # config.json: "model_type": "clap_audio_model"
    tiny_extractor("clap_audio_model").save_pretrained(folders["clap_tower"])
    ast = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}
    transformers.ASTModel(transformers.ASTConfig(**ast, num_mel_bins=32, max_length=64)).save_pretrained(
        folders["ast"]
    )
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(folders["ast"])
    for name, extractor in (("ast_8k", {"sampling_rate": 8000}), ("ast_speech", {"mean": -6.8, "std": 5.5})):
        config = transformers.ASTConfig(**ast, num_mel_bins=32, max_length=64)
        (transformers.ASTModel(config) if name == "ast_8k" else config).save_pretrained(folders[name])
        transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64, **extractor).save_pretrained(
            folders[name]
        )
    transformers.BertConfig(**text, intermediate_size=20).save_pretrained(folders["bert"])
    CASES["hubert"].encoder_config().save_pretrained(folders["stereo"])
    transformers.Wav2Vec2FeatureExtractor(feature_size=2).save_pretrained(folders["stereo"])
    return folders


@pytest.mark.parametrize("name", ["hubert", "wav2vec2", "wavlm", "whisper", "clap", "clap_tower", "ast"])
def test_a_hub_folder_loads_its_weights_and_its_feature_extractor(
    name: str, hub_folders: dict[str, Path]
) -> None:
    """Each family's saved tiny checkpoint (a whole CLAP model and a stand-alone ``ClapAudioModel`` tower)
    loads with its saved weights, its config's shapes and, for an encoder of the Hub, its extractor."""
    seconds = 0.6 if name == "ast" else 1.0
    model = build_model(str(hub_folders[name]), target_seconds=seconds, sampling_rate=RATE)
    assert model.config.encoder_name_or_path == str(hub_folders[name])
    assert_saved_weights(model.respira.encoder, hub_folders[name])
    saved = transformers.AutoConfig.from_pretrained(hub_folders[name])
    saved = getattr(saved, "audio_config", saved)
    assert model.config.encoder_config.hidden_size == saved.hidden_size
    if name != "ast":
        extractor = transformers.AutoFeatureExtractor.from_pretrained(hub_folders[name])
        model_type = model.config.encoder_config.model_type
        settings = feature_extractor_settings(extractor, model_type, "")
        assert model.config.encoder_feature_extractor == settings


def test_a_family_name_builds_a_random_encoder() -> None:
    tiny = CASES["hubert"].encoder_config().to_dict()
    model = build_model("hubert", encoder_config=tiny, target_seconds=1.0, freeze_encoder=True)
    assert model.config.encoder_config.model_type == "hubert" and model.config.featurizer == "waveform"
    assert not any(p.requires_grad for p in model.respira.encoder.parameters())


def test_bad_hub_folders_are_one_line_each(hub_folders: dict[str, Path], tmp_path: Path) -> None:
    CASES["hubert"].encoder_config().save_pretrained(tmp_path / "no_extractor")
    no_extractor = (
        r"no_extractor: no preprocessor_config.json; respira reproduces the checkpoint's own "
        r"Wav2Vec2FeatureExtractor: save the one its weights were trained with beside them$"
    )
    for folder, message, rate in (
        (hub_folders["bert"], r"is a bert model, not an audio encoder respira takes: expected one of ", None),
        (hub_folders["stereo"], r"takes 2 channels per sample; respira feeds mono waveforms", None),
        (hub_folders["ast_8k"], r"ast_8k: its feature extractor takes 8000 Hz audio, not sampling_rate=16000",
         16000),
        (hub_folders["ast_speech"], r"ast_speech: its feature extractor normalises the fbank by mean -6.8",
         None),
        (tmp_path / "no_extractor", no_extractor, None),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=message) as error:
            build_model(str(folder), **({} if rate is None else {"sampling_rate": rate}))
        assert "\n" not in str(error.value) and "huggingface.co" not in str(error.value)
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


def test_an_ast_checkpoint_takes_its_own_extractors_rate_unless_told(hub_folders: dict[str, Path]) -> None:
    """An 8 kHz AST (its saved extractor's rate) is built at 8 kHz: ``respira bench``, which sets no rate,
    takes it; a rate set (a recipe's ``sampling_rate``) must match it (above)."""
    model = build_model(str(hub_folders["ast_8k"]), target_seconds=0.6)
    assert model.config.sampling_rate == 8000
    assert model(torch.zeros(1, 8000)).logits.shape == (1, 4)


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


@pytest.mark.parametrize("name", ["hubert", "whisper", "ast"])
def test_the_layer_options_pool_the_hidden_states_the_encoder_returns(name: str) -> None:
    """``every_layer``: each hidden state's pooled embedding side by side (the last, for wav2vec 2.0 and
    Whisper, the default embedding); ``encoder_layer``: one of them; ``use_weighted_layer_sum``: their sum
    weighted by the softmax of learnt weights (equal at first: their mean), which training reaches."""
    base = CASES[name].model()
    models = {
        key: RespiraForAudioClassification(CASES[name].config(**{key: value}))
        for key, value in (("every_layer", True), ("encoder_layer", 1), ("use_weighted_layer_sum", True))
    }
    waves = waveforms()
    with torch.no_grad():
        default = base.respira(waves, return_dict=True).embeddings
        pooled = {}
        for key, model in models.items():
            model.respira.load_state_dict(base.respira.state_dict(), strict=False)
            pooled[key] = model.eval().respira(waves, return_dict=True).embeddings
    count = models["every_layer"].respira.encoder_spec.hidden_states(base.config.encoder_config)
    stacked = pooled["every_layer"].reshape(len(waves), count, -1)
    assert models["every_layer"].config.hidden_size == count * base.config.hidden_size == stacked[0].numel()
    if name != "ast":  # AST's last hidden state is before its final layer norm
        torch.testing.assert_close(stacked[:, -1], default)
    torch.testing.assert_close(stacked[:, 1], pooled["encoder_layer"])
    torch.testing.assert_close(stacked.mean(dim=1), pooled["use_weighted_layer_sum"], atol=1e-5, rtol=1e-4)
    weighted = models["use_weighted_layer_sum"].train()
    weighted(waves, labels=torch.tensor([0, 1, 2])).loss.backward()
    assert (
        weighted.respira.layer_weights.grad is not None
        and weighted.respira.layer_weights.grad.abs().sum() > 0
    )


def test_freeze_feature_encoder_freezes_a_waveform_models_convolutions_only() -> None:
    """As transformers' ``freeze_feature_encoder``: the convolutional feature encoder without gradients, the
    transformer trains; on an encoder without one, one line saying which option does what."""
    model = CASES["hubert"].model(freeze_feature_encoder=True)
    encoder = model.respira.encoder
    assert not any(p.requires_grad for p in encoder.feature_extractor.parameters())
    assert all(p.requires_grad for p in encoder.encoder.parameters())
    for name, options in (("ast", {"freeze_feature_encoder": True}), ("clap", {"every_layer": True})):
        with pytest.raises(StrictDataclassClassValidationError) as error:
            CASES[name].config(**options)
        message = str(error.value.__cause__)
        assert "\n" not in message and ("freeze_encoder trains the head only" in message or name == "clap")
        assert message.startswith(
            "freeze_feature_encoder freezes a wav2vec 2.0-family encoder's convolutional feature encoder"
            if name == "ast" else "every_layer reads an encoder's hidden states of one size"
        )  # fmt: skip

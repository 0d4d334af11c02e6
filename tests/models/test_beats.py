"""Tests for respira.models.beats: the transformers-style BEATs and the official-checkpoint converter."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from respira.models.convert_beats import _official_name, convert_beats_checkpoint
from respira.models.respira.configuration_beats import BeatsConfig
from respira.models.respira.labels import MULTI_LABEL, SINGLE_LABEL
from respira.models.respira.modeling_beats import (
    BeatsForAudioClassification,
    BeatsModel,
    relative_position_bucket,
)
from respira.utils.files import WRITTEN_FILE

from .encoder_tester import CASES

OFFICIAL = "beats_tiny_official_format.pt"
REFERENCE_IO = "beats_tiny_io.pt"
MEL = 128


@pytest.fixture(scope="module")
def tiny_config() -> BeatsConfig:
    """The encoder tester's small random BEATs (every feature of the real one: deep norm, gated bias,
    projection) with a 3-label classifier and no classifier dropout."""
    config = CASES["beats"].encoder_config()
    config.num_labels = 3
    config.classifier_dropout = 0.0
    return config


@pytest.fixture(scope="module")
def tiny_classifier(tiny_config: BeatsConfig) -> BeatsForAudioClassification:
    torch.manual_seed(0)
    return BeatsForAudioClassification(tiny_config).eval()


@pytest.fixture(scope="module")
def official(shared_reference: Path) -> dict:
    return torch.load(shared_reference / OFFICIAL, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def converted(shared_reference: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_beats_checkpoint(shared_reference / OFFICIAL, tmp_path_factory.mktemp("beats") / "tiny")


def _save_official(path: Path, cfg: dict, model: dict, **extra: object) -> Path:
    torch.save({"cfg": cfg, "model": model, **extra}, path)
    return path


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if name in p.name)


# 1. The converter and the model reproduce the official outputs.


def test_converted_checkpoint_reproduces_official_outputs(converted: Path, shared_reference: Path) -> None:
    reference = torch.load(shared_reference / REFERENCE_IO, map_location="cpu", weights_only=True)
    assert sorted(p.name for p in converted.iterdir()) == [WRITTEN_FILE, "config.json", "model.safetensors"]

    encoder = AutoModel.from_pretrained(converted).eval()
    assert type(encoder) is BeatsModel
    with torch.no_grad():
        out = encoder(reference["fbank_normalized"], output_hidden_states=True)
    assert out.last_hidden_state.shape == (2, 248, 96)
    assert (out.last_hidden_state - reference["last_hidden_state"]).abs().max().item() < 1e-4
    assert len(out.hidden_states) == 3 and torch.equal(out.hidden_states[-1], out.last_hidden_state)

    classifier = AutoModelForAudioClassification.from_pretrained(converted).eval()
    assert type(classifier) is BeatsForAudioClassification
    with torch.no_grad():
        probs = torch.sigmoid(classifier(reference["fbank_normalized"]).logits)
    assert probs.shape == (2, 7)
    assert (probs - reference["probs"]).abs().max().item() < 1e-4


def test_converted_config_mirrors_official_cfg(converted: Path) -> None:
    config = AutoConfig.from_pretrained(converted)
    assert type(config) is BeatsConfig
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (96, 2, 4)
    assert (config.intermediate_size, config.patch_embedding_dim, config.patch_size) == (192, 64, 16)
    assert (config.conv_pos, config.conv_pos_groups, config.num_buckets, config.max_distance) == (
        16,
        4,
        320,
        800,
    )
    assert config.deep_norm and config.gated_relative_position_bias and config.relative_position_embedding
    assert not config.layer_norm_first and not config.conv_bias
    assert config.layer_wise_gradient_decay_ratio == pytest.approx(0.6)
    assert config.hidden_dropout == 0.0 and config.classifier_dropout == pytest.approx(
        0.1
    )  # official default
    assert config.problem_type == MULTI_LABEL
    assert config.id2label == {i: f"LABEL_{i}" for i in range(7)}


# 2. A tiny random model: shapes, gradients, save/load.


def test_forward_shapes_and_outputs(tiny_classifier: BeatsForAudioClassification) -> None:
    encoder = tiny_classifier.beats
    x = torch.randn(2, 70, MEL)  # 70 frames: 4 whole time blocks, the last 6 frames are cropped
    with torch.no_grad():
        out = encoder(x, output_hidden_states=True, output_attentions=True)
        cropped = encoder(x[:, :64]).last_hidden_state
        as_tuple = encoder(x, return_dict=False)
    assert out.last_hidden_state.shape == (2, 4 * 8, 32)  # 4 time blocks of 8 frequency patches
    assert torch.equal(out.last_hidden_state, cropped)
    assert len(out.hidden_states) == 3 and all(h.shape == (2, 32, 32) for h in out.hidden_states)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (2, 4, 32, 32)
    assert torch.allclose(out.attentions[1].sum(-1), torch.ones(2, 4, 32))
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], out.last_hidden_state)
    with torch.no_grad():
        logits = tiny_classifier(x).logits
    assert logits.shape == (2, 3)
    with pytest.raises(ValueError, match="fbank frames"):
        encoder(torch.randn(2, 64, 64))
    with pytest.raises(ValueError, match="at least patch_size"):
        encoder(torch.randn(1, 15, MEL))


def test_backward_reaches_every_parameter(tiny_config: BeatsConfig) -> None:
    torch.manual_seed(1)
    model = BeatsForAudioClassification(tiny_config).train()
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    out = model(torch.randn(2, 48, MEL), labels=labels)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, labels)
    assert torch.allclose(out.loss, expected)  # multi-label BCE is the default
    out.loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []

    model.config.problem_type = SINGLE_LABEL
    try:
        out = model(torch.randn(2, 48, MEL), labels=torch.tensor([0, 2]))
        assert torch.allclose(out.loss, torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 2])))
    finally:
        model.config.problem_type = None


def test_layer_wise_gradient_decay_scales_lower_layers(tiny_config: BeatsConfig) -> None:
    x = torch.randn(1, 32, MEL)
    grads = {}
    for ratio in (1.0, 0.5):
        config = BeatsConfig(**{**tiny_config.to_dict(), "layer_wise_gradient_decay_ratio": ratio})
        torch.manual_seed(2)
        model = BeatsModel(config).eval()
        model(x).last_hidden_state.square().sum().backward()
        grads[ratio] = {n: p.grad.clone() for n, p in model.named_parameters()}
    # The gradient is scaled before each of the 2 layers: the top layer is untouched, the input side by 0.5².
    for name, factor in (
        ("encoder.layers.1.fc1.weight", 1.0),
        ("encoder.layers.0.fc1.weight", 0.5),
        ("patch_embeddings.projection.weight", 0.25),
    ):
        assert torch.allclose(grads[0.5][name], factor * grads[1.0][name], rtol=1e-4, atol=1e-7), name


def test_save_load_round_trip_through_auto_classes(
    tiny_classifier: BeatsForAudioClassification, tmp_path: Path
) -> None:
    tiny_classifier.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "model.safetensors").is_file()
    x = torch.randn(2, 48, MEL)
    mask = torch.ones(2, 48, dtype=torch.long)
    mask[1, 32:] = 0
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path / "model").eval()
    encoder = AutoModel.from_pretrained(tmp_path / "model").eval()
    assert type(loaded) is BeatsForAudioClassification and type(encoder) is BeatsModel
    with torch.no_grad():
        assert torch.equal(
            loaded(x, attention_mask=mask).logits, tiny_classifier(x, attention_mask=mask).logits
        )
        assert torch.equal(encoder(x).last_hidden_state, tiny_classifier.beats(x).last_hidden_state)


def test_relative_position_buckets() -> None:
    # key - query offsets; 320 buckets (160 per direction), 80 exact, log-spaced up to distance 800.
    offsets = torch.tensor([0, -5, 5, -79, -80, -160, -799, -800, 2000])
    expected = [0, 5, 165, 79, 80, 80 + int(math.log(2) / math.log(10) * 80), 159, 159, 319]
    assert relative_position_bucket(offsets, 320, 800).tolist() == expected


# 3. Padding.


def test_padded_item_matches_running_it_alone(tiny_classifier: BeatsForAudioClassification) -> None:
    torch.manual_seed(3)
    full, length = 96, 52  # 52 valid frames: 3 whole time blocks, a partial 4th
    x = torch.randn(2, full, MEL)
    padded = x.clone()
    padded[1, length:] = 1e3 * torch.randn(full - length, MEL)  # garbage, far from real features
    mask = torch.ones(2, full, dtype=torch.long)
    mask[1, length:] = 0
    with torch.no_grad():
        batched = tiny_classifier(padded, attention_mask=mask).logits
        alone = tiny_classifier(x[1:2, :length]).logits[0]
        first_alone = tiny_classifier(x[0:1]).logits[0]
        unmasked = tiny_classifier(padded).logits
        hidden = tiny_classifier.beats(padded, attention_mask=mask).last_hidden_state
        hidden_alone = tiny_classifier.beats(x[1:2, :length]).last_hidden_state[0]
    assert (batched[1] - alone).abs().max().item() < 1e-5
    assert (batched[0] - first_alone).abs().max().item() < 1e-5
    assert (hidden[1, : hidden_alone.shape[0]] - hidden_alone).abs().max().item() < 1e-5
    assert (unmasked[1] - alone).abs().max().item() > 1e-2  # without the mask the garbage does matter


def test_patch_mask_matches_official_reduction_on_whole_blocks(
    tiny_classifier: BeatsForAudioClassification,
) -> None:
    frames = 96
    mask = torch.ones(3, frames, dtype=torch.long)
    mask[1, 48:] = 0
    mask[2, 16:] = 0
    patches = (frames // 16) * (MEL // 16)  # whole 16 x 16 patches
    # The official forward_padding_mask: crop frames % patches, group frames in flattened order, all() = pad.
    padding = (mask == 0)[:, : frames - frames % patches].reshape(3, patches, -1).all(-1)
    assert torch.equal(tiny_classifier.beats.get_patch_attention_mask(mask), ~padding)
    # A partly valid time block is dropped as a whole (running the item alone crops it the same way).
    mask[1, 40:] = 0
    assert tiny_classifier.beats.get_patch_attention_mask(mask)[1].sum().item() == 2 * 8


def test_mask_without_a_whole_valid_block_is_rejected(tiny_classifier: BeatsForAudioClassification) -> None:
    mask = torch.ones(2, 32, dtype=torch.long)
    mask[1, 10:] = 0
    with pytest.raises(ValueError, match="valid frames"):
        tiny_classifier(torch.randn(2, 32, MEL), attention_mask=mask)
    with pytest.raises(ValueError, match="attention_mask"):
        tiny_classifier(torch.randn(2, 32, MEL), attention_mask=torch.ones(2, 31))


# 4. Converter errors.


def test_converter_rejects_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pt"
    bogus.write_text("definitely not a checkpoint\n")
    with pytest.raises(ValueError, match="not a BEATs checkpoint"):
        convert_beats_checkpoint(bogus, tmp_path / "out")
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a BEATs checkpoint"):
        convert_beats_checkpoint(tmp_path / "other.pt", tmp_path / "out")
    # Arbitrary pickled objects are refused, never executed.
    torch.save({"cfg": {}, "model": {}, "obj": _Unpicklable()}, tmp_path / "object.pt")
    with pytest.raises(ValueError, match="not a BEATs checkpoint"):
        convert_beats_checkpoint(tmp_path / "object.pt", tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        convert_beats_checkpoint(tmp_path / "missing.pt", tmp_path / "out")
    assert _leftovers(tmp_path, "out") == []


class _Unpicklable:
    pass


def test_converter_lists_missing_and_unexpected_keys(official: dict, converted: Path, tmp_path: Path) -> None:
    model = dict(official["model"])
    del model["encoder.layers.1.fc2.weight"]
    model["encoder.extra.weight"] = torch.zeros(2)
    path = _save_official(tmp_path / "broken.pt", official["cfg"], model)
    with pytest.raises(ValueError, match="missing keys") as info:
        convert_beats_checkpoint(path, tmp_path / "out")
    missing, unexpected = str(info.value).split("missing keys")[1].split("unexpected keys")
    assert missing.startswith(" (1): encoder.layers.1.fc2.weight;") and "encoder.extra" not in missing
    assert unexpected.startswith(" (1): encoder.extra.weight") and "fc2" not in unexpected
    assert _leftovers(tmp_path, "out") == []

    # Every key of ours has an official name (used in those messages), and the names are the official ones.
    ours = AutoModelForAudioClassification.from_config(AutoConfig.from_pretrained(converted)).state_dict()
    tied_copy = "encoder.layers.1.self_attn.relative_attention_bias.weight"
    assert {_official_name(k) for k in ours} == set(official["model"]) - {tied_copy}

    model = dict(official["model"])
    model["encoder.layers.1.self_attn.relative_attention_bias.weight"] = torch.zeros(320, 4)
    path = _save_official(tmp_path / "untied.pt", official["cfg"], model)
    with pytest.raises(ValueError, match="relative position bias"):
        convert_beats_checkpoint(path, tmp_path / "out")
    assert _leftovers(tmp_path, "out") == []


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"activation_fn": "glu"}, "activation_fn"),
        ({"input_patch_size": -1}, "input_patch_size"),
        ({"predictor_class": 5}, "predictor_class"),
        ({"finetuned_model": False}, "finetuned_model"),
        ({"encoder_attention_heads": 5}, "encoder_attention_heads"),
        ({"layer_norm_first": True}, "layer_norm_first"),
    ],
)
def test_converter_names_the_bad_cfg_key(official: dict, tmp_path: Path, change: dict, key: str) -> None:
    path = _save_official(tmp_path / "cfg.pt", {**official["cfg"], **change}, official["model"])
    with pytest.raises(ValueError, match=key):
        convert_beats_checkpoint(path, tmp_path / "out")
    assert _leftovers(tmp_path, "out") == []


def test_converter_output_folder_rules(official: dict, shared_reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError):
        convert_beats_checkpoint(shared_reference / OFFICIAL, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    with pytest.raises(FileExistsError, match="holds no record of what respira wrote"):
        convert_beats_checkpoint(shared_reference / OFFICIAL, out, overwrite=True)  # not respira's to delete
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]

    (out / "keep.txt").unlink()
    convert_beats_checkpoint(shared_reference / OFFICIAL, out)
    convert_beats_checkpoint(shared_reference / OFFICIAL, out, overwrite=True)  # respira's: replaced
    assert sorted(p.name for p in out.iterdir()) == [WRITTEN_FILE, "config.json", "model.safetensors"]
    assert _leftovers(tmp_path, "out") == ["out"]  # no temporary or backup folder left behind

    empty = tmp_path / "empty"
    empty.mkdir()
    labels = {i: f"/m/class{i}" for i in range(7)}
    path = _save_official(tmp_path / "labelled.pt", official["cfg"], official["model"], label_dict=labels)
    convert_beats_checkpoint(path, empty)  # an existing empty folder is fine
    config = AutoConfig.from_pretrained(empty)
    assert config.id2label == labels and config.label2id["/m/class3"] == 3


def test_encoder_only_checkpoint_becomes_beats_model(official: dict, tmp_path: Path) -> None:
    model = {k: v for k, v in official["model"].items() if not k.startswith("predictor.")}
    cfg = {**official["cfg"], "finetuned_model": False}
    out = convert_beats_checkpoint(_save_official(tmp_path / "encoder.pt", cfg, model), tmp_path / "encoder")
    assert AutoConfig.from_pretrained(out).architectures == ["BeatsModel"]
    assert type(AutoModel.from_pretrained(out)) is BeatsModel


# 5. LoRA.


def test_lora_on_query_and_value_projections(tiny_config: BeatsConfig) -> None:
    peft = pytest.importorskip("peft")
    torch.manual_seed(4)
    model = peft.get_peft_model(
        BeatsForAudioClassification(tiny_config), peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
    )
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * 2 * tiny_config.num_hidden_layers  # lora_A and lora_B of q and v per layer
    assert all("lora_" in n and (".q_proj." in n or ".v_proj." in n) for n in trainable)
    out = model(input_values=torch.randn(2, 32, MEL), labels=torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))
    out.loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert all(g is not None for g in grads.values())
    assert any(g.abs().sum() > 0 for n, g in grads.items() if "lora_B" in n)
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)


def test_unknown_cfg_keys_are_reported_not_fatal(shared_reference, tmp_path) -> None:
    """Released checkpoints may hold training-only cfg keys: convert, and say which were ignored."""
    checkpoint = torch.load(shared_reference / "beats_tiny_official_format.pt", weights_only=True)
    checkpoint["cfg"]["some_training_option"] = 3
    path = tmp_path / "extra_key.pt"
    torch.save(checkpoint, path)
    with pytest.warns(UserWarning, match="some_training_option"):
        convert_beats_checkpoint(path, tmp_path / "out")
    assert (tmp_path / "out" / "model.safetensors").is_file()

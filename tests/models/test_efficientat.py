"""EfficientAT MobileNetV3 ("mn"): mel front end, transformers model and converter.

The real AudioSet mn04 weights and reference outputs come from ../shared/reference (those tests skip
without it); everything else runs on randomly initialised width-0.4 models.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from respira.inference.embeddings import embed_waveforms
from respira.models import RespiraForAudioClassification
from respira.models.convert_efficientat import convert_efficientat_checkpoint, original_to_hf_key
from respira.models.respira.configuration_efficientat import EfficientATConfig
from respira.models.respira.filterbanks import EfficientATMel
from respira.models.respira.labels import MULTI_LABEL, SINGLE_LABEL
from respira.models.respira.modeling_efficientat import EfficientATForAudioClassification, EfficientATModel
from respira.utils.files import WRITTEN_FILE, staged_folder

CHECKPOINT = "efficientat_mn04_as_mAP_432.pt"
REFERENCE_IO = "efficientat_mn04_io.pt"
TOLERANCE = 1e-4
NUM_LABELS = 5


# -- helpers & fixtures ----------------------------------------------------------------------------------


def to_original_key(key: str) -> str:
    """Inverse of `original_to_hf_key` (written independently, to check the mapping both ways)."""
    key = key.removeprefix("efficientat.")
    key = re.sub(r"\.(fc[12])\.", r".conc_se_layers.0.\1.", key)
    return key.replace("classifier.dense.", "classifier.2.").replace("classifier.out_proj.", "classifier.5.")


def randomize_batch_norm(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters, so eval mode is not an identity."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.weight.copy_(1.0 + 0.1 * torch.randn(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))
                module.num_batches_tracked.fill_(7)


def original_format_state_dict(model: EfficientATForAudioClassification) -> dict[str, torch.Tensor]:
    return {to_original_key(key): value.clone() for key, value in model.state_dict().items()}


@pytest.fixture(scope="module")
def random_model() -> EfficientATForAudioClassification:
    torch.manual_seed(0)
    model = EfficientATForAudioClassification(EfficientATConfig(num_labels=NUM_LABELS))
    randomize_batch_norm(model, torch.Generator().manual_seed(1))
    return model.eval()


@pytest.fixture(scope="module")
def random_mel() -> torch.Tensor:
    return torch.randn(2, 128, 96, generator=torch.Generator().manual_seed(2))


@pytest.fixture(scope="module")
def original_checkpoint(random_model: EfficientATForAudioClassification, tmp_path_factory) -> Path:
    """The random model saved as an original EfficientAT checkpoint (plain state dict, original names)."""
    path = tmp_path_factory.mktemp("original") / "mn04_random.pt"
    torch.save(original_format_state_dict(random_model), path)
    return path


@pytest.fixture(scope="module")
def reference_io(shared_reference: Path) -> dict:
    return torch.load(shared_reference / REFERENCE_IO, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def converted_folder(shared_reference: Path, tmp_path_factory) -> Path:
    return convert_efficientat_checkpoint(
        shared_reference / CHECKPOINT, tmp_path_factory.mktemp("converted") / "efficientat-mn04-as"
    )


@pytest.fixture(scope="module")
def converted_model(converted_folder: Path) -> EfficientATForAudioClassification:
    return AutoModelForAudioClassification.from_pretrained(converted_folder).eval()


# -- mel front end ---------------------------------------------------------------------------------------


@pytest.mark.real_data
@pytest.mark.parametrize("plain", [pytest.param(False, id="kernel"), pytest.param(True, id="plain")])
def test_mel_matches_reference(reference_io: dict, plain: bool) -> None:
    with torch.inference_mode():
        mel = EfficientATMel()(reference_io["waveform_32k"], plain=plain).transpose(1, 2)
    assert mel.shape == reference_io["mel"].shape == (1, 128, 500)
    assert (mel - reference_io["mel"]).abs().max().item() < TOLERANCE


@pytest.mark.parametrize("samples", [514, 515, 999, 20000])
def test_mel_kernel_equals_plain_path(samples: int) -> None:
    """The CPU inference kernel and the differentiable plain path agree on every length, the kernel
    is what inference runs and the plain path what gradients need."""
    mel = EfficientATMel()
    waves = torch.randn(3, samples, generator=torch.Generator().manual_seed(samples))
    with torch.inference_mode():
        kernel, plain, chosen = mel(waves, plain=False), mel(waves, plain=True), mel(waves)
    assert kernel.shape == plain.shape == (3, mel.frames_for(samples), 128)
    # 1e-3 in these units (log / 5) is 0.02 dB: float32 rounding in the quietest cells, magnified by the log
    assert (kernel - plain).abs().max().item() < 1e-3
    assert torch.equal(chosen, kernel)
    waves.requires_grad_(True)
    mel(waves).sum().backward()  # the plain path runs when gradients must reach the waveform
    assert waves.grad is not None and waves.grad.abs().sum() > 0


@pytest.mark.real_data
def test_respira_model_at_the_native_rate_reproduces_the_reference(
    converted_folder: Path, reference_io: dict
) -> None:
    """At 32 kHz (EfficientAT's own rate) the featurizer does no resampling: its features are the
    reference mel and the pooled embedding is the reference embedding."""
    model = RespiraForAudioClassification.from_encoder_pretrained(converted_folder, target_seconds=5.0).eval()
    assert model.config.sampling_rate == 32000
    waveform = reference_io["waveform_32k"]
    with torch.inference_mode():
        features, frame_mask = model.respira.featurizer(waveform)
        embedding = torch.from_numpy(embed_waveforms(model, waveform.numpy()))
    assert frame_mask.all()
    assert (features.transpose(1, 2) - reference_io["mel"]).abs().max().item() < TOLERANCE
    assert (embedding - reference_io["embedding"]).abs().max().item() < TOLERANCE


def test_mel_is_batched_and_has_no_state() -> None:
    generator = torch.Generator().manual_seed(3)
    waves = torch.randn(3, 16000, generator=generator)
    mel = EfficientATMel()
    batch = mel(waves)
    assert batch.shape == (3, mel.frames_for(16000), 128) == (3, 50, 128)
    for i in range(3):
        torch.testing.assert_close(mel(waves[i : i + 1])[0], batch[i], atol=1e-5, rtol=0)
    assert not torch.equal(batch[0], batch[1])
    assert mel.state_dict() == {}  # window and banks are non-persistent buffers
    assert mel.mel_banks.shape == (128, 513)
    assert torch.all(mel.mel_banks[:, -1] == 0)  # the zero Nyquist column
    assert torch.equal(mel.window, torch.hann_window(800, periodic=False))


def test_mel_follows_the_formula_on_a_tone() -> None:
    """A pure 1 kHz tone peaks in the mel bin whose centre is nearest 1 kHz, and silence gives log(1e-5)."""
    mel = EfficientATMel()
    t = torch.arange(32000) / 32000
    spec = mel(torch.sin(2 * torch.pi * 1000 * t)[None])[0].T
    peak_bin = spec[:, 10:-10].mean(dim=1).argmax().item()
    centres = (mel.mel_banks * torch.arange(513)).sum(1) / mel.mel_banks.sum(1) * 32000 / 1024
    assert abs(centres[peak_bin].item() - 1000) < 60
    silence = mel(torch.zeros(1, 4000))
    torch.testing.assert_close(
        silence, torch.full_like(silence, (torch.log(torch.tensor(1e-5)).item() + 4.5) / 5)
    )


def test_mel_rejects_too_short_input() -> None:
    with pytest.raises(ValueError, match="514 samples or more"):
        EfficientATMel()(torch.zeros(1, 100))


# -- converted real weights ------------------------------------------------------------------------------


@pytest.mark.real_data
def test_converted_folder(converted_folder: Path) -> None:
    names = sorted(p.name for p in converted_folder.iterdir())
    assert names == [WRITTEN_FILE, "config.json", "model.safetensors"]
    config = json.loads((converted_folder / "config.json").read_text())
    assert config["model_type"] == "efficientat"
    assert config["width_mult"] == 0.4
    assert config["architectures"] == ["EfficientATForAudioClassification"]
    assert config["problem_type"] == MULTI_LABEL
    assert len(config["id2label"]) == 527
    assert config["id2label"]["526"] == "LABEL_526"
    assert not [
        p for p in converted_folder.parent.iterdir() if p.name.startswith(".")
    ]  # no staging leftovers


@pytest.mark.real_data
def test_converted_model_reproduces_reference(
    converted_model: EfficientATForAudioClassification, reference_io: dict
) -> None:
    assert isinstance(converted_model, EfficientATForAudioClassification)
    waveform = reference_io["waveform_32k"]
    with torch.no_grad():
        mel = EfficientATMel()(waveform).transpose(1, 2)
        output = converted_model(mel)
    assert (mel - reference_io["mel"]).abs().max().item() < TOLERANCE
    assert output.logits.shape == (1, 527)
    assert (output.logits - reference_io["logits"]).abs().max().item() < TOLERANCE


@pytest.mark.real_data
def test_converted_base_model_gives_the_embedding(converted_folder: Path, reference_io: dict) -> None:
    base = AutoModel.from_pretrained(converted_folder).eval()
    assert type(base) is EfficientATModel
    with torch.no_grad():
        output = base(reference_io["mel"])
    # 128 × 500 log-mel, total stride 32 → 4 × 16
    assert output.last_hidden_state.shape == (1, 384, 4, 16)
    assert (output.pooler_output - reference_io["embedding"]).abs().max().item() < TOLERANCE


@pytest.mark.real_data
def test_parameter_count(converted_model: EfficientATForAudioClassification, shared_reference: Path) -> None:
    original = torch.load(shared_reference / CHECKPOINT, map_location="cpu", weights_only=True)
    state = converted_model.state_dict()
    assert len(state) == len(original) == 312
    # the 993,485 of the original counts every state-dict tensor: 983,599 trainable parameters plus 9,840
    # BatchNorm running statistics and 46 num_batches_tracked counters
    assert sum(v.numel() for v in state.values()) == sum(v.numel() for v in original.values()) == 993_485
    assert converted_model.num_parameters() == 983_599
    running = sum(v.numel() for k, v in state.items() if "running_" in k)
    assert converted_model.num_parameters() + running + 46 == 993_485
    assert {original_to_hf_key(k) for k in original} == set(state)
    assert {to_original_key(k) for k in state} == set(original)


# -- random models ---------------------------------------------------------------------------------------


def test_forward_shapes_and_hidden_states(
    random_model: EfficientATForAudioClassification, random_mel: torch.Tensor
) -> None:
    with torch.no_grad():
        output = random_model(random_mel, output_hidden_states=True)
    assert output.logits.shape == (2, NUM_LABELS)
    assert len(output.hidden_states) == 17  # stem, 15 inverted residuals, last 1x1 conv
    assert output.hidden_states[0].shape == (2, 8, 64, 48)
    assert output.hidden_states[-1].shape == (2, 384, 4, 3)
    with torch.no_grad():
        embeddings = random_model.efficientat(random_mel).pooler_output
    assert embeddings.shape == (2, 384)
    torch.testing.assert_close(embeddings, output.hidden_states[-1].mean(dim=(2, 3)))
    as_tuple = random_model(random_mel, return_dict=False)
    torch.testing.assert_close(as_tuple[0], output.logits)


def test_loss_by_problem_type(
    random_model: EfficientATForAudioClassification, random_mel: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    with torch.no_grad():
        multi_hot = torch.tensor([[1.0, 0, 0, 1, 0], [0, 1, 0, 0, 0]])
        bce = random_model(random_mel, labels=multi_hot)
        expected = torch.nn.functional.binary_cross_entropy_with_logits(bce.logits, multi_hot)
        torch.testing.assert_close(bce.loss, expected)
        classes = torch.tensor([3, 1])
        ce = random_model(random_mel, labels=classes)
        torch.testing.assert_close(ce.loss, torch.nn.functional.cross_entropy(ce.logits, classes))
        monkeypatch.setattr(random_model.config, "problem_type", MULTI_LABEL)
        with pytest.raises(ValueError, match=SINGLE_LABEL):
            random_model(random_mel, labels=classes)
        monkeypatch.setattr(random_model.config, "problem_type", SINGLE_LABEL)
        forced = random_model(random_mel, labels=classes.to(torch.float32))
        torch.testing.assert_close(forced.loss, ce.loss)


def test_backward_reaches_every_parameter(random_mel: torch.Tensor) -> None:
    torch.manual_seed(4)
    model = EfficientATForAudioClassification(EfficientATConfig(num_labels=NUM_LABELS)).train()
    output = model(random_mel, labels=torch.tensor([0, 4]))
    output.loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
    assert model.classifier.out_proj.weight.grad.abs().sum() > 0
    assert model.efficientat.features[0][0].weight.grad.abs().sum() > 0


def test_input_checks(random_model: EfficientATForAudioClassification) -> None:
    with pytest.raises(ValueError, match="log-mels"):
        random_model(torch.randn(2, 8000))


def test_save_load_round_trip_with_auto_classes(
    random_model: EfficientATForAudioClassification, random_mel: torch.Tensor, tmp_path: Path
) -> None:
    random_model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert type(AutoConfig.from_pretrained(tmp_path)) is EfficientATConfig
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is EfficientATForAudioClassification
    with torch.no_grad():
        before, after = random_model(random_mel), loaded(random_mel)
    torch.testing.assert_close(after.logits, before.logits, atol=0, rtol=0)
    base = AutoModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        embeddings = random_model.efficientat(random_mel).pooler_output
        torch.testing.assert_close(base(random_mel).pooler_output, embeddings, atol=0, rtol=0)


@pytest.mark.parametrize(
    ("width", "stem", "embedding", "head_hidden"),
    [(0.5, 8, 480, 640), (1.0, 16, 960, 1280)],  # 0.4 (8, 384, 512): the random_model tests
)
def test_width_sets_channel_counts(width: float, stem: int, embedding: int, head_hidden: int) -> None:
    config = EfficientATConfig(width_mult=width, num_labels=3)
    assert (config.stem_channels, config.hidden_size, config.head_hidden_size) == (
        stem,
        embedding,
        head_hidden,
    )
    model = EfficientATForAudioClassification(config).eval()
    assert model.classifier.dense.weight.shape == (head_hidden, embedding)
    with torch.no_grad():
        output = model(torch.randn(1, 128, 64))
        assert model.efficientat(torch.randn(1, 128, 64)).pooler_output.shape == (1, embedding)
    assert output.logits.shape == (1, 3)


def test_config_defaults_and_validation() -> None:
    config = EfficientATConfig()
    assert config.num_labels == 527
    assert (config.stem_channels, config.hidden_size, config.head_hidden_size) == (8, 384, 512)
    assert config.block_settings[3] == {
        "input_channels": 16,
        "kernel": 5,
        "expanded_channels": 32,
        "out_channels": 16,
        "use_se": True,
        "activation": "RE",
        "stride": 2,
        "dilation": 1,
    }
    assert (
        EfficientATConfig.from_dict(config.to_dict()).inverted_residual_setting
        == config.inverted_residual_setting
    )
    for bad in ({"width_mult": 0.3}, {"width_mult": 1.5}):
        with pytest.raises(ValueError):
            EfficientATConfig(**bad)


def test_fresh_weights_follow_the_original_initialisation() -> None:
    torch.manual_seed(6)
    model = EfficientATForAudioClassification(EfficientATConfig(num_labels=NUM_LABELS))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert torch.all(module.running_mean == 0) and torch.all(module.running_var == 1)
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
    dense = model.classifier.dense.weight
    assert 0.009 < dense.std().item() < 0.011 and torch.all(model.classifier.dense.bias == 0)
    last_conv = model.efficientat.features[-1][0].weight  # kaiming normal, fan_out = 384 outputs · 1 · 1
    assert abs(last_conv.std().item() - (2 / 384) ** 0.5) < 0.005


# -- converter -------------------------------------------------------------------------------------------


def test_key_mapping() -> None:
    assert original_to_hf_key("features.0.0.weight") == "efficientat.features.0.0.weight"
    assert (
        original_to_hf_key("features.4.block.2.conc_se_layers.0.fc1.bias")
        == "efficientat.features.4.block.2.fc1.bias"
    )
    assert original_to_hf_key("classifier.2.weight") == "classifier.dense.weight"
    assert original_to_hf_key("classifier.5.bias") == "classifier.out_proj.bias"


def test_convert_random_checkpoint_round_trip(
    original_checkpoint: Path,
    random_model: EfficientATForAudioClassification,
    random_mel: torch.Tensor,
    tmp_path,
) -> None:
    folder = convert_efficientat_checkpoint(
        original_checkpoint, tmp_path / "out", width=None
    )  # width inferred
    loaded = AutoModelForAudioClassification.from_pretrained(folder).eval()
    assert loaded.config.width_mult == 0.4
    assert loaded.config.num_labels == NUM_LABELS
    with torch.no_grad():
        torch.testing.assert_close(loaded(random_mel).logits, random_model(random_mel).logits, atol=0, rtol=0)


def _assert_nothing_written(parent: Path) -> None:
    assert list(parent.iterdir()) == [], f"left behind: {[p.name for p in parent.iterdir()]}"


def test_convert_rejects_files_that_are_not_checkpoints(tmp_path: Path) -> None:
    out_parent = tmp_path / "outputs"
    out_parent.mkdir()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match=r"not an EfficientAT checkpoint: it is neither a torch\.save"):
        convert_efficientat_checkpoint(garbage, out_parent / "m")
    not_a_dict = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(ValueError, match="state dict"):
        convert_efficientat_checkpoint(not_a_dict, out_parent / "m")
    other_model = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), other_model)
    with pytest.raises(ValueError, match=r"lacks features\.0\.0\.weight"):
        convert_efficientat_checkpoint(other_model, out_parent / "m")
    with pytest.raises(FileNotFoundError):
        convert_efficientat_checkpoint(tmp_path / "missing.pt", out_parent / "m")
    _assert_nothing_written(out_parent)


def test_convert_rejects_wrong_width(
    original_checkpoint: Path, random_model: EfficientATForAudioClassification, tmp_path: Path
) -> None:
    out_parent = tmp_path / "outputs"
    out_parent.mkdir()
    with pytest.raises(ValueError, match=r"has width 0\.4 \(by its MLP head\), not width 1\.0"):
        convert_efficientat_checkpoint(original_checkpoint, out_parent / "m", width=1.0)
    state = original_format_state_dict(random_model)  # width 0.4, but a head of width 0.5 (640 units)
    state["classifier.2.weight"], state["classifier.2.bias"] = torch.zeros(640, 384), torch.zeros(640)
    state["classifier.5.weight"] = torch.zeros(NUM_LABELS, 640)
    torch.save(state, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match=r"shape mismatches \(\d+\): classifier\.dense\.weight"):
        convert_efficientat_checkpoint(tmp_path / "mixed.pt", out_parent / "m", width=None)
    _assert_nothing_written(out_parent)


def test_convert_lists_missing_and_unexpected_keys(
    random_model: EfficientATForAudioClassification, tmp_path: Path
) -> None:
    state = original_format_state_dict(random_model)
    del state["features.5.block.2.conc_se_layers.0.fc2.weight"]
    state["features.5.block.9.weight"] = torch.zeros(1)
    checkpoint = tmp_path / "ckpt.pt"
    torch.save(state, checkpoint)
    out_parent = tmp_path / "outputs"
    out_parent.mkdir()
    with pytest.raises(ValueError, match="missing keys") as error:
        convert_efficientat_checkpoint(checkpoint, out_parent / "m")
    assert "efficientat.features.5.block.2.fc2.weight" in str(error.value)
    assert "unexpected keys" in str(error.value)
    assert "efficientat.features.5.block.9.weight" in str(error.value)
    _assert_nothing_written(out_parent)


def test_convert_respects_existing_output(original_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="holds no record of what respira wrote"):
        convert_efficientat_checkpoint(original_checkpoint, out)  # not "pass --overwrite": it would refuse
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    with pytest.raises(FileExistsError, match="holds no record of what respira wrote"):
        convert_efficientat_checkpoint(original_checkpoint, out, overwrite=True)  # not respira's to delete
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    (out / "keep.txt").unlink()
    convert_efficientat_checkpoint(original_checkpoint, out)
    convert_efficientat_checkpoint(original_checkpoint, out, overwrite=True)  # respira's: replaced
    assert sorted(p.name for p in out.iterdir()) == [WRITTEN_FILE, "config.json", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    empty = tmp_path / "empty"
    empty.mkdir()
    convert_efficientat_checkpoint(original_checkpoint, empty)  # an empty folder is fine
    assert (empty / "model.safetensors").is_file()


def test_convert_failure_while_saving_leaves_nothing_half_written(
    original_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save = EfficientATForAudioClassification.save_pretrained

    def broken_save(model, folder: Path, **kwargs) -> None:
        save(model, folder, **kwargs)
        assert (Path(folder) / "model.safetensors").is_file()  # it got as far as writing the staging folder
        raise RuntimeError("disk full")

    monkeypatch.setattr(EfficientATForAudioClassification, "save_pretrained", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        convert_efficientat_checkpoint(original_checkpoint, tmp_path / "m")
    _assert_nothing_written(tmp_path)
    existing = tmp_path / "existing"
    with staged_folder(existing, overwrite=False) as staging:  # an earlier conversion
        (staging / "keep.txt").write_text("precious")
    with pytest.raises(RuntimeError, match="disk full"):
        convert_efficientat_checkpoint(original_checkpoint, existing, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert (existing / "keep.txt").read_text() == "precious"

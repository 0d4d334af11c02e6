"""Tests for respira's classifier (respira.models.respira) with the CNN and a tiny random AST.

Every model here is tiny and randomly initialised; configs are built once per module, and tests
that change a model (training, freezing, LoRA) work on a deep copy of a module-scoped one.
"""

from __future__ import annotations

import copy
import json
import math
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError
from torch import nn
from transformers import (
    ASTConfig,
    ASTFeatureExtractor,
    ASTForAudioClassification,
    AutoConfig,
    AutoModelForAudioClassification,
)

import respira  # noqa: F401  (the brief's entry point: `import respira` then the Auto classes)
from respira.inference.embeddings import embed_waveforms
from respira.models import (
    RespiraConfig,
    RespiraFeatureExtractor,
    RespiraForAudioClassification,
)
from respira.models.respira import RespiraAudioClassificationPipeline
from respira.models.respira.audio_decoding import read_audio
from respira.models.respira.configuration_cnn import RespiraCNNConfig
from respira.models.respira.filterbanks import AST_NORMALIZATION, KaldiFbank
from respira.models.respira.labels import MULTI_LABEL, SINGLE_LABEL

RATE = 16000
CNN_SECONDS = 1.0  # 16000 samples → 63 log-mel frames → 7 CNN time steps
AST_SECONDS = 2.0  # 32000 samples → 198 fbank frames
AST_MAX_LENGTH = 256  # the tiny AST's "checkpoint" length: 25 time patches of stride 10
AST_FRAMES = (int(AST_SECONDS * RATE) - 400) // 160 + 1
FOUR_CLASSES = {0: "normal", 1: "crackle", 2: "wheeze", 3: "both"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------------------------
# configs and models (built once per module)


@pytest.fixture(scope="module")
def cnn_encoder_config() -> dict:
    return RespiraCNNConfig(channels=[4, 8, 8, 16]).to_dict()


@pytest.fixture(scope="module")
def ast_encoder_config() -> dict:
    return ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_length=AST_MAX_LENGTH,
    ).to_dict()


def _randomise_ast_embeddings(embeddings: nn.Module) -> None:
    """transformers initialises AST's CLS / distillation tokens and positions to zeros, which would
    make the two special tokens identical and any crop of the positions equal; trained checkpoints
    have distinct values, so give them some."""
    with torch.no_grad():
        for parameter in (
            embeddings.cls_token,
            embeddings.distillation_token,
            embeddings.position_embeddings,
        ):
            parameter.normal_(std=0.5)


@pytest.fixture(scope="module")
def make_model(
    cnn_encoder_config: dict, ast_encoder_config: dict
) -> Callable[..., RespiraForAudioClassification]:
    """``make_model("cnn" | "ast", **config)``: a seeded, eval-mode classifier."""

    def make(
        encoder: str, seed: int = 0, encoder_kwargs: dict | None = None, **kwargs
    ) -> RespiraForAudioClassification:
        encoder_config = copy.deepcopy(cnn_encoder_config if encoder == "cnn" else ast_encoder_config)
        encoder_config.update(encoder_kwargs or {})
        kwargs.setdefault("target_seconds", CNN_SECONDS if encoder == "cnn" else AST_SECONDS)
        torch.manual_seed(seed)
        model = RespiraForAudioClassification(RespiraConfig(encoder_config=encoder_config, **kwargs))
        if encoder == "ast":
            _randomise_ast_embeddings(model.respira.encoder.embeddings)
        return model.eval()

    return make


@pytest.fixture(scope="module")
def cnn(make_model: Callable) -> RespiraForAudioClassification:
    return make_model("cnn")


@pytest.fixture(scope="module")
def ast(make_model: Callable) -> RespiraForAudioClassification:
    return make_model("ast")


@pytest.fixture(scope="module")
def waves() -> torch.Tensor:
    """Three 1.5-s waveforms: noise plus a tone, different per row."""
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(int(1.5 * RATE)) / RATE
    tones = torch.stack([0.3 * torch.sin(2 * math.pi * f * t) for f in (200.0, 700.0, 1500.0)])
    return tones + 0.05 * torch.randn(3, t.numel(), generator=generator)


@pytest.fixture(scope="module")
def ast_waves() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return 0.1 * torch.randn(2, int(2.5 * RATE), generator=generator)


def logits_of(model: nn.Module, *args, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model(*args, **kwargs).logits


def embeddings_of(model: RespiraForAudioClassification, *args, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model(*args, **kwargs).embeddings


# ----------------------------------------------------------------------------------------------
# shapes, gradients, save / load


@pytest.mark.parametrize("encoder", ["cnn", "ast"])
@pytest.mark.parametrize("problem_type", [SINGLE_LABEL, MULTI_LABEL])
def test_forward_shapes(make_model: Callable, waves: torch.Tensor, encoder: str, problem_type: str) -> None:
    model = make_model(encoder, problem_type=problem_type)
    single = problem_type == SINGLE_LABEL
    assert model.config.id2label == (FOUR_CLASSES if single else {0: "crackle", 1: "wheeze"})
    with torch.no_grad():
        out = model(waves)
    hidden = 16 if encoder == "cnn" else 32
    assert out.logits.shape == (3, 4 if single else 2)
    assert out.embeddings.shape == (3, hidden)
    assert out.projections.shape == (3, 128)
    torch.testing.assert_close(out.projections.norm(dim=-1), torch.ones(3))
    assert torch.isfinite(out.logits).all()
    assert not torch.allclose(out.logits[0], out.logits[1])  # rows are not mixed up or collapsed


@pytest.mark.parametrize("encoder", ["cnn", "ast"])
def test_backward_reaches_every_trainable_parameter(
    make_model: Callable, waves: torch.Tensor, encoder: str
) -> None:
    model = make_model(encoder).train()
    out = model(waves, labels=torch.tensor([0, 1, 3]))
    (out.loss + out.projections[:, 0].sum()).backward()  # the projector feeds auxiliary losses
    missing = [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert not missing, missing


@pytest.mark.parametrize(
    ("encoder", "extra"),
    [("cnn", {}), ("ast", {}), ("ast", {"ast_length_policy": "adapt", "pooling": "cls_distill"})],
)
def test_save_pretrained_round_trip(
    make_model: Callable, waves: torch.Tensor, tmp_path: Path, encoder: str, extra: dict
) -> None:
    model = make_model(encoder, problem_type=MULTI_LABEL, **extra)
    with torch.no_grad():
        model.train()(waves)  # moves batch-norm running statistics away from their init
    model.eval()
    expected = logits_of(model, waves)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not (tmp_path / "pytorch_model.bin").exists()

    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, RespiraConfig)
    assert type(config.encoder_config) is type(model.config.encoder_config)
    assert config.encoder_config.to_dict() == model.config.encoder_config.to_dict()
    assert config.id2label == {0: "crackle", 1: "wheeze"}
    for key, value in extra.items():
        assert getattr(config, key) == value

    torch.manual_seed(123)  # a different random init must be overwritten by the saved weights
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, RespiraForAudioClassification)
    torch.testing.assert_close(logits_of(loaded, waves), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("adaptation", [0.3, 0.1]),
        ("label_priors", [0.3, 0.1]),
        ("quality", None),
        ("quality", {"threshold": 0.4, "auc": 84.7}),
    ],
)
def test_a_config_with_a_retired_entry_loads_without_it(key: str, value: Any, tmp_path: Path) -> None:
    """``adaptation`` (the retired ``respira adapt``), ``label_priors`` (read only by its prior shift) and
    ``quality`` (the retired ``respira quality`` head), in the shipped detectors' configs, are dropped on
    loading: no model saved from them writes them."""
    RespiraConfig(problem_type=MULTI_LABEL).save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert key not in written
    (tmp_path / "config.json").write_text(json.dumps({**written, key: value}))
    config = RespiraConfig.from_pretrained(tmp_path)
    assert not hasattr(config, key) and key not in config.to_dict()
    assert config.problem_type == MULTI_LABEL


# ----------------------------------------------------------------------------------------------
# losses


def test_single_label_cross_entropy(cnn: RespiraForAudioClassification, waves: torch.Tensor) -> None:
    labels = torch.tensor([0, 2, 3])
    with torch.no_grad():
        out = cnn(waves, labels=labels)
    torch.testing.assert_close(out.loss, nn.functional.cross_entropy(out.logits, labels))


def test_soft_labels_mixup(cnn: RespiraForAudioClassification, waves: torch.Tensor) -> None:
    soft = torch.tensor([[0.7, 0.3, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4]])
    with torch.no_grad():
        out = cnn(waves, labels=soft)
        hard = cnn(waves, labels=torch.tensor([1, 2, 0])).loss
        one_hot = cnn(waves, labels=nn.functional.one_hot(torch.tensor([1, 2, 0]), 4).float()).loss
    torch.testing.assert_close(out.loss, -(soft * out.logits.log_softmax(-1)).sum(-1).mean())
    torch.testing.assert_close(one_hot, hard)


def test_multi_label_bce_from_class_indices(make_model: Callable, waves: torch.Tensor) -> None:
    model = make_model("cnn", problem_type=MULTI_LABEL)
    four = torch.cat([waves, waves[:1]])
    indices = torch.tensor([0, 1, 2, 3])  # normal, crackle, wheeze, both
    flags = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    with torch.no_grad():
        out = model(four, labels=indices)
        from_flags = model(four, labels=flags).loss
    expected = nn.functional.binary_cross_entropy_with_logits(out.logits, flags)
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(from_flags, expected)


# ----------------------------------------------------------------------------------------------
# pooling


def test_mean_pooling_ignores_zero_padded_tail(make_model: Callable, waves: torch.Tensor) -> None:
    model = make_model("cnn", pad_mode="zero")
    short = waves[:, :8000]  # 0.5 s of a 1-s target: 32 of 63 log-mel frames are real
    expected = embeddings_of(model, short)
    mask = torch.zeros(3, 24000, dtype=torch.long)
    mask[:, :8000] = 1
    noise = torch.randn(3, 16000)
    for tail in (torch.zeros(3, 16000), noise):  # padded beyond the target, even with non-zeros
        padded = torch.cat([short, tail], dim=1)
        torch.testing.assert_close(embeddings_of(model, padded, attention_mask=mask), expected)
    # and the pooled embedding is the mean of the CNN steps covering real frames: ceil(32 / 8) = 4
    with torch.no_grad():
        base = model.respira(short)
    assert base.tokens.shape[1] == 7
    assert base.token_mask.sum(dim=1).tolist() == [4, 4, 4]
    torch.testing.assert_close(expected, base.tokens[:, :4].mean(dim=1))
    assert not torch.allclose(expected, base.tokens.mean(dim=1))


def _ast_encoder_input(waveforms: torch.Tensor, frames: int = AST_MAX_LENGTH) -> torch.Tensor:
    """What AST should see with ast_length_policy="pad": the normalised fbank of the first
    ``AST_SECONDS``, padded to ``max_length`` with the value of a normalised 0 (as ASTFeatureExtractor)."""
    fbank = KaldiFbank(window="hanning", normalization=AST_NORMALIZATION)(
        waveforms[:, : int(AST_SECONDS * RATE)]
    )
    pad_value = (0.0 - AST_NORMALIZATION.mean) / (2 * AST_NORMALIZATION.std)
    return nn.functional.pad(fbank, (0, 0, 0, frames - fbank.shape[1]), value=pad_value)


def test_cls_distill_pooling_uses_ast_special_tokens(make_model: Callable, ast_waves: torch.Tensor) -> None:
    model = make_model("ast", pooling="cls_distill")
    with torch.no_grad():
        hidden = model.respira.encoder(input_values=_ast_encoder_input(ast_waves)).last_hidden_state
    expected = (hidden[:, 0] + hidden[:, 1]) / 2
    torch.testing.assert_close(embeddings_of(model, ast_waves), expected, rtol=0, atol=1e-5)
    mean = make_model("ast", pooling="mean")
    assert not torch.allclose(embeddings_of(mean, ast_waves), expected, atol=1e-3)


def test_cls_pooling_needs_ast(make_model: Callable) -> None:
    with pytest.raises(StrictDataclassClassValidationError, match="CLS"):
        make_model("cnn", pooling="cls_distill")


# ----------------------------------------------------------------------------------------------
# fixed-length policy and AST length policies


def test_fixed_length_policy_recorded_and_applied(make_model: Callable, waves: torch.Tensor) -> None:
    start = make_model("cnn")
    saved = start.config.to_dict()
    assert (saved["target_seconds"], saved["pad_mode"]) == (CNN_SECONDS, "repeat")
    target = int(CNN_SECONDS * RATE)
    changed = waves.clone()
    changed[:, target:] = torch.randn(3, waves.shape[1] - target)  # differs only after the target
    torch.testing.assert_close(logits_of(start, changed), logits_of(start, waves))
    torch.testing.assert_close(logits_of(start, waves), logits_of(start, waves[:, :target]))


def test_repeat_padding_applied_to_short_cycles(make_model: Callable, waves: torch.Tensor) -> None:
    model = make_model("cnn", fade_seconds=0.0)
    short = waves[:, :6000]
    tiled = short.repeat(1, 3)[:, : int(CNN_SECONDS * RATE)]
    torch.testing.assert_close(logits_of(model, short), logits_of(model, tiled))


class _InputRecorder:
    def __init__(self, module: nn.Module) -> None:
        self.inputs: list[torch.Tensor] = []
        module.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, _module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.inputs.append(kwargs["input_values"] if "input_values" in kwargs else args[0])


@pytest.mark.filterwarnings("ignore:At least one mel filter has all zero values")
def test_ast_pad_policy_pads_fbank_to_max_length(make_model: Callable, ast_waves: torch.Tensor) -> None:
    model = make_model("ast", ast_length_policy="pad")
    recorder = _InputRecorder(model.respira.encoder)
    embeddings_of(model, ast_waves)
    (seen,) = recorder.inputs
    assert seen.shape == (2, AST_MAX_LENGTH, 128)
    assert AST_FRAMES < AST_MAX_LENGTH
    # exactly what ASTFeatureExtractor gives an AST checkpoint with this max_length
    crop = ast_waves[:, : int(AST_SECONDS * RATE)].numpy()
    expected = ASTFeatureExtractor(max_length=AST_MAX_LENGTH)(
        list(crop), sampling_rate=RATE, return_tensors="pt"
    )
    torch.testing.assert_close(seen, expected["input_values"], rtol=0, atol=1e-3)


def test_ast_adapt_policy_sizes_encoder_to_cycle(make_model: Callable, ast_waves: torch.Tensor) -> None:
    model = make_model("ast", ast_length_policy="adapt")
    assert model.config.encoder_config.max_length == AST_FRAMES
    recorder = _InputRecorder(model.respira.encoder)
    embeddings_of(model, ast_waves)
    assert recorder.inputs[0].shape == (2, AST_FRAMES, 128)
    time_patches = (AST_FRAMES - 16) // 10 + 1
    assert model.respira.encoder.embeddings.position_embeddings.shape == (1, 2 + 12 * time_patches, 32)


@pytest.fixture(scope="module")
def saved_ast_classifier(ast_encoder_config: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random ASTForAudioClassification saved as a stand-in for an AudioSet checkpoint."""
    torch.manual_seed(7)
    config = ASTConfig(**{**ast_encoder_config, "num_labels": 5})
    folder = tmp_path_factory.mktemp("tiny_ast")
    model = ASTForAudioClassification(config)
    _randomise_ast_embeddings(model.audio_spectrogram_transformer.embeddings)
    model.save_pretrained(folder)
    return folder


def test_from_encoder_pretrained_adapt_crops_positions_at_centre(saved_ast_classifier: Path) -> None:
    original = ASTForAudioClassification.from_pretrained(saved_ast_classifier).audio_spectrogram_transformer
    model = RespiraForAudioClassification.from_encoder_pretrained(
        str(saved_ast_classifier), ast_length_policy="adapt", target_seconds=AST_SECONDS
    )
    assert model.config.encoder_name_or_path == str(saved_ast_classifier)
    assert model.config.encoder_config.max_length == AST_FRAMES
    old_time, new_time = (AST_MAX_LENGTH - 16) // 10 + 1, (AST_FRAMES - 16) // 10 + 1
    assert (old_time, new_time) == (25, 19)
    old = original.embeddings.position_embeddings.detach()
    new = model.respira.encoder.embeddings.position_embeddings.detach()
    torch.testing.assert_close(new[:, :2], old[:, :2])  # CLS and distillation positions
    old_grid = old[0, 2:].reshape(12, old_time, 32)
    new_grid = new[0, 2:].reshape(12, new_time, 32)
    start = (old_time - new_time) // 2
    torch.testing.assert_close(new_grid, old_grid[:, start : start + new_time])
    for name, value in original.state_dict().items():  # every other weight copied as is
        if name != "embeddings.position_embeddings":
            torch.testing.assert_close(model.respira.encoder.state_dict()[name], value, msg=name)

    padded = RespiraForAudioClassification.from_encoder_pretrained(str(saved_ast_classifier))
    torch.testing.assert_close(padded.respira.encoder.embeddings.position_embeddings, old)


# ----------------------------------------------------------------------------------------------
# frozen encoder and cached embeddings


def test_freeze_encoder(make_model: Callable, waves: torch.Tensor) -> None:
    model = make_model("cnn", encoder_kwargs={"dropout": 0.5})
    assert model.config.encoder_config.dropout == 0.5
    model.freeze_encoder()
    assert model.config.freeze_encoder
    encoder = model.respira.encoder
    assert not any(p.requires_grad for p in encoder.parameters())
    model.train()
    assert not any(m.training for m in encoder.modules())
    assert model.classifier.training and model.training
    list(encoder.modules())[-1].train()  # one encoder module switched behind the model's back
    model.train()  # (the Trainer calls train() at every step)
    assert not any(m.training for m in encoder.modules())
    model.eval()
    assert not model.classifier.training and not model.respira.training
    model.train()
    assert model.classifier.training and model.respira.training and not encoder.training
    running = {k: v.clone() for k, v in encoder.state_dict().items() if "running" in k}
    first = model(waves, labels=torch.tensor([0, 1, 2]))
    second = model(waves)
    for name, value in encoder.state_dict().items():
        if "running" in name:
            torch.testing.assert_close(value, running[name], msg=name)  # batch-norm statistics frozen
    torch.testing.assert_close(first.embeddings, second.embeddings)  # encoder dropout inactive
    first.loss.backward()
    assert all(p.grad is None for p in encoder.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.classifier.parameters())

    rebuilt = RespiraForAudioClassification(model.config).train()  # the flag travels with the config
    assert not any(p.requires_grad for p in rebuilt.respira.encoder.parameters())
    assert not rebuilt.respira.encoder.training
    model.freeze_encoder(False)  # the contrastive two-stage schedule's encoder stage
    assert not model.config.freeze_encoder and all(p.requires_grad for p in encoder.parameters())
    assert encoder.training  # back in the model's training mode


def test_embed_and_cached_embeddings(make_model: Callable, waves: torch.Tensor) -> None:
    model = make_model("cnn").train()
    cached = torch.from_numpy(embed_waveforms(model, waves.numpy()))
    assert model.training and model.respira.encoder.training and model.classifier.training
    model.eval()
    with torch.no_grad():
        out = model(waves)
        from_cache = model(embeddings=cached)
    torch.testing.assert_close(cached, out.embeddings)
    torch.testing.assert_close(from_cache.logits, out.logits)
    torch.testing.assert_close(from_cache.projections, out.projections)
    with pytest.raises(ValueError, match="embeddings"):
        model()


def test_head_norm_standardises_embeddings_and_saves_its_statistics(
    make_model: Callable, waves: torch.Tensor, tmp_path: Path
) -> None:
    model = make_model("cnn", head_norm=True, head_dropout=0.0, freeze_encoder=True)
    assert make_model("cnn").head_norm is None  # off by default
    assert make_model("cnn", head_norm=True).head_norm.momentum == 0.1  # a trained encoder drifts
    embeddings = 0.05 * torch.randn(8, model.config.hidden_size) + 0.5  # small spread, off zero
    linear = model.classifier[-1]
    model.train()
    with torch.no_grad():
        model(embeddings=embeddings)
    normalised = model.head_norm(embeddings)  # still training: batch statistics
    torch.testing.assert_close(normalised.mean(0), torch.zeros(model.config.hidden_size), atol=1e-4, rtol=0)
    assert normalised.std(0).min() > 0.9  # every feature brought to unit scale
    assert int(model.head_norm.num_batches_tracked) == 2  # the same batch, twice
    # the running statistics are the average over the batches seen, from the first batch on (an
    # exponential average would still hold most of its initial zeros and ones)
    torch.testing.assert_close(model.head_norm.running_mean, embeddings.mean(0))
    torch.testing.assert_close(model.head_norm.running_var, embeddings.var(0))
    second = 0.05 * torch.randn(8, model.config.hidden_size) - 0.5
    with torch.no_grad():
        model(embeddings=second)
    torch.testing.assert_close(model.head_norm.running_mean, (2 * embeddings.mean(0) + second.mean(0)) / 3)
    torch.testing.assert_close(model.head_norm.running_var, (2 * embeddings.var(0) + second.var(0)) / 3)
    with torch.no_grad():
        model(embeddings=embeddings[:1])  # one-example training batch: running statistics, no error
    model.eval()
    with torch.no_grad():  # evaluation: the running statistics, as a linear layer on the raw embeddings
        logits = model(embeddings=embeddings).logits
        mean, var = model.head_norm.running_mean, model.head_norm.running_var
        expected = linear((embeddings - mean) / torch.sqrt(var + model.head_norm.eps))
    torch.testing.assert_close(logits, expected)
    model.save_pretrained(tmp_path)
    loaded = RespiraForAudioClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.head_norm
    torch.testing.assert_close(loaded.head_norm.running_mean, mean)
    torch.testing.assert_close(logits_of(loaded, embeddings=embeddings), logits)
    torch.testing.assert_close(logits_of(loaded, waves), logits_of(model, waves))


# ----------------------------------------------------------------------------------------------
# bad and unusual inputs


def test_wrong_sampling_rate_names_both_rates(
    cnn: RespiraForAudioClassification, waves: torch.Tensor
) -> None:
    with pytest.raises(ValueError, match="44100") as error:
        cnn(waves, sampling_rate=44100)
    assert "16000" in str(error.value)
    logits_of(cnn, waves, sampling_rate=RATE)  # the right rate is accepted


def test_empty_masked_and_non_finite_inputs_rejected(cnn: RespiraForAudioClassification) -> None:
    with pytest.raises(ValueError, match="empty"):
        cnn(torch.zeros(2, 0))
    mask = torch.ones(2, 1000, dtype=torch.long)
    mask[1] = 0
    with pytest.raises(ValueError, match=r"\[1\]"):
        cnn(torch.randn(2, 1000), attention_mask=mask)
    for bad in (float("nan"), float("inf")):
        x = torch.randn(2, 1000)
        x[1, 500] = bad
        with pytest.raises(ValueError, match="NaN"):
            cnn(x)
    with pytest.raises(ValueError, match="shape"):
        cnn(torch.randn(1, 1, 2, 1000))


def test_ten_minute_input_is_cropped(cnn: RespiraForAudioClassification) -> None:
    generator = torch.Generator().manual_seed(3)
    long = 0.1 * torch.randn(1, 10 * 60 * RATE, generator=generator)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    logits = logits_of(cnn, long)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    torch.testing.assert_close(logits, logits_of(cnn, long[:, : int(CNN_SECONDS * RATE)]))
    # featurizing all 10 minutes would need several hundred MiB; the crop needs a few
    assert grown_mib < 150, f"peak memory grew by {grown_mib:.0f} MiB"


def test_multichannel_is_down_mixed_and_1d_is_one_example(
    cnn: RespiraForAudioClassification, waves: torch.Tensor
) -> None:
    stereo = torch.stack([waves, 0.5 * waves.flip(0)], dim=1)  # [batch, channels, samples]
    torch.testing.assert_close(logits_of(cnn, stereo), logits_of(cnn, stereo.mean(dim=1)))
    one = logits_of(cnn, waves[0])
    assert one.shape == (1, 4)
    torch.testing.assert_close(one, logits_of(cnn, waves[:1]))


def test_padded_batch_equals_one_by_one(cnn: RespiraForAudioClassification, waves: torch.Tensor) -> None:
    """A feature-extractor batch (zero padding + attention mask) gives each cycle its own logits."""
    extractor = RespiraFeatureExtractor()
    rows = [waves[0, :5000].numpy(), waves[1].numpy(), waves[2, :12000].numpy()]
    batch = extractor(rows, sampling_rate=RATE, return_tensors="pt")
    assert batch["input_values"].shape == (3, waves.shape[1])
    assert batch["attention_mask"].sum(dim=1).tolist() == [5000, waves.shape[1], 12000]
    batched = logits_of(cnn, **batch)
    for row, waveform in zip(batched, rows, strict=True):
        torch.testing.assert_close(row, logits_of(cnn, torch.from_numpy(waveform))[0], rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# LoRA


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning")  # peft ↔ transformers
def test_lora_trains_only_adapters_and_classifier(
    ast: RespiraForAudioClassification, ast_waves: torch.Tensor
) -> None:
    peft = pytest.importorskip("peft")
    model = peft.get_peft_model(
        copy.deepcopy(ast),
        peft.LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], modules_to_save=["classifier"]
        ),
    )
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    lora = {name for name in trainable if "lora_" in name}
    head = {name for name in trainable if "classifier" in name and "modules_to_save" in name}
    assert len(lora) == 2 * 2 * 2  # 2 layers × (q, v) × (A, B)
    assert all(".q_proj." in n or ".v_proj." in n for n in lora)
    assert len(head) == 2  # the classifier's weight and bias (a trainable copy)
    assert trainable == lora | head

    model.train()
    out = model(input_values=ast_waves, labels=torch.tensor([1, 3]))
    assert out.logits.shape == (2, 4)
    out.loss.backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    base_q = next(
        p for n, p in model.named_parameters() if n.endswith("layers.0.attention.q_proj.base_layer.weight")
    )
    before = base_q.detach().clone()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    torch.testing.assert_close(base_q, before, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------
# pipeline("audio-classification") and the feature extractor


@pytest.fixture(scope="module")
def pipeline_folder(cnn: RespiraForAudioClassification, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("respira_cnn_pipeline")
    cnn.save_pretrained(folder)
    RespiraFeatureExtractor().save_pretrained(folder)
    return folder


def _top(model: nn.Module, waveform: np.ndarray) -> tuple[str, float]:
    waveform = torch.from_numpy(np.array(waveform, dtype=np.float32))  # a writable copy
    probabilities = logits_of(model, waveform[None])[0].softmax(-1)
    index = int(probabilities.argmax())
    return model.config.id2label[index], float(probabilities[index])


def test_pipeline_on_raw_array(pipeline_folder: Path, cnn: RespiraForAudioClassification) -> None:
    classify = transformers.pipeline("audio-classification", model=str(pipeline_folder))
    # 0.9 s: within the model's fixed length (the pipeline windows longer inputs, see test_pipeline_respira)
    audio = (0.1 * np.random.default_rng(0).standard_normal(int(0.9 * RATE))).astype(np.float32)
    result = classify(audio)
    assert [r["label"] for r in result] != [] and len(result) == 4
    label, score = _top(cnn, audio)
    assert result[0]["label"] == label
    assert abs(result[0]["score"] - score) < 1e-4


def test_pipeline_on_44k_stereo_wav(
    pipeline_folder: Path, cnn: RespiraForAudioClassification, tmp_path: Path
) -> None:
    """The pipeline reads files as respira predict does (respira.models.respira.audio_decoding.read_audio:
    channels averaged, soxr to 16 kHz); compared with the model on that same audio (to 1e-4), after checking
    the read against a down-mix and soxr resampling by hand."""
    rng = np.random.default_rng(1)
    t = np.arange(int(0.9 * 44100)) / 44100  # within the model's fixed length: one pass, no windows
    left = 0.3 * np.sin(2 * np.pi * 300 * t) + 0.01 * rng.standard_normal(t.size)
    right = 0.2 * np.sin(2 * np.pi * 900 * t)
    path = tmp_path / "cycle.wav"
    sf.write(path, np.stack([left, right], axis=1).astype(np.float32), 44100, subtype="FLOAT")
    classify = transformers.pipeline(
        "audio-classification", model=str(pipeline_folder), pipeline_class=RespiraAudioClassificationPipeline
    )
    result = classify(str(path))

    decoded = read_audio(path, RATE)
    reference = soxr.resample(((left + right) / 2).astype(np.float32), 44100, RATE, quality="HQ")
    np.testing.assert_allclose(decoded, reference, atol=1e-5)
    label, score = _top(cnn, decoded)
    assert result[0]["label"] == label
    assert abs(result[0]["score"] - score) < 1e-4


def test_feature_extractor_resamples_with_soxr() -> None:
    audio = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32)
    out = RespiraFeatureExtractor()(audio, sampling_rate=44100, return_tensors="np")
    expected = soxr.resample(audio, 44100, RATE, quality="HQ")
    np.testing.assert_allclose(out["input_values"][0], expected, atol=1e-6)
    assert out["attention_mask"].shape == (1, RATE)


def test_feature_extractor_rejects_bad_audio() -> None:
    extractor = RespiraFeatureExtractor()
    with pytest.raises(ValueError, match="NaN"):
        extractor(np.array([0.0, np.nan, 0.1], dtype=np.float32), sampling_rate=RATE)
    with pytest.raises(ValueError, match="empty"):
        extractor(np.zeros(0, dtype=np.float32), sampling_rate=RATE)
    with pytest.raises(ValueError, match="empty"):
        extractor([np.ones(10, dtype=np.float32), np.zeros(0, dtype=np.float32)], sampling_rate=RATE)
    with pytest.raises(ValueError, match="mono"):
        extractor([np.zeros((1000, 2), dtype=np.float32)], sampling_rate=RATE)  # a stereo file's array
    with pytest.raises(ValueError, match="mono"):
        extractor(np.zeros((2, 1000, 2), dtype=np.float32), sampling_rate=RATE)

"""Half precision for every encoder family: ``.to(bfloat16 | float16)`` and ``from_pretrained(dtype=...)``.

The featurizer computes in float32 (its buffers stay float32) and hands the encoder its dtype.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers
from torch import nn
from transformers import AutoModelForAudioClassification

from respira.inference.embeddings import embed_waveforms
from respira.models import RespiraFeatureExtractor, RespiraForAudioClassification

from .encoder_tester import CASES

RATE = 16000


def tiny_model(name: str, **kwargs) -> RespiraForAudioClassification:
    """The encoder tester's tiny model of family ``name`` (batch-norm statistics moved, eval mode)."""
    return CASES[name].model(**kwargs)


HALF = (torch.bfloat16, torch.float16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def waves() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return 0.1 * torch.randn(2, RATE, generator=generator)


def _featurizer_buffers(model: RespiraForAudioClassification) -> dict[str, torch.dtype]:
    return {name: buffer.dtype for name, buffer in model.respira.featurizer.named_buffers()}


def _check_half(
    model: RespiraForAudioClassification, dtype: torch.dtype, reference, waves: torch.Tensor
) -> None:
    """Featurizer float32, weights and outputs in ``dtype``, outputs close to the float32 ``reference``."""
    assert set(_featurizer_buffers(model).values()) <= {torch.float32}  # a waveform model: none
    assert {p.dtype for p in model.parameters()} == {dtype}
    with torch.no_grad():
        output = model(waves)
    assert output.logits.dtype == dtype and output.embeddings.dtype == dtype
    assert torch.isfinite(output.logits).all()
    # 8 (bf16) or 11 (fp16) mantissa bits through up to 15 blocks (EfficientAT): close, not equal
    similarity = nn.functional.cosine_similarity(
        output.embeddings.float().cpu(), reference.embeddings.float(), dim=-1
    )
    assert (similarity > 0.95).all(), similarity
    error = (output.logits.float().cpu() - reference.logits.float()).abs().max()
    assert error <= 0.25 * reference.logits.abs().max() + 0.01, error


@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_model_to_half_precision(name: str, dtype: torch.dtype, waves: torch.Tensor) -> None:
    model = tiny_model(name, target_seconds=1.0)
    lengths = torch.full((waves.shape[0],), waves.shape[1])
    with torch.no_grad():
        reference = model(waves)
        features, _ = model.respira.featurizer(waves, lengths)
    _check_half(model.to(dtype), dtype, reference, waves)
    with torch.no_grad():  # the featurizer computes exactly as before, in float32
        half_features, _ = model.respira.featurizer(waves, lengths)
    assert half_features.dtype == torch.float32
    torch.testing.assert_close(half_features, features, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(CASES))
def test_from_pretrained_with_a_half_dtype(name: str, waves: torch.Tensor, tmp_path: Path) -> None:
    model = tiny_model(name, target_seconds=1.0)
    model.save_pretrained(tmp_path)
    with torch.no_grad():
        reference = model(waves)
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert isinstance(loaded, RespiraForAudioClassification)
    _check_half(loaded, torch.bfloat16, reference, waves)


def test_half_precision_head_on_cached_float32_embeddings(waves: torch.Tensor) -> None:
    model = tiny_model("cnn", target_seconds=1.0)
    embeddings = torch.from_numpy(embed_waveforms(model, waves.numpy()))  # cached in float32
    model.to(torch.bfloat16)
    logits = model(embeddings=embeddings).logits
    assert logits.dtype == torch.bfloat16


def test_half_precision_pipeline(tmp_path: Path) -> None:
    model = tiny_model("cnn", target_seconds=1.0)
    model.save_pretrained(tmp_path)
    RespiraFeatureExtractor().save_pretrained(tmp_path)
    classify = transformers.pipeline("audio-classification", model=str(tmp_path), dtype=torch.bfloat16)
    assert classify.model.dtype == torch.bfloat16
    audio = 0.1 * torch.randn(RATE, generator=torch.Generator().manual_seed(1))
    result = classify(audio.numpy())
    with torch.no_grad():
        expected = model(audio[None]).logits.softmax(-1)[0]
    assert result[0]["label"] == model.config.id2label[int(expected.argmax())]
    assert abs(result[0]["score"] - float(expected.max())) < 0.05


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("name", list(CASES))
def test_half_precision_on_gpu(name: str, dtype: torch.dtype, waves: torch.Tensor) -> None:
    model = tiny_model(name, target_seconds=1.0)
    with torch.no_grad():
        reference = model(waves)
    model.to("cuda", dtype)
    _check_half(model, dtype, reference, waves.cuda())

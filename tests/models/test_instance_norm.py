"""Per-recording standardisation (config.instance_norm) and the shared head trunk (head_hidden_size)."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError

from respira import RespiraConfig, RespiraForAudioClassification
from respira.labels import MULTI_LABEL
from respira.models.respira.instance_norm import standardize_embeddings, subtract_band_means

from .encoder_tester import CASES, waveforms

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_band_means_are_removed_over_real_frames_only() -> None:
    features = torch.tensor([[[1.0, 10.0], [3.0, 20.0], [100.0, -5.0]]])  # [1, 3 frames, 2 bins]
    mask = torch.tensor([[True, True, False]])  # the last frame is padding
    got = subtract_band_means(features, mask)
    # band means over the 2 real frames: 2 and 15
    assert torch.allclose(got, torch.tensor([[[-1.0, -5.0], [1.0, 5.0], [0.0, 0.0]]]))


def test_band_normalisation_is_invariant_to_a_per_band_offset() -> None:
    features = torch.randn(2, 7, 5, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 7, dtype=torch.bool)
    offset = torch.randn(2, 1, 5) * 3  # a gain (same in every band) plus a filter (per band), per recording
    assert torch.allclose(
        subtract_band_means(features + offset, mask), subtract_band_means(features, mask), atol=1e-5
    )


def test_embedding_standardisation_is_invariant_to_a_per_recording_gain_and_offset() -> None:
    embeddings = torch.randn(4, 16, generator=torch.Generator().manual_seed(1))
    gain, offset = torch.tensor([[0.5], [2.0], [7.0], [1.0]]), torch.tensor([[3.0], [-1.0], [0.0], [10.0]])
    got = standardize_embeddings(embeddings * gain + offset)
    assert torch.allclose(got, standardize_embeddings(embeddings), atol=1e-4)
    assert torch.allclose(got.mean(-1), torch.zeros(4), atol=1e-5)
    assert torch.allclose(got.var(-1, unbiased=False), torch.ones(4), atol=1e-3)


def cnn(**options) -> RespiraForAudioClassification:
    return CASES["cnn"].model(problem_type=MULTI_LABEL, **options)


def test_features_mode_makes_the_model_invariant_to_the_recording_gain() -> None:
    audio = waveforms(seed=3)
    normalised, plain = cnn(instance_norm="features"), cnn()
    with torch.no_grad():
        quiet = normalised(input_values=0.25 * audio).logits
        loud = normalised(input_values=audio).logits
        assert torch.allclose(quiet, loud, atol=1e-3)
        # without it the same gain moves the logits: the invariance comes from the option
        assert not torch.allclose(
            plain(input_values=0.25 * audio).logits, plain(input_values=audio).logits, atol=1e-3
        )


def test_embeddings_mode_applies_to_waveforms_and_cached_embeddings_alike() -> None:
    model = cnn(instance_norm="embeddings", head_norm=True)
    audio = waveforms(seed=4)
    with torch.no_grad():
        from_audio = model(input_values=audio).logits
        cached = model.embed(audio)  # what the embedding cache stores: the raw pooled embedding
        assert torch.allclose(model(embeddings=cached).logits, from_audio, atol=1e-5)
        # a per-embedding gain and offset of the pooled embedding changes nothing
        assert torch.allclose(model(embeddings=3.0 * cached + 1.0).logits, from_audio, atol=1e-4)
        assert torch.allclose(model.head_input(cached), standardize_embeddings(cached))


def test_the_head_trunk_feeds_the_classifier_and_the_projector() -> None:
    model = cnn(head_hidden_size=12, projector_dim=8)
    assert model.classifier[-1].in_features == 12
    assert model.projector[0].in_features == 12
    embeddings = torch.randn(5, model.config.hidden_size)
    output = model(embeddings=embeddings)
    output.projections.sum().backward()  # the projections' gradient reaches the classifier's input layer
    assert model.head_trunk[0].weight.grad is not None and model.head_trunk[0].weight.grad.abs().sum() > 0


def test_bad_options_are_one_line() -> None:
    with pytest.raises(
        StrictDataclassClassValidationError, match="instance_norm='bands' is not one of features, embeddings"
    ):
        RespiraConfig(instance_norm="bands")
    with pytest.raises(
        StrictDataclassClassValidationError, match="head_hidden_size must be a positive whole number, got 0"
    ):
        RespiraConfig(head_hidden_size=0)

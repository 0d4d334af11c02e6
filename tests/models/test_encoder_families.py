"""Every encoder family of the registry (CNN, AST, BEATs, EfficientAT) through the shared tiny-config
tester.

The same checks run for each family inside ``RespiraForAudioClassification``: forward shapes,
``save_pretrained``/``from_pretrained`` round trip, backward with the encoder trainable and
frozen, and ``output_hidden_states``. Tiny models are built once per family (module scope).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForAudioClassification

from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.models.respira.encoders import encoder_names

from .encoder_tester import (
    BATCH,
    CASES,
    EncoderCase,
    InputRecorder,
    gradient_report,
    trained_copy,
    waveforms,
)

FAMILIES = encoder_names()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=FAMILIES)
def case(request: pytest.FixtureRequest) -> EncoderCase:
    if request.param not in CASES:
        pytest.fail(f"encoder family {request.param!r} has no tiny EncoderCase in encoder_tester.py")
    return CASES[request.param]


def test_every_registered_family_has_a_tiny_case() -> None:
    assert set(CASES) == set(FAMILIES)


@pytest.fixture(scope="module")
def model(case: EncoderCase) -> RespiraForAudioClassification:
    """The family's tiny single-label classifier, eval mode (shared: tests must not change it)."""
    return case.model()


@pytest.fixture(scope="module")
def waves() -> torch.Tensor:
    return waveforms()


def _logits(model: RespiraForAudioClassification, waves: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(waves).logits


def test_the_tiny_model_has_the_family_encoder(
    case: EncoderCase, model: RespiraForAudioClassification
) -> None:
    assert model.config.encoder_config.model_type == case.spec.model_type
    assert model.respira.encoder.config.model_type == case.spec.model_type
    assert model.config.featurizer == case.spec.featurizer
    assert sum(p.numel() for p in model.parameters()) < 2_000_000  # tiny: the suite stays fast


@pytest.mark.parametrize("problem_type", ["single_label_classification", "multi_label_classification"])
def test_forward_shapes(
    case: EncoderCase, model: RespiraForAudioClassification, waves: torch.Tensor, problem_type: str
) -> None:
    if problem_type != model.config.problem_type:
        model = case.model(problem_type=problem_type)
    with torch.no_grad():
        out = model(waves)
    labels = 4 if problem_type == "single_label_classification" else 2
    assert out.logits.shape == (BATCH, labels)
    assert out.embeddings.shape == (BATCH, model.config.hidden_size)
    assert out.projections.shape == (BATCH, 128)
    torch.testing.assert_close(out.projections.norm(dim=-1), torch.ones(BATCH))
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.embeddings).all()
    for first in range(BATCH):  # rows are neither mixed up nor collapsed
        for second in range(first + 1, BATCH):
            assert not torch.allclose(out.embeddings[first], out.embeddings[second])
    with torch.no_grad():  # each row's output is its own: batch of one gives the same
        alone = model(waves[1:2])
    torch.testing.assert_close(alone.logits, out.logits[1:2], rtol=1e-4, atol=1e-5)


def test_save_pretrained_round_trip(
    case: EncoderCase, model: RespiraForAudioClassification, waves: torch.Tensor, tmp_path: Path
) -> None:
    expected = _logits(model, waves)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()

    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, RespiraConfig)
    assert type(config.encoder_config) is type(model.config.encoder_config)
    assert config.encoder_config.to_dict() == model.config.encoder_config.to_dict()
    assert config.featurizer == model.config.featurizer

    fresh = case.model(seed=123)  # another init: what the loaded weights must overwrite
    assert not torch.allclose(_logits(fresh, waves), expected)
    torch.manual_seed(123)
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, RespiraForAudioClassification)
    torch.testing.assert_close(_logits(loaded, waves), expected, rtol=0, atol=0)
    for name, buffer in model.named_buffers():  # derived buffers (windows, mel banks) recomputed
        torch.testing.assert_close(loaded.get_buffer(name), buffer, rtol=0, atol=0, msg=name)


def test_backward_reaches_every_encoder_parameter(
    model: RespiraForAudioClassification, waves: torch.Tensor
) -> None:
    twin = trained_copy(model)
    out = twin(waves, labels=torch.tensor([0, 1, 3]))
    (out.loss + out.projections[:, 0].sum()).backward()  # the projector feeds auxiliary losses
    reached, missed = gradient_report(twin, "respira.encoder.")
    assert reached and not missed, missed
    _, head_missed = gradient_report(twin, "classifier.")
    assert not head_missed, head_missed


def test_frozen_encoder_gets_no_gradient(model: RespiraForAudioClassification, waves: torch.Tensor) -> None:
    twin = trained_copy(model)
    twin.freeze_encoder()
    assert not twin.respira.encoder.training  # dropout off, batch-norm statistics frozen
    statistics = {k: v.clone() for k, v in twin.respira.encoder.state_dict().items() if "running" in k}
    out = twin(waves, labels=torch.tensor([0, 1, 3]))
    (out.loss + out.projections[:, 0].sum()).backward()
    reached, missed = gradient_report(twin, "respira.encoder.")
    assert missed and not reached, reached
    assert all(p.grad is None for p in twin.respira.encoder.parameters())
    _, head_missed = gradient_report(twin, "classifier.")
    assert not head_missed, head_missed
    for name, value in twin.respira.encoder.state_dict().items():
        if name in statistics:
            torch.testing.assert_close(value, statistics[name], rtol=0, atol=0, msg=name)


def test_output_hidden_states_are_the_encoders(
    case: EncoderCase, model: RespiraForAudioClassification, waves: torch.Tensor
) -> None:
    encoder = model.respira.encoder
    recorder = InputRecorder(encoder)
    try:
        with torch.no_grad():
            without = model(waves)
            out = model(waves, output_hidden_states=True)
    finally:
        recorder.remove()
    assert without.hidden_states is None
    torch.testing.assert_close(out.logits, without.logits, rtol=0, atol=0)
    assert isinstance(out.hidden_states, tuple)
    assert len(out.hidden_states) == case.num_hidden_states(encoder)
    with torch.no_grad():  # the encoder run on its own, on the inputs respira gave it
        direct = encoder(**recorder.kwargs, output_hidden_states=True)
    assert len(direct.hidden_states) == len(out.hidden_states)
    for ours, theirs in zip(out.hidden_states, direct.hidden_states, strict=True):
        assert ours.shape[0] == BATCH
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    for earlier, later in zip(out.hidden_states[:-1], out.hidden_states[1:], strict=True):  # one per step
        assert earlier.shape != later.shape or not torch.equal(earlier, later)


@pytest.mark.parametrize("problem_type", ["single_label_classification", "multi_label_classification"])
def test_frame_logits_are_the_head_on_each_time_step_and_average_to_the_logits(
    case: EncoderCase, model: RespiraForAudioClassification, waves: torch.Tensor, problem_type: str
) -> None:
    """With mean pooling and a linear head, the masked mean of the frame logits is the clip's logits
    (the head is linear and each step is the mean of its frequency patches); the steps' centres rise
    evenly inside the model's input length."""
    if problem_type != model.config.problem_type:
        model = case.model(problem_type=problem_type)
    with torch.no_grad():
        out = model(waves, output_frames=True)
        plain = model(waves)
    steps = out.frame_logits.shape[1]
    assert out.frame_logits.shape == (BATCH, steps, plain.logits.shape[1]) and steps >= 2
    assert out.frame_mask.shape == (BATCH, steps) and out.frame_mask.dtype == torch.bool
    weights = out.frame_mask.float().unsqueeze(-1)
    pooled = (out.frame_logits * weights).sum(dim=1) / weights.sum(dim=1)
    torch.testing.assert_close(pooled, plain.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.logits, plain.logits)
    assert not torch.allclose(out.frame_logits[:, 0], out.frame_logits[:, -1])  # steps differ
    times = out.frame_times
    assert times.shape == (steps,) and float(times[0]) > 0
    gaps = times.diff()
    torch.testing.assert_close(gaps, gaps[:1].expand_as(gaps))
    real = int(out.frame_mask[0].sum())
    assert float(times[real - 1]) < model.config.target_seconds < float(times[real - 1] + 2 * gaps[0])


def test_frame_outputs_need_waveforms(model: RespiraForAudioClassification) -> None:
    with pytest.raises(ValueError, match="output_frames needs input_values"):
        model(embeddings=torch.zeros(1, model.config.hidden_size), output_frames=True)


def test_time_steps_in_training_never_move_head_norm_statistics(
    case: EncoderCase, waves: torch.Tensor
) -> None:
    """Training time steps (the frame loss) standardises them as deployment does, by the running statistics
    of pooled embeddings, which only pooled embeddings update."""
    clips, frames = case.model(head_norm=True), case.model(head_norm=True)
    for model, output_frames in ((clips, False), (frames, True)):
        model.train()
        with torch.no_grad():
            model(waves)
            model(waves, output_frames=output_frames)
    moved = clips.head_norm.running_mean
    assert not torch.equal(moved, torch.zeros_like(moved))
    torch.testing.assert_close(frames.head_norm.running_mean, moved, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(
        frames.head_norm.running_var, clips.head_norm.running_var, rtol=1e-5, atol=1e-7
    )


def test_autopool_logits_are_the_auto_pool_of_the_frame_logits(
    case: EncoderCase, waves: torch.Tensor
) -> None:
    """pooling=autopool: each clip logit is the logit of the steps' probabilities averaged with weights
    softmax(step logits) over the real steps, written out here by hand; cached embeddings are refused."""
    model = case.model(pooling="autopool", problem_type="multi_label_classification")
    with torch.no_grad():
        out = model(waves, output_frames=True)
        plain = model(waves)
    torch.testing.assert_close(out.logits, plain.logits)
    for row in range(waves.shape[0]):
        steps = out.frame_logits[row][out.frame_mask[row]].double()  # [real steps, labels]
        probability = (steps.softmax(dim=0) * steps.sigmoid()).sum(dim=0)
        expected = torch.log(probability / (1 - probability))
        torch.testing.assert_close(plain.logits[row].double(), expected, rtol=1e-4, atol=1e-5)
        assert bool((plain.logits[row] <= steps.max(dim=0).values + 1e-5).all())  # never above the max
    with pytest.raises(ValueError, match="pooling='autopool' needs input_values"):
        model(embeddings=torch.zeros(1, model.config.hidden_size))

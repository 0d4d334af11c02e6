"""respira.inference.forward: windows of many items batched across them (:func:`batched`), and the CPU
inference form: batch norms folded into the convolutions, same outputs, the model untouched."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from respira import RespiraConfig, RespiraForAudioClassification
from respira.inference.forward import (
    InferenceForm,
    activations_in_place,
    batched,
    computing_in_place,
    fold_batch_norms,
    foldable_pairs,
    forward,
    inference_form,
    runs_on_cpu,
)
from respira.models.respira.audio_decoding import pad_batch

from ..models.encoder_tester import CASES


def _model(encoder: str) -> RespiraForAudioClassification:
    case = CASES[encoder]
    torch.manual_seed(0)
    config = RespiraConfig(
        encoder_config=case.encoder_config().to_dict(),
        target_seconds=case.target_seconds,
        head_hidden_size=16,
        **case.config_kwargs,
    )
    model = RespiraForAudioClassification(config).eval()
    for module in model.modules():  # statistics far from the (0, 1) a fresh norm has: folding must use them
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model


@pytest.fixture(scope="module", params=["efficientat", "cnn"])
def model(request: pytest.FixtureRequest) -> RespiraForAudioClassification:
    return _model(request.param)


def _outputs(model: nn.Module, waveforms: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_values=waveforms).logits


def test_the_form_computes_what_the_model_computes(model: RespiraForAudioClassification) -> None:
    waveforms = torch.randn(3, 16000, generator=torch.Generator().manual_seed(1)) * 0.1
    form = inference_form(model)
    assert form is not model
    expected, got = _outputs(model, waveforms), _outputs(form, waveforms)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_every_norm_is_folded_and_the_convolutions_run_channels_last(
    model: RespiraForAudioClassification,
) -> None:
    pairs = len(list(foldable_pairs(model)))
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.respira.encoder.modules())
    assert pairs == norms > 0  # every encoder norm follows a convolution in both families
    form = copy.deepcopy(model)
    assert fold_batch_norms(form) == pairs
    assert not any(isinstance(m, nn.BatchNorm2d) for m in form.modules())
    convolutions = [m for m in form.modules() if isinstance(m, nn.Conv2d)]
    assert convolutions and all(c.bias is not None for c in convolutions)
    # strides, not is_contiguous(): a 1×1 or depthwise kernel passes both layouts' contiguity checks
    channels_last = [torch.empty_like(c.weight, memory_format=torch.channels_last) for c in convolutions]
    assert [c.weight.stride() for c in convolutions] == [w.stride() for w in channels_last]
    nchw = [torch.empty_like(c.weight, memory_format=torch.contiguous_format) for c in convolutions]
    assert [c.weight.stride() for c in convolutions] != [w.stride() for w in nchw]


def test_the_model_itself_is_left_as_loaded(model: RespiraForAudioClassification) -> None:
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    form = inference_form(model)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert all(not p.requires_grad for p in form.parameters())
    assert form.config is model.config  # a threshold changed on the model holds for the form


def test_a_model_without_conv_norm_pairs_is_its_own_form() -> None:
    ast = _model("ast")
    assert next(iter(foldable_pairs(ast)), None) is None
    assert inference_form(ast) is ast


def test_an_activation_shared_by_two_places_does_not_compute_in_place() -> None:
    shared = nn.ReLU()
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), shared, nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2))
    own = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), shared)
    tree = nn.ModuleList([net, own]).eval()
    assert fold_batch_norms(tree) == 3
    assert not shared.inplace and own[2].inplace


def test_a_pass_runs_the_activations_after_a_norm_in_place_with_the_same_values(
    model: RespiraForAudioClassification,
) -> None:
    model = copy.deepcopy(model)
    activations = activations_in_place(model)
    before = [activation.inplace for activation in activations]
    assert activations  # the ReLU / Hardswish after each encoder norm
    during: list[bool] = []
    for activation in activations:
        activation.register_forward_hook(lambda module, *_: during.append(module.inplace))
    waveforms = [np.random.default_rng(3).standard_normal(n).astype(np.float32) * 0.1 for n in (9000, 16000)]
    with computing_in_place(model):
        embeddings = np.stack(forward(model, waveforms, "embeddings"))
    assert during and all(during)
    assert [activation.inplace for activation in activations] == before  # put back as they were
    during.clear()
    with torch.inference_mode():  # the model as it is, activations not in place
        values, mask = pad_batch(waveforms)
        expected = model(input_values=values, attention_mask=mask).embeddings.numpy()
    assert during == before
    np.testing.assert_array_equal(embeddings, expected)


def test_the_form_is_rebuilt_when_the_model_changes_and_reused_otherwise(
    model: RespiraForAudioClassification,
) -> None:
    model = copy.deepcopy(model)
    keeper = InferenceForm()
    form = keeper.get(model)
    assert keeper.get(model) is form
    waveforms = torch.randn(2, 16000, generator=torch.Generator().manual_seed(2)) * 0.1
    with torch.no_grad():  # as a site fit changes the head in place
        list(model.parameters())[-1].add_(1.0)
    rebuilt = keeper.get(model)
    assert rebuilt is not form
    torch.testing.assert_close(_outputs(rebuilt, waveforms), _outputs(model, waveforms), atol=1e-5, rtol=1e-4)
    other = copy.deepcopy(model)
    assert keeper.get(other) is not rebuilt  # another model object


def test_off_the_cpu_or_without_torch_the_model_runs_as_it_is() -> None:
    keeper = InferenceForm()
    runner = object()  # an ONNX export's runner
    assert keeper.get(runner) is runner and runs_on_cpu(runner)
    model = _model("cnn")
    assert runs_on_cpu(model)
    model.respira.encoder.register_buffer("elsewhere", torch.zeros(1, device="meta"))
    assert not runs_on_cpu(model) and keeper.get(model) is model  # one tensor off the CPU is enough
    if torch.cuda.is_available():
        gpu = _model("efficientat").cuda()
        assert not runs_on_cpu(gpu) and keeper.get(gpu) is gpu


@pytest.mark.real_data
def test_the_shipped_detector_decides_every_window_as_its_model_does(shared_kauh: Path) -> None:
    """On real recordings of another hospital (KAUH: 4 kHz, a different stethoscope), the detector's
    inference form gives the loaded model's window probabilities to 1e-5 and the same labels and verdicts."""
    from respira.inference.detector import Detector
    from respira.inference.windowing import predict_windows
    from respira.models.respira.audio_decoding import read_audio
    from respira.models.respira.decision import aggregation_of, decide_recording

    detector = Detector.from_pretrained(device="cpu")
    assert detector.inference_model is not detector.model
    files = sorted(shared_kauh.glob("**/*.wav"))[::40]
    assert len(files) >= 3
    for path in files:
        prediction = detector.predict_file(path)
        rows = predict_windows(detector.model, read_audio(path, detector.sampling_rate))
        assert len(rows) == len(prediction.rows)
        for got, expected in zip(prediction.rows, rows, strict=True):
            assert got["label"] == expected["label"]
            assert got["crackle"] == pytest.approx(expected["crackle"], abs=1e-5)
            assert got["wheeze"] == pytest.approx(expected["wheeze"], abs=1e-5)
        flags = [[row["crackle"], row["wheeze"]] for row in rows]
        _, decision = decide_recording(flags, detector.config, *aggregation_of(detector.config))
        assert prediction.label == decision.labels[0]


def test_batched_streams_items_in_order_and_keeps_the_others_when_one_window_fails() -> None:
    items = {"a": 3, "b": 0, "c": 5, "d": 1}

    def parts(name: str) -> list[float]:
        return [float(ord(name) * 100 + i) for i in range(items[name])]

    def run(windows: list[float]) -> list[float]:
        if float(ord("c") * 100 + 2) in windows:  # a window of c: any batch holding it is refused
            raise ValueError("bad window")
        return [window * 10 for window in windows]

    out = list(batched(items, parts, run, 4))
    assert [name for name, _, _ in out] == ["a", "b", "c", "d"]
    assert out[0][1] == [window * 10 for window in parts("a")]  # shared its batch with c's bad window
    assert out[1][1] == [] and out[1][2] is None
    assert out[2][1] is None and str(out[2][2]) == "bad window"
    assert out[3][1] == [window * 10 for window in parts("d")]


def test_batched_yields_an_item_once_its_last_window_ran_not_before() -> None:
    pulled: list[int] = []

    def items():
        for index in range(6):
            pulled.append(index)
            yield index

    seen = []
    for item, outputs, _ in batched(items(), lambda i: [i] * 2, list, 3):
        seen.append((item, len(pulled)))
        assert outputs == [item, item]
    # batch 1 = windows of 0, 0, 1 (1 pulled, not finished); batch 2 = 1, 2, 2: items 0, 1, 2 after it
    assert [item for item, _ in seen] == list(range(6))
    assert seen[0][1] == 2 and seen[1][1] == 3


def test_batched_lets_go_of_an_item_and_its_windows_once_it_is_yielded() -> None:
    """Screening an archive holds the items waiting, not every item seen: a yielded item's windows go."""
    import gc
    import weakref

    class Window:
        def __init__(self, value: int) -> None:
            self.value = value

    held: list[weakref.ref] = []

    def parts(item: int) -> list[Window]:
        windows = [Window(item), Window(item)]
        held.extend(weakref.ref(window) for window in windows)
        return windows

    stream = batched(range(50), parts, lambda windows: [w.value for w in windows], batch_size=3)
    for item, outputs, error in stream:
        assert error is None and outputs == [item, item]
        if item == 40:
            break
    gc.collect()
    alive = [ref for ref in held[:60] if ref() is not None]  # the windows of items 0-29
    assert alive == []

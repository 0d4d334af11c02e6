"""ONNX export: raw waveforms → probabilities with onnxruntime alone, equal to the torch model.

Parity (≤ 1e-4 on the probabilities) is checked on real ICBHI cycles of ../shared for the CNN and
the real pretrained EfficientAT mn04, and on tiny random AST and BEATs configs; each export runs
once per module (an export takes seconds to tens of seconds). The pretrained EfficientAT's, the transformer
families' and the Hub families' exports are marked slow (``make test-slow``); the CNN's run in ``make test``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import PreTrainedConfig

from respira import RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification
from respira.cli import main
from respira.data.text_files import read_annotations
from respira.hub.checksums import CHECKSUM_FILE
from respira.hub.onnx import (
    FRAME_NAME,
    FRAME_TIMES_NAME,
    INPUT_NAME,
    ONNX_FILE,
    OUTPUT_NAME,
    OUTPUT_NAMES,
    export_onnx,
    load_onnx_model,
)
from respira.inference.windowing import analysis_frame_samples, predict_windows
from respira.models.respira.audio_decoding import read_audio
from respira.models.respira.decision import decide
from respira.models.respira.hub_encoders import WAVEFORM_MODEL_TYPES
from respira.models.respira.labels import MULTI_LABEL
from respira.utils.threads import ENV_VAR

from ..models.encoder_tester import CASES, waveforms

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

RATE = 16000


def tiny_model(name: str, **kwargs) -> RespiraForAudioClassification:
    """The encoder tester's tiny model of family ``name`` (batch-norm statistics moved, eval mode)."""
    return CASES[name].model(**kwargs)


def one_layer_model(name: str, **kwargs) -> RespiraForAudioClassification:
    """:func:`tiny_model` with one transformer layer: a second, identical layer only lengthens the export.
    WavLM keeps two (its first layer hands the relative position bias to the next) and CLAP its two stages
    of one layer (patch merging between them)."""
    case = CASES[name]
    if name in ("wavlm", "clap"):
        return case.model(**kwargs)

    def encoder_config() -> PreTrainedConfig:
        config = case.encoder_config()
        config.num_hidden_layers = 1  # Whisper's attribute map sends it to encoder_layers
        return config

    return dataclasses.replace(case, encoder_config=encoder_config).model(**kwargs)


TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def real_cycles(shared_icbhi: Path) -> list[np.ndarray]:
    """The 4 shortest, 2 middle and 4 longest annotated cycles of the real sample, mono at 16 kHz:
    shorter and longer than the models' fixed lengths, so both tiling and cropping run."""
    spans = [
        (wav, cycle.start, cycle.end)
        for wav in sorted((shared_icbhi / "ICBHI_final_database").glob("*.wav"))
        for cycle in read_annotations(wav.with_suffix(".txt"))
    ]
    spans.sort(key=lambda span: span[2] - span[1])
    middle = len(spans) // 2
    chosen = spans[:4] + spans[middle : middle + 2] + spans[-4:]
    audio = {wav: read_audio(wav, RATE) for wav in {span[0] for span in chosen}}
    cycles = [audio[wav][round(start * RATE) : round(end * RATE)] for wav, start, end in chosen]
    lengths = [cycle.shape[0] / RATE for cycle in cycles]
    assert min(lengths) < 1.0 and max(lengths) > 5.12, lengths
    return cycles


def torch_probabilities(model: RespiraForAudioClassification, waveforms: np.ndarray) -> list[np.ndarray]:
    """The clip probabilities, each time step's and the steps' centres, as the graph gives them."""
    with torch.no_grad():
        out = model(input_values=torch.from_numpy(waveforms), output_frames=True)
    multi = model.config.problem_type == MULTI_LABEL
    clip, frames = (
        (out.logits.sigmoid(), out.frame_logits.sigmoid())
        if multi
        else (
            out.logits.softmax(-1),
            out.frame_logits.softmax(-1),
        )
    )
    return [clip.numpy(), frames.numpy(), out.frame_times.numpy()]


def check_parity(model: RespiraForAudioClassification, path: Path, cycles: list[np.ndarray]) -> float:
    """The largest difference of clip probabilities, frame probabilities and frame times (seconds)."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [OUTPUT_NAME, FRAME_NAME, FRAME_TIMES_NAME]
    worst = 0.0
    windows = np.stack([cycle[:RATE] for cycle in cycles if cycle.shape[0] >= RATE])  # a batch of 1 s windows
    batches = [cycle[None] for cycle in cycles] + [windows]  # one at a time at its own length, then a batch
    for batch in batches:
        expected_outputs = torch_probabilities(model, batch)
        for got, expected in zip(session.run(names, {INPUT_NAME: batch}), expected_outputs, strict=True):
            assert got.shape == expected.shape
            worst = max(worst, float(np.abs(got - expected).max()))
    assert worst <= TOLERANCE, worst
    return worst


@pytest.fixture(scope="module")
def efficientat(
    shared_reference: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RespiraForAudioClassification, Path]:
    """The real pretrained EfficientAT mn04 (32 kHz) and its ``respira export --onnx``."""
    from respira.models.convert_efficientat import convert_efficientat_checkpoint

    root = tmp_path_factory.mktemp("efficientat")
    folder = convert_efficientat_checkpoint(
        shared_reference / "efficientat_mn04_as_mAP_432.pt", root / "mn04"
    )
    torch.manual_seed(0)
    model = RespiraForAudioClassification.from_encoder_pretrained(folder, target_seconds=5.12).eval()
    model.save_pretrained(root / "run")
    assert main(["export", str(root / "run"), str(root / "export"), "--onnx"]) == 0
    return model, root / "export"


def test_the_papers_cnn_with_a_head_trunk_exports_with_parity(
    onnx_export: tuple[RespiraForAudioClassification, Path], real_cycles: list[np.ndarray]
) -> None:
    """The paper's CNN (default channels) behind a head norm and trunk, as ``respira export --onnx`` wrote
    it; the plain head is the other families' below, the multi-label sigmoid the multi-label export's."""
    model, folder = onnx_export
    check_parity(model, folder / ONNX_FILE, real_cycles)


@pytest.mark.parametrize("family", ["cnn", pytest.param("ast", marks=pytest.mark.slow)])
def test_autopool_exports_with_parity(
    family: str,
    multi_label_export: tuple[RespiraForAudioClassification, Path],
    real_cycles: list[np.ndarray],
    tmp_path: Path,
) -> None:
    """Clip logits auto-pooled from the steps' (pooling=autopool) give the same probabilities in the graph
    (the CNN's: the multi-label export's, which auto-pools)."""
    if family == "cnn":
        model, path = multi_label_export
    else:
        model = one_layer_model(family, pooling="autopool", problem_type=MULTI_LABEL)
        path = export_onnx(model, tmp_path / ONNX_FILE)
    check_parity(model, path, real_cycles)


@pytest.mark.slow
def test_pretrained_efficientat_parity_on_real_cycles(
    efficientat: tuple[RespiraForAudioClassification, Path], real_cycles: list[np.ndarray]
) -> None:
    model, folder = efficientat
    check_parity(model, folder / ONNX_FILE, real_cycles)


# AST's parity on real cycles is test_autopool_exports_with_parity[ast]'s (a one-layer AST, auto-pooled)
@pytest.mark.slow
@pytest.mark.parametrize("family", ["beats"])
def test_tiny_transformer_parity_on_real_cycles(family: str, real_cycles: list[np.ndarray], tmp_path: Path):
    model = tiny_model(family, target_seconds=2.0)
    path = export_onnx(model, tmp_path / ONNX_FILE)
    check_parity(model, path, real_cycles)


# UniSpeech's export is wav2vec 2.0's byte for byte (transformers runs the same code on the same tiny
# weights) and UniSpeech-SAT's the same graph with other weights: wav2vec 2.0 stands for them
SAME_GRAPH_AS_WAV2VEC2 = ("unispeech", "unispeech-sat")


@pytest.mark.slow
@pytest.mark.parametrize(
    "family",
    [*(name for name in WAVEFORM_MODEL_TYPES if name not in SAME_GRAPH_AS_WAV2VEC2), "whisper", "clap"],
)
def test_a_hub_encoder_exports_with_parity(family: str, tmp_path: Path) -> None:
    """Every Hub family's graph with its feature extractor in it (Whisper's window zero-padded to its
    chunk, padding masked; CLAP's repeated): the export checks itself against torch, and a batch of short
    waveforms gives torch's probabilities."""
    model = one_layer_model(family)
    session = onnxruntime.InferenceSession(str(export_onnx(model, tmp_path / ONNX_FILE)))
    waves = waveforms(batch=2, seconds=0.5).numpy()
    got = session.run([OUTPUT_NAME, FRAME_NAME], {INPUT_NAME: waves})
    expected = torch_probabilities(model, waves)
    for ours, theirs in zip(got, expected[:2], strict=True):
        np.testing.assert_allclose(ours, theirs, atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def multi_label_export(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RespiraForAudioClassification, Path]:
    """A multi-label tiny CNN with thresholds of its own, an input low-pass and auto-pooled clip logits, and
    its graph."""
    model = tiny_model(
        "cnn",
        target_seconds=1.0,
        problem_type=MULTI_LABEL,
        pooling="autopool",
        lowpass_cutoff=1000.0,
        decision_thresholds=[0.4, 0.6],
    )
    return model, export_onnx(model, tmp_path_factory.mktemp("multi_label") / ONNX_FILE)


def test_multi_label_export_gives_sigmoids_and_metadata(
    multi_label_export: tuple[RespiraForAudioClassification, Path], real_cycles: list[np.ndarray]
) -> None:
    model, path = multi_label_export
    check_parity(model, path, real_cycles[::3])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [INPUT_NAME]
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)
    assert session.get_inputs()[0].shape[0] != 1 and isinstance(session.get_inputs()[0].shape[1], str)
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata["id2label"]) == {"0": "crackle", "1": "wheeze"}
    assert metadata["problem_type"] == MULTI_LABEL and metadata["sampling_rate"] == "16000"
    assert json.loads(metadata["decision_thresholds"]) == [0.4, 0.6]
    assert metadata["analysis_frame_samples"] == str(analysis_frame_samples(model)) != "1"


def _base_folder(model: RespiraForAudioClassification, graph: Path, folder: Path) -> Path:
    """``folder`` holding ``model``'s config and weights and the graph ``graph``: a base to take from."""
    model.save_pretrained(folder)
    shutil.copyfile(graph, folder / ONNX_FILE)
    return folder


def _no_export(*args, **kwargs):
    raise AssertionError("exported anew")


def test_a_site_fit_of_a_folder_takes_its_graph_with_its_own_values_without_exporting(
    multi_label_export: tuple[RespiraForAudioClassification, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a site's fit changes (a head's rows, the thresholds, the recording rule) is swapped into the
    base folder's graph, no export run; swapped back, the graph is the export's own, byte for byte."""
    import onnx

    model, graph = multi_label_export
    base = _base_folder(model, graph, tmp_path / "base")
    site = copy.deepcopy(model)
    with torch.no_grad():
        site.classifier[-1].weight[0] += 0.5
    site.config.decision_thresholds = [0.3, 0.7]
    site.config.recording_aggregation, site.config.recording_top_k = "topk_mean", 3
    monkeypatch.setattr(torch.onnx, "export", _no_export)
    swapped = export_onnx(site, tmp_path / "site" / ONNX_FILE, base=base)
    session = onnxruntime.InferenceSession(str(swapped), providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map["decision_thresholds"]) == [0.3, 0.7]
    batch = waveforms(seed=7).numpy()
    ours = session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
    np.testing.assert_allclose(ours, torch_probabilities(site, batch)[0], atol=TOLERANCE, rtol=0)
    assert not np.allclose(ours, torch_probabilities(model, batch)[0], atol=TOLERANCE, rtol=0)
    back = export_onnx(model, tmp_path / "back" / ONNX_FILE, base=_base_folder(site, swapped, tmp_path / "s"))
    assert back.read_bytes() == graph.read_bytes()
    assert onnx.load(str(back)).metadata_props == onnx.load(str(graph)).metadata_props


@pytest.mark.parametrize(
    "change",
    ["a folded tensor", "the window length", "another graph", "weights in bfloat16", "a damaged graph"],
)
def test_a_model_that_differs_from_its_base_otherwise_is_exported_anew(
    change: str,
    multi_label_export: tuple[RespiraForAudioClassification, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch-norm statistic (folded into its convolution's weight), a config field the graph reads, a base
    graph that is not the base's model's (a stale file) or that does not parse, or a base saved in another
    precision: exported anew."""
    model, graph = multi_label_export
    other = copy.deepcopy(model)
    if change == "a folded tensor":
        with torch.no_grad():
            other.respira.encoder.blocks[0].layers[1].running_mean += 0.1
    elif change == "the window length":
        other.config.target_seconds = 2.0
    elif change == "another graph":
        with torch.no_grad():
            model = copy.deepcopy(model)
            model.classifier[-1].weight[1] += 0.5  # the base's weights, not those of its graph
    else:
        with torch.no_grad():
            other.classifier[-1].weight[0] += 0.5  # a site's head
    base = _base_folder(model, graph, tmp_path / "base")
    if change == "weights in bfloat16":  # the same config; the head's weights saved in another precision
        from safetensors.torch import save_file

        state = dict(model.state_dict())
        state["classifier.1.weight"] = state["classifier.1.weight"].to(torch.bfloat16)
        save_file(state, base / "model.safetensors", metadata={"format": "pt"})
    if change == "a damaged graph":
        (base / ONNX_FILE).write_bytes(graph.read_bytes()[:1000])
    monkeypatch.setattr(torch.onnx, "export", _no_export)
    with pytest.raises(AssertionError, match="exported anew"):
        export_onnx(other, tmp_path / "other" / ONNX_FILE, base=base)


# ------------------------------------------------------------------------------------- export, predict


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[RespiraForAudioClassification, Path]:
    """The paper's CNN (default channels) behind a head norm and trunk, single-label, and its
    ``respira export --onnx --with_code``."""
    root = tmp_path_factory.mktemp("onnx_export")
    torch.manual_seed(0)
    model = RespiraForAudioClassification(
        RespiraConfig(target_seconds=1.0, head_norm=True, head_hidden_size=16)
    )
    with torch.no_grad():
        model.train()(waveforms(seed=100))  # batch-norm statistics off their initial values
    model.eval()
    model.save_pretrained(root / "run")
    RespiraFeatureExtractor().save_pretrained(root / "run")
    assert main(["export", str(root / "run"), str(root / "export"), "--onnx", "--with_code"]) == 0
    return model, root / "export"


def test_onnx_and_torch_detect_the_same_frame_posteriors(onnx_export, tmp_path: Path) -> None:
    """respira.inference.frames through the export (its frame outputs) and through torch: the same
    grid."""
    from respira.inference.frames import predict_frames

    model, folder = onnx_export
    classifier = load_onnx_model(folder)
    recording = (0.1 * np.random.default_rng(11).standard_normal(int(3.3 * RATE))).astype(np.float32)
    through_onnx = predict_frames(classifier, recording)
    through_torch = predict_frames(model, recording)
    assert through_onnx.posteriors.shape == through_torch.posteriors.shape == (165, 2)
    assert float(np.abs(through_onnx.posteriors - through_torch.posteriors).max()) <= TOLERANCE


@pytest.mark.parametrize("threads", ["1", "3"])
def test_the_onnx_session_runs_with_respira_thread_choice(
    onnx_export, threads: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime would start one thread per core, as torch does; it takes respira's choice instead."""
    monkeypatch.setenv(ENV_VAR, threads)
    classifier = load_onnx_model(onnx_export[1])
    assert classifier.session.get_session_options().intra_op_num_threads == int(threads)


def test_export_writes_onnx_and_the_card_shows_three_ways(onnx_export) -> None:
    from huggingface_hub import ModelCard

    _, folder = onnx_export
    assert (folder / ONNX_FILE).is_file() and (folder / "model.safetensors").is_file()
    card = ModelCard.load(folder / "README.md")
    assert "onnx" in card.data.tags and "custom_code" in card.data.tags
    for heading in ("### 1. With respira", "### 2. With transformers alone", "### 3. With onnxruntime alone"):
        assert heading in card.text
    assert "onnxruntime.InferenceSession" in card.text
    assert (
        "probabilities, present, label, frames, times = session.run(None" in card.text
    )  # the recipe NO_TORCH runs
    assert "apply these thresholds yourself" not in card.text


def test_predict_runs_the_onnx_folder(
    onnx_export, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, folder = onnx_export
    wave = (0.1 * np.random.default_rng(4).standard_normal(int(3.3 * RATE))).astype(np.float32)
    sf.write(tmp_path / "rec.wav", wave, RATE, subtype="FLOAT")
    expected = predict_windows(model, wave, window=1.0, hop=0.5)  # the last window is shorter
    onnx_only = tmp_path / "onnx_only"  # model.onnx and config.json, no torch weights: ONNX by default
    onnx_only.mkdir()
    for name in (ONNX_FILE, "config.json"):
        shutil.copyfile(folder / name, onnx_only / name)
    for arguments in ([str(folder), "--onnx"], [str(onnx_only)]):
        code = main(
            [
                "predict",
                arguments[0],
                str(tmp_path / "rec.wav"),
                "--window",
                "1",
                "--hop",
                "0.5",
                *arguments[1:],
            ]
        )
        assert code == 0
        rows = json.loads(capsys.readouterr().out)
        assert len(rows) == len(expected)
        for row, reference in zip(rows, expected, strict=True):
            assert row["label"] == reference["label"]
            for key in ("crackle", "wheeze", "p_normal", "p_both"):
                assert row[key] == pytest.approx(reference[key], abs=TOLERANCE)
    assert load_onnx_model(onnx_only).config.num_labels == 4


def test_a_truncated_or_altered_model_onnx_is_one_line_naming_it(
    onnx_export, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, folder = onnx_export
    assert ONNX_FILE in (folder / CHECKSUM_FILE).read_text()
    wav = tmp_path / "rec.wav"
    sf.write(wav, np.zeros(RATE, dtype=np.float32), RATE)

    older = tmp_path / "older"  # an export without checksums: onnxruntime itself finds the damage
    older.mkdir()
    for name in (ONNX_FILE, "config.json"):
        shutil.copyfile(folder / name, older / name)
    truncated = older / ONNX_FILE
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    assert main(["predict", str(older), str(wav)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"respira predict: error: {truncated}: not a readable ONNX model (truncated")
    assert "ONNXRuntimeError" not in error and len(error.splitlines()) == 1

    export = Path(shutil.copytree(folder, tmp_path / "export"))  # flipped bytes that still load
    altered = export / ONNX_FILE
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0x01
    altered.write_bytes(bytes(data))
    assert main(["predict", str(export), str(wav), "--onnx"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"respira predict: error: {altered}: its SHA-256 is ")
    assert f"{CHECKSUM_FILE} records" in error and len(error.splitlines()) == 1


NO_TORCH = r"""
import importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "respira", "transformers"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Refuse())
"""

RESULT = r"""
labels = json.loads(session.get_modelmeta().custom_metadata_map["id2label"])
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "respira", "transformers"))
result = {
    "probabilities": probabilities[0].tolist(),
    "present": present[0].tolist(),
    "label": ["normal", "crackle", "wheeze", "both"][label[0]],
    "labels": labels,
    "leaked": leaked,
}
print("RESULT " + json.dumps(result))
"""


def card_onnx_recipe(folder: Path, wav: Path) -> str:
    """The model card's onnxruntime snippet as written, reading ``wav`` and the folder's ``model.onnx``
    (where the card downloads it from the Hub)."""
    text = (folder / "README.md").read_text(encoding="utf-8")
    section = text.split("With onnxruntime alone", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    # a card with a Hub id downloads the file; one without loads it from the folder it describes
    download = re.search(
        r'hf_hub_download\("[^"]+", "model\.onnx"\)|"path/to/exported_model/model\.onnx"', code
    )
    assert download, code
    code = code.replace(download.group(0), repr(str(folder / ONNX_FILE)))
    assert code.count('"recording_cycle.wav"') == 1, code
    return code.replace('"recording_cycle.wav"', repr(str(wav)))


@pytest.mark.parametrize("export", ["onnx_export", pytest.param("efficientat", marks=pytest.mark.slow)])
def test_the_card_recipe_runs_with_onnxruntime_alone(
    export: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The card's onnxruntime snippet as written, in a process where torch, transformers and respira
    cannot load, gives the torch model's probabilities and decision at the model's own rate."""
    model, folder = request.getfixturevalue(export)
    rng = np.random.default_rng(5)
    stereo = (0.1 * rng.standard_normal((int(0.9 * 44100), 2))).astype(np.float32)
    sf.write(tmp_path / "stereo.wav", stereo, 44100, subtype="FLOAT")
    code = card_onnx_recipe(folder, tmp_path / "stereo.wav")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH + code + RESULT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert output["leaked"] == []
    assert output["labels"] == {str(k): v for k, v in model.config.id2label.items()}
    cycle = read_audio(tmp_path / "stereo.wav", model.config.sampling_rate)
    probabilities = torch_probabilities(model, cycle[None])[0]
    np.testing.assert_allclose(output["probabilities"], probabilities[0], atol=TOLERANCE)
    decision = decide(probabilities, model.config)
    assert output["label"] == decision.labels[0] and output["present"] == decision.present[0].tolist()


def test_onnx_consumers_low_pass_the_recording_first(
    multi_label_export: tuple[RespiraForAudioClassification, Path], tmp_path: Path
) -> None:
    """The low-pass is not in the graph (training filters whole recordings); the metadata says how to
    apply it, and predict --onnx applies it exactly as the torch path does."""
    import copy

    from respira.hub.onnx import OnnxClassifier
    from respira.models.respira.audio_decoding import lowpass

    model, path = multi_label_export
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["lowpass_cutoff"] == "1000" and metadata["lowpass_order"] == "4"
    assert "sosfiltfilt(scipy.signal.butter(4, 1000, fs=16000" in metadata["input"]
    wave = (0.1 * np.random.default_rng(5).standard_normal(int(2.5 * RATE))).astype(np.float32)
    onnx_model = OnnxClassifier(path, model.config)
    torch_rows = predict_windows(model, wave, window=1.0, hop=0.5)
    onnx_rows = predict_windows(onnx_model, wave, window=1.0, hop=0.5)
    for ours, theirs in zip(onnx_rows, torch_rows, strict=True):
        assert ours["crackle"] == pytest.approx(theirs["crackle"], abs=TOLERANCE)
        assert ours["label"] == theirs["label"]
    # what an onnxruntime-only consumer following the metadata gets: the same probabilities
    first = lowpass(wave, RATE, 1000.0)[:RATE][None]
    (by_hand,) = session.run([OUTPUT_NAME], {INPUT_NAME: first})
    assert by_hand[0, 0] == pytest.approx(onnx_rows[0]["crackle"], abs=TOLERANCE)
    (unfiltered,) = session.run([OUTPUT_NAME], {INPUT_NAME: wave[:RATE][None]})
    assert abs(float(unfiltered[0, 0]) - onnx_rows[0]["crackle"]) > 10 * TOLERANCE
    # the model card's onnxruntime recipe filters too
    from respira.hub import card_data_from_run_dir, render_model_card
    from respira.hub.onnx import _metadata as export_metadata

    model = copy.deepcopy(model)  # the module's model keeps its config
    for order, stated in ((4, ""), (6, ", order 6")):  # the default order goes unsaid in the table
        model.config.lowpass_order = order
        model.save_pretrained(tmp_path / f"order_{order}")
        card = card_data_from_run_dir(tmp_path / f"order_{order}")
        card.onnx = True
        text = str(render_model_card(card))
        assert f'sosfiltfilt(scipy.signal.butter({order}, 1000, fs=16000, output="sos"), cycle)' in text
        assert f"| input low-pass (zero-phase Butterworth, whole recordings) | 1000 Hz{stated} |" in text
        metadata = export_metadata(model.config)
        assert metadata["lowpass_order"] == str(order) and f"butter({order}, 1000," in metadata["input"]


def test_the_graph_carries_no_source_notes(onnx_export) -> None:
    """An edit of respira's source (a comment, a moved function) must not change the exported bytes: the
    exporter's per-node stack traces and module paths are dropped."""
    import onnx

    _, folder = onnx_export
    proto = onnx.load(str(folder / "model.onnx"))
    nodes = [*proto.graph.node, *(node for function in proto.functions for node in function.node)]
    assert nodes and not [node.name for node in nodes if node.metadata_props]

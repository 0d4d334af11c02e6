"""ONNX export of respira classifiers (its input and output names; described in the graph's metadata), run
with onnxruntime (batches of equal length; the time steps a short input keeps)."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..models.respira.audio_decoding import check_whole
from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL
from ..utils.messages import one_line
from ..utils.threads import choose_num_threads
from .checksums import CHECKSUM_FILE, verify_checksum
from .hub_errors import ModelLoadError
from .loading import WEIGHT_FILES, check_model_folder, load_model, resolve_model_name

# the model folder's config (and the modules that read it) register transformers' Auto classes on import
# (2 s a command failing fast need not pay): imported where a model is exported or run
if TYPE_CHECKING:
    from ..models.respira import RespiraConfig, RespiraForAudioClassification

INPUT_NAME = "input_values"
OUTPUT_NAME = "probabilities"
PRESENT_NAME = "present"
LABEL_NAME = "label"
FRAME_NAME = "frame_probabilities"
FRAME_TIMES_NAME = "frame_times"
ONNX_FILE = "model.onnx"
OUTPUT_NAMES = (OUTPUT_NAME, PRESENT_NAME, LABEL_NAME, FRAME_NAME, FRAME_TIMES_NAME)
PARITY_TOLERANCE = 1e-4
_MIN_SAMPLES = 2  # torch.export treats sizes 0 and 1 as special: the dynamic length starts at 2


def batches_by_length(
    waveforms: Sequence[np.ndarray], batch_size: int
) -> Iterator[tuple[int, list[int], np.ndarray]]:
    """``(length, indices, float32 batch)`` of at most ``batch_size`` waveforms of equal length."""
    batch_size = check_whole(batch_size, "batch_size")
    by_length: dict[int, list[int]] = {}
    for index, waveform in enumerate(waveforms):
        by_length.setdefault(int(waveform.shape[0]), []).append(index)
    for length, indices in by_length.items():
        for first in range(0, len(indices), batch_size):
            rows = indices[first : first + batch_size]
            yield length, rows, np.stack([np.asarray(waveforms[i], dtype=np.float32) for i in rows])


def run_probabilities(
    session: Any, waveforms: Sequence[np.ndarray], batch_size: int, labels: int
) -> np.ndarray:
    """The ``[len(waveforms), labels]`` probabilities an onnxruntime ``session`` gives."""
    result = np.zeros((len(waveforms), labels), dtype=np.float64)
    for _, rows, batch in batches_by_length(waveforms, batch_size):
        result[rows] = session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
    return result


def steps_within(times: np.ndarray, seconds: float) -> np.ndarray:
    """Which time steps (centres ``times``) lie within an input of ``seconds``; the first always does."""
    keep = np.asarray(times) < seconds
    keep[0] = True
    return keep


def _missing(package: str, extra: str) -> ImportError:
    return ImportError(
        f"{package} is not installed: pip install 'respira[{extra}]' (or pip install {package})"
    )


class WaveformsToProbabilities(nn.Module):
    """A classifier as the ONNX graph sees it: waveforms ``[batch, samples]`` → :data:`OUTPUT_NAMES`."""

    def __init__(self, model: RespiraForAudioClassification) -> None:
        super().__init__()
        self.model = model
        self.multi_label = model.config.problem_type == MULTI_LABEL

    def forward(self, input_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output = self.model(input_values=input_values, output_frames=True, return_dict=True)
        logits, frame_logits = output.logits.float(), output.frame_logits.float()
        if self.multi_label:
            probabilities, frames = logits.sigmoid(), frame_logits.sigmoid()
        else:
            probabilities, frames = logits.softmax(dim=-1), frame_logits.softmax(dim=-1)
        from ..models.respira.decision import decide_tensor

        present, label = decide_tensor(probabilities, self.model.config)
        return probabilities, present, label, frames, output.frame_times.float()


def _metadata(config: RespiraConfig) -> dict[str, str]:
    from ..models.respira.audio_decoding import input_preprocessing
    from ..models.respira.decision import thresholds_of
    from ..models.respira.featurizer import analysis_frame_samples
    from ..models.respira.windows import FRAME_SAMPLES_KEY

    preprocessing = input_preprocessing(config)
    source = f"mono at {config.sampling_rate} Hz"
    if "lowpass_cutoff" in preprocessing:
        cutoff, order = preprocessing["lowpass_cutoff"], preprocessing["lowpass_order"]
        source += (
            f", the whole recording low-passed first: scipy.signal.sosfiltfilt(scipy.signal.butter({order}, "
            f"{cutoff:g}, fs={config.sampling_rate}, output='sos'), recording)"
        )
    metadata = {
        "id2label": json.dumps({int(k): v for k, v in config.id2label.items()}),
        "problem_type": str(config.problem_type),
        "sampling_rate": str(config.sampling_rate),
        "input": f"{INPUT_NAME}: float32 [batch, samples], {source}",
        "output": (
            f"{OUTPUT_NAME}: float32 [batch, labels] (id2label order); {PRESENT_NAME}: bool [batch, 2] "
            f"(crackle, wheeze); {LABEL_NAME}: int64 [batch] (class_names index); {FRAME_NAME}: float32 "
            f"[batch, steps, labels] (each time step's); {FRAME_TIMES_NAME}: float32 [steps] (seconds, "
            "step centres; ignore steps past a row's samples)"
        ),
        "class_names": json.dumps(list(CLASS_NAMES)),
    }
    if "lowpass_cutoff" in preprocessing:
        metadata["lowpass_cutoff"] = f"{preprocessing['lowpass_cutoff']:g}"
        metadata["lowpass_order"] = str(preprocessing["lowpass_order"])
    if config.problem_type == MULTI_LABEL:
        metadata["decision_thresholds"] = json.dumps(list(thresholds_of(config)))
    metadata[FRAME_SAMPLES_KEY] = str(analysis_frame_samples(config))
    return metadata


_EXPORTER_NOTES = (
    "torch.onnx._internal.exporter._registration",
    "onnx_ir.passes.common.initializer_deduplication",
)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _EXPORTER_NOTES]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(
    model: RespiraForAudioClassification, path: str | Path, *, base: str | Path | None = None
) -> Path:
    """Write ``model`` (on the CPU, in float32, in eval mode) as an ONNX graph to ``path``, checked against it
    on random waveforms. ``base``: a model folder whose ``model.onnx`` is taken instead of exporting anew
    where ``model`` is its model but for tensors the graph holds by name and its thresholds (as a site's fit
    leaves it), those swapped in: the graph an export would write, checked the same."""
    try:
        import onnx  # noqa: F401  (checked here: the graph is saved with it)
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as error:
        raise _missing(error.name or "onnx", "onnx") from None
    path = Path(path)
    wrapper = WaveformsToProbabilities(copy.deepcopy(model).float().cpu().eval()).eval()
    if base is not None and _reweighted(wrapper, Path(base).expanduser(), path):
        return path
    example = 0.1 * torch.randn(
        2, model.config.target_samples // 2 + 3, generator=torch.Generator().manual_seed(0)
    )
    dynamic = {INPUT_NAME: {0: torch.export.Dim("batch"), 1: torch.export.Dim("samples", min=_MIN_SAMPLES)}}
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(
            wrapper,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=dynamic,
            optimize=True,
            verbose=False,
        )
    proto = program.model_proto
    _drop_source_notes(proto.graph, *proto.functions)
    _save_graph(proto, model.config, path)
    _check_parity(wrapper, path)
    return path


def _save_graph(proto: Any, config: RespiraConfig, path: Path) -> None:
    """Write ``proto`` to ``path`` with ``config``'s :func:`_metadata`."""
    import onnx

    onnx.helper.set_model_props(proto, _metadata(config))
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(path))


_OUTSIDE_THE_GRAPH = frozenset(
    {"recording_aggregation", "recording_top_k", "calibration"}
    | {"_name_or_path", "transformers_version", "architectures", "dtype"}
)
"""Config fields the graph does not read: the recording rule, the calibration record, and what transformers
notes as it saves (the graph is float32 whatever the weights' ``dtype``; their file's is compared apart)."""


def _reweighted(wrapper: WaveformsToProbabilities, base: Path, path: Path) -> bool:
    """Write :func:`_graph_with_values` of ``base`` to ``path``; whether it could, the graph checked as an
    export's is."""
    proto = _graph_with_values(wrapper.model, base)
    if proto is None:
        return False
    _save_graph(proto, wrapper.model.config, path)
    try:
        _check_parity(wrapper, path)
    except Exception:  # a graph another respira wrote (other outputs): exported anew
        return False
    return True


def _graph_with_values(model: RespiraForAudioClassification, base: Path) -> Any | None:
    """``base``'s graph with ``model``'s tensors where they differ from ``base``'s (each held by the graph by
    name, as it is: not folded into another) and its thresholds (one constant of the graph); ``None`` where
    ``model`` differs from ``base``'s model in anything else."""
    from onnx import numpy_helper
    from safetensors.torch import load_file

    from ..models.respira import RespiraConfig
    from ..models.respira.decision import thresholds_of

    proto = _parsed_graph(base / ONNX_FILE) if (base / WEIGHT_FILES[0]).is_file() else None
    if proto is None:
        return None
    config, ours = RespiraConfig.from_pretrained(base), model.config.to_dict()
    theirs = config.to_dict()
    differing = {k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)}
    if differing - _OUTSIDE_THE_GRAPH - {"decision_thresholds"}:
        return None
    named, weights = {i.name: i for i in proto.graph.initializer}, load_file(base / WEIGHT_FILES[0])
    for key, tensor in model.state_dict().items():
        if key not in weights or weights[key].dtype != tensor.dtype:  # saved in another precision
            return None
        if torch.equal(weights[key], tensor):
            continue
        initializer = named.get(f"model.{key}")  # changed: the graph must hold the base's value as it is
        if initializer is None or not _equal(numpy_helper.to_array(initializer), weights[key].numpy()):
            return None
        initializer.CopyFrom(numpy_helper.from_array(tensor.numpy(), initializer.name))
    old, new = (np.asarray(thresholds_of(c), np.float32) for c in (config, model.config))
    if not np.array_equal(old, new):
        constants = [i for i in proto.graph.initializer if _equal(numpy_helper.to_array(i), old)]
        if len(constants) != 1:
            return None
        constants[0].CopyFrom(numpy_helper.from_array(new, constants[0].name))
    return proto


def _parsed_graph(path: Path) -> Any | None:
    """The ONNX graph at ``path``; ``None`` where there is none or it does not parse."""
    import onnx

    if not path.is_file():
        return None
    try:
        return onnx.load(str(path))
    except Exception:  # a damaged file: protobuf's DecodeError
        return None


def _equal(array: np.ndarray, values: np.ndarray) -> bool:
    return array.dtype == values.dtype and array.shape == values.shape and np.array_equal(array, values)


def _drop_source_notes(*graphs: Any) -> None:
    """Remove the exporter's per-node notes (stack traces): an unchanged model exports to the same bytes."""
    import onnx

    for graph in graphs:
        for node in graph.node:
            del node.metadata_props[:]
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    _drop_source_notes(attribute.g)
                elif attribute.type == onnx.AttributeProto.GRAPHS:
                    _drop_source_notes(*attribute.graphs)


def _check_parity(wrapper: WaveformsToProbabilities, path: Path) -> None:
    session = _session(path)
    target = wrapper.model.config.target_samples
    generator = torch.Generator().manual_seed(1)
    for batch, samples in ((1, max(target // 3, 400)), (3, target + target // 2)):
        waveforms = 0.1 * torch.randn(batch, samples, generator=generator)
        with torch.no_grad():
            expected = [tensor.numpy() for tensor in wrapper(waveforms)]
        got, present, label, frames, times = session.run(list(OUTPUT_NAMES), {INPUT_NAME: waveforms.numpy()})
        if frames.shape != expected[3].shape or times.shape != expected[4].shape:
            raise ValueError(
                f"the ONNX export's {FRAME_NAME} {frames.shape} differ in shape from the torch model's "
                f"{expected[3].shape} on {batch} waveform(s) of {samples} samples"
            )
        difference = max(
            float(np.abs(got - expected[0]).max()),
            float(np.abs(frames - expected[3]).max()),
            float(np.abs(times - expected[4]).max()),
        )
        from ..models.respira.decision import decide

        decision = decide(got, wrapper.model.config)
        if not (np.array_equal(present, decision.present) and np.array_equal(label, decision.classes)):
            raise ValueError(
                f"the ONNX export's {PRESENT_NAME}/{LABEL_NAME} differ from "
                f"respira.models.respira.decision.decide of "
                f"its {OUTPUT_NAME} on {batch} waveform(s) of {samples} samples"
            )
        if not difference <= PARITY_TOLERANCE:
            raise ValueError(
                f"the ONNX export differs from the torch model by {difference:.2e} "
                f"(> {PARITY_TOLERANCE:g}) on {batch} waveform(s) of {samples} samples"
            )


def _session(path: str | Path) -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise _missing("onnxruntime", "onnx") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    options.intra_op_num_threads = choose_num_threads().num_threads
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own errors derive from Exception only
        detail = "truncated or damaged" if Path(path).is_file() else "no such file"
        raise ModelLoadError(
            f"{path}: not a readable ONNX model ({detail}: onnxruntime cannot load it); "
            "download or export the model again"
        ) from error


class OnnxClassifier:
    """A respira classifier exported to ONNX, run with onnxruntime (the ``respira predict --onnx`` model)."""

    def __init__(self, path: str | Path, config: RespiraConfig) -> None:
        self.path = Path(path)
        self.config = config
        self.session = _session(self.path)

    def predict_probabilities(self, waveforms: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """Probabilities ``[len(waveforms), labels]`` (float64) of mono waveforms at the model's rate."""
        return run_probabilities(self.session, waveforms, batch_size, self.config.num_labels)

    def predict_frames(
        self, waveforms: Sequence[np.ndarray], batch_size: int = 32
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per waveform: its time steps' centres (seconds) and ``[steps, labels]`` probabilities (float64)."""
        rate = float(self.config.sampling_rate)
        result: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros((0, 0)))] * len(waveforms)
        for length, rows, batch in batches_by_length(waveforms, batch_size):
            frames, times = self.session.run([FRAME_NAME, FRAME_TIMES_NAME], {INPUT_NAME: batch})
            times = times.astype(np.float64)
            keep = steps_within(times, length / rate)
            for row, index in enumerate(rows):
                result[index] = (times[keep], frames[row][keep].astype(np.float64))
        return result


def onnx_model_folder(name: str | Path) -> Path:
    """The folder ``name`` names here, or a Hub id's ``config.json`` and ``model.onnx`` downloaded."""
    from huggingface_hub import snapshot_download

    folder = resolve_model_name(name)
    if folder is not None:
        return folder
    try:
        folder = Path(snapshot_download(str(name), allow_patterns=["config.json", ONNX_FILE, CHECKSUM_FILE]))
    except Exception as error:
        raise ModelLoadError(f"cannot load {ONNX_FILE} of {name}: {one_line(error)}") from None
    if not (folder / ONNX_FILE).is_file():
        raise ModelLoadError(f"{name} has no {ONNX_FILE}: push it with --onnx")
    return folder


def load_onnx_model(name: str | Path) -> OnnxClassifier:
    """The ``model.onnx`` of a folder or Hub id, with its ``config.json``."""
    folder = onnx_model_folder(name)
    check_model_folder(folder, weights=(ONNX_FILE,))
    verify_checksum(folder / ONNX_FILE)
    from ..models.respira import RespiraConfig

    return OnnxClassifier(folder / ONNX_FILE, RespiraConfig.from_pretrained(folder))


def load_model_or_onnx(
    source: str | Path | None = None, *, device: str | torch.device | None = None, onnx: bool | None = None
) -> tuple[RespiraForAudioClassification | OnnxClassifier, str]:
    """A model folder, its ONNX export, a shipped detector's name or a Hub id loaded (left out, respira's
    shipped detector), with its name; ``onnx``: run ``model.onnx`` (``None``: when the folder has no torch
    weights). Raises :class:`~respira.hub.loading.ModelLoadError`."""
    from ..pretrained import default_detector_dir

    if source is None:
        source = default_detector_dir()
    folder = resolve_model_name(source)  # a path that is no folder: one line, before anything loads
    if onnx is None:
        onnx = folder is not None and (folder / ONNX_FILE).is_file()
        onnx = onnx and not any((folder / n).is_file() for n in WEIGHT_FILES)
    found = source if folder is None else folder  # a shipped detector's name: its folder
    model = load_onnx_model(found) if onnx else load_model(found, device=device)[0]
    return model, folder.resolve().name if folder is not None else str(source)

"""Load respira classifiers from a local folder or the Hugging Face Hub, with one-line errors."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from huggingface_hub import constants, try_to_load_from_cache
from safetensors import safe_open
from transformers import PreTrainedConfig
from transformers.utils import logging as transformers_logging

from ..models.respira.labels import CLASS_NAMES, MULTI_LABEL_NAMES, SINGLE_LABEL
from ..pretrained.shipped import shipped_detector
from ..utils.messages import one_line
from .checksums import verify_checksum, verify_hub_file
from .hub_errors import ModelLoadError, error_chain, hub_error, is_download_error, is_hub_repo_id

# the model classes register transformers' Auto classes on import (2 s): imported where a model is made
if TYPE_CHECKING:
    from ..models.respira import RespiraConfig, RespiraForAudioClassification

WEIGHT_FILES: tuple[str, ...] = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""Weight files ``from_pretrained`` loads; export accepts only the first (nothing is ever unpickled)."""


def resolve_model_name(name: str | Path) -> Path | None:
    """The local folder ``name`` names, or ``None`` when it is a Hugging Face Hub id."""
    text = str(name)
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ModelLoadError(f"{text} is a file; pass the model folder (config.json + weights)")
    if (folder := local_model_folder(text)) is not None:
        return folder
    # it names nothing here: a path (not a Hub id) when not spelled as one or when its first folder is here
    if not is_hub_repo_id(text) or ("/" in text and Path(text.split("/", 1)[0]).exists()):
        raise ModelLoadError(f"model folder not found: {text} ({_looked_for(path)})")
    if constants.HF_HUB_OFFLINE and not isinstance(try_to_load_from_cache(text, "config.json"), str):
        raise ModelLoadError(
            f"{text} is neither a local folder ({path.absolute()}) nor a model in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}), and HF_HUB_OFFLINE is set: pass a model folder, or unset "
            "HF_HUB_OFFLINE to download it"
        )
    return None


def local_model_folder(name: str | Path) -> Path | None:
    """The folder ``name`` names on this machine: a folder, else a shipped detector's name."""
    path = Path(str(name)).expanduser()
    return path if path.is_dir() else shipped_detector(str(name))


def _looked_for(path: Path) -> str:
    target = path.absolute()
    found = next((parent for parent in target.parents if parent.is_dir()), None)
    if found is None or found == target.parent:
        return f"looked for the folder {target}"
    missing = target.relative_to(found).parts[0]
    return f"looked for the folder {target}; {found} has no {missing}"


def check_model_folder(path: str | Path, *, weights: Sequence[str] = WEIGHT_FILES) -> dict[str, Any]:
    """Check that ``path`` is a respira model folder and return its parsed ``config.json``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelLoadError(f"model folder not found: {path} ({_looked_for(path)})")
    if not path.is_dir():
        raise ModelLoadError(f"{path} is a file; pass the model folder (config.json + model.safetensors)")
    config_file = path / "config.json"
    if weights and not any((path / name).is_file() for name in weights):
        hint = ""
        safe = [
            name
            for name in WEIGHT_FILES
            if ".safetensors" in name and name not in weights and (path / name).is_file()
        ]
        if safe:  # asked for model.onnx only
            hint = f" (it has {safe[0]} but no {weights[0]}: leave out --onnx, or export it with --onnx)"
        elif any((path / name).is_file() for name in WEIGHT_FILES if name not in weights):
            hint = " (pickled .bin weights are never loaded; re-save the model with safetensors)"
        elif any(path.glob("checkpoint-*")):
            hint = " (it holds checkpoint-* folders: did training finish and save the final model?)"
        if config_file.is_file():
            raise ModelLoadError(f"model folder without weights: {path}{hint}")
    if not config_file.is_file():
        raise ModelLoadError(f"not a model folder (no config.json): {path}")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"cannot read {config_file}: {error}") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"cannot read {config_file}: not a JSON object")
    _check_respira_config(config, str(path))
    return config


def _check_respira_config(config_dict: Mapping[str, Any], name: str) -> None:
    model_type = config_dict.get("model_type")
    if model_type != "respira":
        raise ModelLoadError(
            f"{name} is not a respira model (its config.json has model_type {model_type!r}, expected "
            "'respira'); train one with respira or wrap an encoder with "
            "RespiraForAudioClassification.from_encoder_pretrained"
        )


def check_weights_file(path: str | Path) -> None:
    """Raise :class:`ModelLoadError` naming ``path`` when a ``.safetensors`` file is truncated or damaged."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return
    try:
        with safe_open(str(path), framework="pt") as weights:
            weights.keys()
    except Exception as error:  # SafetensorError derives from Exception only
        raise _weights_error(error, str(path)) or ModelLoadError(
            f"{path}: cannot be read as safetensors weights ({one_line(error)})"
        ) from None


def _weights_error(error: BaseException, name: str) -> ModelLoadError | None:
    for link in error_chain(error):
        message = one_line(link)
        if type(link).__name__ == "SafetensorError" or "deserializing header" in message:
            return ModelLoadError(
                f"{name}: not a readable safetensors file, truncated or damaged ({message}); "
                "download or export the model again"
            )
        if "Weights only load failed" in message or type(link).__name__ == "UnpicklingError":
            found = re.search(r"GLOBAL ([\w.]+)", message)
            what = f" ({found[1]})" if found else ""
            return ModelLoadError(
                f"{name}: pickled weights holding Python objects{what}, which respira never unpickles "
                "(unpickling can run code); save the model again with save_pretrained (safetensors)"
            )
        if "PytorchStreamReader" in message or "zip archive" in message:
            return ModelLoadError(
                f"{name}: not a readable PyTorch weights file, truncated or damaged ({message}); "
                "download or export the model again"
            )
    return None


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device`` that exists here (``None``: CUDA when available, else the CPU)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        message = f"device {str(device)!r} is not a torch device (cpu, cuda, cuda:1, mps...)"
        raise ValueError(message) from None
    cuda = torch.cuda.is_available() and (resolved.index or 0) < torch.cuda.device_count()
    if resolved.type == "cuda" and not cuda:
        found = f"{torch.cuda.device_count()} CUDA device(s)"
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        found = "no MPS device"
    else:
        return resolved
    raise ValueError(
        f"device {str(device)!r} is not available here (torch {torch.__version__} sees {found}); "
        "use cpu, or leave the device unset"
    )


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No progress bar ("Loading weights") and errors only from transformers' logging, inside the block."""
    bars, verbosity = transformers_logging.is_progress_bar_enabled(), transformers_logging.get_verbosity()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


def load_model(
    model: str | Path, *, device: str | torch.device | None = None
) -> tuple[RespiraForAudioClassification, RespiraConfig]:
    """Load a respira classifier from a local folder or a Hugging Face Hub id, in eval mode on ``device``."""
    try:
        target = resolve_device(device)  # before any file is read
    except ValueError as error:
        raise ModelLoadError(str(error)) from None
    with quiet_transformers():  # weight mismatches are our one-line error, not a report
        loaded = _load(str(model))
    config = loaded.config
    labels = [config.id2label[index] for index in range(config.num_labels)]
    expected = CLASS_NAMES if config.problem_type == SINGLE_LABEL else MULTI_LABEL_NAMES
    if sorted(labels) != sorted(expected):
        raise ModelLoadError(
            f"{model} predicts labels {labels}, but a respira {config.problem_type} model predicts "
            f"{list(expected)}"
        )
    loaded.eval().to(target)
    return loaded, config


def strict_from_pretrained(model_class: type, source: str, weights: str) -> RespiraForAudioClassification:
    """``model_class.from_pretrained(source)``, refusing weights that do not match the config exactly."""
    try:
        loaded, info = model_class.from_pretrained(
            source, output_loading_info=True, ignore_mismatched_sizes=True
        )
    except Exception as error:
        failure = _weights_error(error, weights)
        if failure is not None:
            raise failure from None
        raise
    mismatched = sorted(info.get("mismatched_keys") or (), key=str)
    if mismatched:
        key, shape, needed = mismatched[0]
        config_file = (
            Path(source) / "config.json" if Path(source).is_dir() else f"the config.json of {source}"
        )
        raise ModelLoadError(
            f"{weights}: tensor {key} has shape {list(shape)}, but {config_file} ({loaded.config.num_labels} "
            f"labels) needs {list(needed)} (weights and config of different models?)"
        )
    problems = {key: list(info.get(key) or ()) for key in ("missing_keys", "unexpected_keys")}
    problems = {key: value for key, value in problems.items() if value}
    if problems:
        details = "; ".join(
            f"{key.replace('_', ' ')}: {', '.join(map(str, sorted(value, key=str)[:3]))}"
            + (f" (+{len(value) - 3} more)" if len(value) > 3 else "")
            for key, value in problems.items()
        )
        raise ModelLoadError(f"{weights}: the weights do not match config.json ({details})")
    return loaded


def _load(name: str) -> RespiraForAudioClassification:
    from ..models.respira import RespiraForAudioClassification

    path = resolve_model_name(name)
    if path is not None:
        check_model_folder(path)
        weights = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), None)
        if weights is not None:
            verify_checksum(weights)
        return strict_from_pretrained(RespiraForAudioClassification, str(path), str(weights or path))
    _check_respira_config(hub_config(name), name)
    try:
        verify_hub_file(name, WEIGHT_FILES[0])
        return strict_from_pretrained(RespiraForAudioClassification, name, f"the weights of {name}")
    except Exception as error:
        if isinstance(error, ModelLoadError) or not is_download_error(error):
            raise
        raise _download_error(error, name) from None


def hub_config(name: str) -> dict[str, Any]:
    """The ``config.json`` of the Hub model ``name``, via the Hugging Face cache."""
    try:
        config_dict, _ = PreTrainedConfig.get_config_dict(name)
    except Exception as error:
        if not is_download_error(error):
            raise
        raise _download_error(error, name) from None
    return config_dict


def _download_error(error: BaseException, name: str) -> ModelLoadError:
    found = hub_error(error, ("gated", "missing"))
    if found is not None and found[0] == "missing":
        return ModelLoadError(
            f"{name} is neither a local folder nor a model on the Hugging Face Hub "
            "(check the name; private models need `hf auth login`)"
        )
    if found is not None:
        return ModelLoadError(f"{name} is a gated model on the Hugging Face Hub: accept its terms and log in")
    return ModelLoadError(
        f"cannot download {name} from the Hugging Face Hub (offline or unreachable); "
        "pass a local folder or set HF_HUB_OFFLINE=0"
    )

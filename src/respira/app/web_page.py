"""The detector as a static page that runs in the browser (``respira export --web``, ``respira app``,
``push --space``); soxr has no JavaScript port: the page carries its response (:func:`resampler_tables`)."""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..models.respira.labels import MULTI_LABEL
from ..utils.files import check_output_folder, staged_folder

if TYPE_CHECKING:
    from ..models.respira import RespiraConfig

ORT_WEB_VERSION = "1.30.0"
"""The onnxruntime-web release the page ships (npm registry, pinned)."""
ORT_WEB_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
"""What the page needs of onnxruntime-web's ``dist/``: the wasm backend only (no WebGPU/WebGL)."""
ORT_WEB_ENV = "RESPIRA_ORT_WEB_DIR"
TABLE_RATES = (4000, 8000, 10000, 16000, 22050, 44100, 48000)
"""Input rates whose soxr responses the page carries (every rate of the corpora respira reads)."""
START_OUTPUTS = 64  # outputs at a stream's start taken from soxr's own response
KERNEL_FLOOR = 1e-7  # the kernel's ends: where soxr's impulse response falls below this share of its peak
PAGE_FILES = ("index.html", "respira-web.js", "respira-resample.js", "respira-events.js", "respira-plot.js")
MAX_SECONDS = 30 * 60
"""The longest recording the page analyses: 30 min at 32 kHz is 460 MB of samples in the tab."""


def ort_web_folder() -> Path:
    """Where onnxruntime-web's ``dist/`` files are read: ``$RESPIRA_ORT_WEB_DIR``, else respira's cache."""
    default = Path.home() / ".cache" / "respira" / f"onnxruntime-web-{ORT_WEB_VERSION}"
    return Path(os.environ.get(ORT_WEB_ENV) or default)


def _floats(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _impulse(position: int, length: int, rate: int, target: int) -> np.ndarray:
    import soxr

    signal = np.zeros(length, dtype=np.float32)
    signal[position] = 1.0
    return soxr.resample(signal, rate, target, quality="HQ").astype(np.float64)


@functools.cache
def resampler_tables(rate: int, target: int) -> dict[str, Any]:
    """soxr's high-quality resampling from ``rate`` to ``target`` as the page applies it: ``kernel`` (one
    impulse's outputs, down to :data:`KERNEL_FLOOR` of its peak), its first tap's ``offset`` and ``start``
    (the first :data:`START_OUTPUTS` outputs as weights of the first inputs)."""
    inputs = START_OUTPUTS * rate // target + 400
    length = inputs + 1000  # soxr's first outputs do not depend on what follows this far (kernel: ~200)
    start = np.stack([_impulse(k, length, rate, target)[:START_OUTPUTS] for k in range(inputs)], axis=1)
    down = rate // math.gcd(rate, target)
    middle = down * (1 + 2 * rate // down)  # 2 s in, at the first phase
    response = _impulse(middle, 2 * middle, rate, target)
    kept = np.nonzero(np.abs(response) > KERNEL_FLOOR * np.abs(response).max())[0]
    first, last = int(kept[0]), int(kept[-1])
    return {
        "start": _floats(start),
        "start_inputs": inputs,
        "kernel": _floats(response[first : last + 1]),
        "offset": first - middle * target // rate,
    }


def _lowpass(config: RespiraConfig) -> dict[str, Any] | None:
    from scipy import signal

    from ..models.respira.audio_decoding import input_preprocessing

    options = input_preprocessing(config)
    if "lowpass_cutoff" not in options:
        return None
    sos = signal.butter(
        options["lowpass_order"], options["lowpass_cutoff"], fs=options["sampling_rate"], output="sos"
    )
    zeros = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return {
        "sos": sos.tolist(),
        "zi": signal.sosfilt_zi(sos).tolist(),
        "padlen": 3 * (2 * len(sos) + 1 - zeros),
        # respira.models.respira.audio_decoding.lowpass leaves shorter input as is
        "shortest": 3 * (2 * len(sos) + 1) + 1,
    }


def _events(config: RespiraConfig) -> dict[str, Any]:
    from ..inference.frames import chunk_sizes
    from ..models.respira.decision import FRAME_HOP_SECONDS, event_settings_of

    chunk, margin = chunk_sizes(config)
    return {
        "rate": config.sampling_rate,
        "chunk": chunk,
        "margin": margin,
        "frame_hop": FRAME_HOP_SECONDS,
        "settings": event_settings_of(config).to_dict(),
    }


def _settings(config: RespiraConfig, frame_samples: int, name: str, model_line: str) -> dict[str, Any]:
    from ..models.respira import audio_decoding as checks
    from ..models.respira import windows
    from ..models.respira.decision import aggregation_of, thresholds_of

    rate = config.sampling_rate
    window, hop = windows.window_samples(windows.DEFAULT_WINDOW_SECONDS, windows.DEFAULT_HOP_SECONDS, rate)
    return {
        "name": name,
        "model_line": model_line,
        "rate": rate,
        "id2label": {str(k): v for k, v in config.id2label.items()},
        "problem_type": config.problem_type,
        "thresholds": list(thresholds_of(config)),
        "window": window,
        "hop": hop,
        "window_seconds": windows.DEFAULT_WINDOW_SECONDS,
        "max_seconds": MAX_SECONDS,
        "frame_samples": frame_samples,
        "lowpass": _lowpass(config),
        "events": _events(config),
        "aggregation": config.recording_aggregation or windows.DEFAULT_AGGREGATION,
        "top_k": config.recording_top_k or windows.DEFAULT_TOP_K,
        "recording_rule": windows.describe_aggregation(*aggregation_of(config)),
        "checks": {
            "silent_rms": checks.SILENT_RMS,
            "clipped_fraction": checks.CLIPPED_FRACTION,
            "clipped_level": checks.CLIPPED_LEVEL,
            "full_scale_limit": checks.FULL_SCALE_LIMIT,
            "min_rate": checks.MIN_SAMPLING_RATE,
            "band_top": checks.LUNG_SOUND_BAND_TOP,
            "untrusted": checks._UNTRUSTED,
        },
        "resampler": {str(r): resampler_tables(r, rate) for r in TABLE_RATES if r != rate},
    }


README = """---
title: respira · {title}
emoji: 🫁
colorFrom: blue
colorTo: green
sdk: static
app_file: index.html
pinned: false
custom_headers:
  cross-origin-embedder-policy: require-corp
  cross-origin-opener-policy: same-origin
---

# {name} in the browser

The recording is decoded and scored on this device (onnxruntime-web {version}, WebAssembly): nothing is
uploaded. Generated by `respira export --web`. A research tool, not a medical device. `custom_headers` asks
the Hub for the COOP and COEP headers, under which a page is cross-origin isolated and runs the model on
threads (opened at the Space's own address; inside the Hub's page it runs on one).
"""


def check_web_page(model: str | Path) -> tuple[Path, RespiraConfig]:
    """The folder of ``model`` and its config, if a page can be made of it (else a one-line error)."""
    from ..hub.loading import check_model_folder
    from ..hub.onnx import onnx_model_folder
    from ..models.respira import RespiraConfig

    folder = onnx_model_folder(model)
    check_model_folder(folder, weights=("model.onnx", "model.safetensors"))
    ort_web = ort_web_folder()
    missing = [file for file in ORT_WEB_FILES if not (ort_web / file).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{ort_web}: no onnxruntime-web {ORT_WEB_VERSION} files ({', '.join(missing)}): "
            f"run `make web-deps` (npm pack onnxruntime-web@{ORT_WEB_VERSION}, its package/dist/ there) "
            f"or set {ORT_WEB_ENV}"
        )
    config = RespiraConfig.from_pretrained(folder)
    if config.problem_type != MULTI_LABEL:
        raise ValueError(f"{model}: the page decides crackle and wheeze flags: a multi-label model only")
    return folder, config


def write_web_page(
    model: str | Path, output_dir: str | Path, *, overwrite: bool = False, name: str | None = None
) -> Path:
    """Write the static page of ``model`` to ``output_dir``; ``name``: what the page calls the model."""
    from ..pretrained import check_not_shipped
    from ..pretrained.shipped import model_line

    output_dir = Path(output_dir)
    check_not_shipped(output_dir, "write a page in it: give another output folder")
    check_output_folder(output_dir, overwrite=overwrite, exists_message=_exists(output_dir))
    folder, config = check_web_page(model)
    name = name or Path(str(model)).name
    line = model_line(str(model))[1]  # what `respira predict` says of it on stderr
    with tempfile.TemporaryDirectory(prefix="respira-web-") as tmp:
        return _write(page_onnx(folder, Path(tmp)), output_dir, config, name, overwrite, line=line)


def page_onnx(folder: Path, scratch: Path) -> Path:
    """The ``model.onnx`` of ``folder``, else its torch weights converted into ``scratch`` by the ONNX
    exporter alone (no Hub export: no card, checksums or code)."""
    if (folder / "model.onnx").is_file():
        return folder / "model.onnx"
    from ..hub.loading import quiet_transformers
    from ..hub.onnx import export_onnx
    from ..models.respira import RespiraForAudioClassification

    with quiet_transformers():
        model = RespiraForAudioClassification.from_pretrained(folder)
    return export_onnx(model, scratch / "model.onnx")


def _exists(output_dir: Path) -> str:
    return f"{output_dir} exists and is not empty; pass --overwrite to replace it"


def _write(
    onnx_file: Path, output_dir: Path, config: RespiraConfig, name: str, overwrite: bool, *, line: str
) -> Path:
    import onnxruntime

    from ..models.respira.windows import FRAME_SAMPLES_KEY

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    frame_samples = int(session.get_modelmeta().custom_metadata_map.get(FRAME_SAMPLES_KEY, 1))
    settings = _settings(config, frame_samples, name, line)
    ort_web = ort_web_folder()
    page = resources.files("respira.app") / "web"
    with staged_folder(output_dir, overwrite=overwrite, exists_message=_exists(output_dir)) as staging:
        for file_name in PAGE_FILES:
            (staging / file_name).write_bytes((page / file_name).read_bytes())
        for file_name in ORT_WEB_FILES:
            shutil.copyfile(ort_web / file_name, staging / file_name)
        shutil.copyfile(onnx_file, staging / "model.onnx")
        (staging / "respira-web.json").write_text(json.dumps(settings), encoding="utf-8")
        assets = {
            "settings": settings,
            "model": base64.b64encode(onnx_file.read_bytes()).decode("ascii"),
            "wasm": base64.b64encode((ort_web / ORT_WEB_FILES[2]).read_bytes()).decode("ascii"),
            "glue": (ort_web / ORT_WEB_FILES[1]).read_text(encoding="utf-8"),
        }
        (staging / "respira-assets.js").write_text(
            f"window.RESPIRA_ASSETS = {json.dumps(assets)};\n", "utf-8"
        )
        (staging / "README.md").write_text(
            README.format(name=name, title=name.rsplit("/", 1)[-1], version=ORT_WEB_VERSION), encoding="utf-8"
        )
    return output_dir

"""Export a training run folder as a self-contained model folder (what goes to the Hub), never unpickling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

from ..models import RespiraConfig, RespiraForAudioClassification
from ..models.lora import ADAPTER_FOLDER, has_adapter
from ..models.respira.feature_extraction_respira import feature_extractor_for
from ..pretrained import check_not_shipped
from ..records.run import RUN_RECORD_FILE
from ..records.site_fit import FIT_EVIDENCE
from ..records.sites import BUILD_RECORD, recorded_evaluations
from ..utils.files import check_output_folder, staged_folder
from ..utils.messages import one_line
from .card_render import card_data_from_run_dir, set_folder_files
from .card_template import render_model_card
from .checksums import CHECKSUM_FILE, write_checksums
from .loading import (
    check_model_folder,
    check_weights_file,
    local_model_folder,
    quiet_transformers,
    strict_from_pretrained,
)
from .onnx import ONNX_FILE, export_onnx
from .remote_code import RemoteCode, remote_code_files, write_remote_code

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
METRICS = "metrics.json"
README = "README.md"
EXPORTED_FILES: tuple[str, ...] = (CONFIG, WEIGHTS, PREPROCESSOR, METRICS, README, CHECKSUM_FILE)
RECORDS: tuple[str, ...] = (RUN_RECORD_FILE, "trainer_state.json", BUILD_RECORD)
"""What a folder records of the runs that made it, copied when present (the card reads them)."""


def model_folder(name: str | Path) -> Path:
    """The folder ``name`` names (a folder or a shipped detector), else a ``ModelLoadError``."""
    folder = local_model_folder(name) or Path(name).expanduser()
    check_model_folder(folder, weights=(WEIGHTS,))
    return folder


def _not_empty(output_dir: Path) -> str:
    return (
        f"output folder {output_dir} exists and is not empty; pass overwrite=True (--overwrite) to replace it"
    )


def _verify(folder: Path) -> None:
    """The export must load with the Auto classes, with every weight matched."""
    try:
        with quiet_transformers():
            strict_from_pretrained(AutoModelForAudioClassification, str(folder), str(folder / WEIGHTS))
            AutoFeatureExtractor.from_pretrained(folder)
    except Exception as error:
        raise ValueError(
            f"the exported model does not load with from_pretrained: {one_line(error)}"
        ) from error


def write_model_files(
    folder: Path,
    source: str | Path,
    *,
    onnx: bool,
    code: RemoteCode | None,
    model: RespiraForAudioClassification | None = None,
) -> None:
    """Finish a staged model folder that holds its config and weights: the preprocessor config
    (``source``'s, else the config's), the ONNX graph (of ``model``, else the folder's weights; ``source``'s
    own with their values where only those differ), the checksums and the shipped ``code``."""
    source = Path(source).expanduser()
    if (source / PREPROCESSOR).is_file():
        shutil.copyfile(source / PREPROCESSOR, folder / PREPROCESSOR)
    else:
        feature_extractor_for(RespiraConfig.from_pretrained(folder)).save_pretrained(folder)
    if onnx:
        if model is None:
            with quiet_transformers():
                model = RespiraForAudioClassification.from_pretrained(folder)
        export_onnx(model, folder / ONNX_FILE, base=source)
    write_checksums(folder)
    if code is not None:
        write_remote_code(folder, code)


def export_model(
    run_dir: str | Path,
    output_dir: str | Path,
    *,
    overwrite: bool = False,
    model_id: str | None = None,
    with_code: bool | None = None,
    onnx: bool | None = None,
) -> Path:
    """Write the Hub-ready model folder of ``run_dir`` (weights, configs, metrics, checksums, card, records)
    to ``output_dir`` and return it. ``with_code`` / ``onnx``: ``None`` keeps what ``run_dir`` has; a
    non-empty ``output_dir`` raises ``FileExistsError`` unless ``overwrite``."""
    run_dir = model_folder(run_dir)
    check_weights_file(run_dir / WEIGHTS)  # a damaged file is named here, not as a staging copy
    output_dir = Path(output_dir).expanduser()
    check_not_shipped(output_dir, "export into it: give another output folder")
    output, run = output_dir.resolve(), run_dir.resolve()
    if output.is_relative_to(run) or run.is_relative_to(output):
        raise ValueError(
            f"the output folder {output_dir} must be outside the run folder {run_dir} (and not contain it)"
        )
    check_output_folder(output_dir, overwrite=overwrite, exists_message=_not_empty(output_dir))
    card_data = card_data_from_run_dir(run_dir, model_id=model_id)
    if with_code is None:
        with_code = "auto_map" in json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))  # checked above
    if onnx is None:
        onnx = (run_dir / ONNX_FILE).is_file()
    render_model_card(card_data)  # a card that cannot be rendered fails before any writing

    with staged_folder(output_dir, overwrite=overwrite, exists_message=_not_empty(output_dir)) as staging:
        for name in (CONFIG, WEIGHTS, METRICS, *RECORDS, *FIT_EVIDENCE):
            if (run_dir / name).is_file():
                shutil.copyfile(run_dir / name, staging / name)
        for evaluation in recorded_evaluations(run_dir):  # JSON only: the reports' plots stay behind
            copy = staging / evaluation.relative_to(run_dir)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(evaluation, copy)
        if has_adapter(run_dir):  # a LoRA run's PEFT adapter (config and weights; its short README)
            shutil.copytree(run_dir / ADAPTER_FOLDER, staging / ADAPTER_FOLDER)
        write_model_files(staging, run_dir, onnx=onnx, code=remote_code_files() if with_code else None)
        set_folder_files(card_data, staging, code=with_code)
        render_model_card(card_data).save(staging / README)
        _verify(staging)
    return output_dir

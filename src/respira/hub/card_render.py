"""A model folder's card: its card data read from the folder's JSON files and the weights' header, and its
``README.md`` rendered."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path

from ..models import RespiraConfig
from ..models.lora import has_adapter
from ..pretrained.shipped import shipped_detector
from ..records.run import RunRecord
from ..records.site_fit import SiteFitRecord
from ..records.site_verdict import SITE_FIT_PROTOCOL
from ..records.sites import BUILD_RECORD, site_verdicts
from ..utils.files import read_json_object
from .card_data import RespiraModelCardData
from .card_results import StaleEvaluationWarning, base_comparison, external_validations
from .card_template import render_model_card
from .checksums import read_checksums
from .loading import check_model_folder
from .onnx import ONNX_FILE
from .remote_code import code_size, remote_code_files


def _safetensors_parameters(path: Path) -> int | None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="np") as weights:
            return sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())  # noqa: SIM118
    except (OSError, SafetensorError):
        return None


def card_data_from_run_dir(run_dir: str | Path, *, model_id: str | None = None) -> RespiraModelCardData:
    """The card data of a run folder, from its JSON files and the weights' header."""
    run_dir = Path(run_dir).expanduser()
    check_model_folder(run_dir, weights=())
    card = RespiraModelCardData(model_id=model_id)
    config = RespiraConfig.from_pretrained(run_dir)
    card.set_model_config(config)
    build = read_json_object(run_dir / BUILD_RECORD)
    state = read_json_object(run_dir / "trainer_state.json")
    if state is None and build is not None:
        state = build.get("trainer_state")
    if isinstance(state, Mapping):
        card.set_trainer_state(state)
    record = RunRecord.load_if_present(run_dir)
    if record is not None:
        card.set_run_record(record)
    card.external_validations, left_out = external_validations(run_dir)
    for reason in left_out:
        warnings.warn(reason, StaleEvaluationWarning, stacklevel=2)
    card.adapter = has_adapter(run_dir)
    card.site_verdicts = site_verdicts(run_dir)
    card.build_record = build
    site_fit = SiteFitRecord.load_if_present(run_dir)
    if site_fit is not None and any(v.protocol == SITE_FIT_PROTOCOL for v in card.site_verdicts):
        card.site_fit = site_fit
        card.hyperparameters["threshold_source"] = "site_fit"
        if not site_fit.chosen_by:  # a head chosen by a study elsewhere: the detector, not a site's
            card.model_name = f"{card.get_model_name()}, fitted to the site {site_fit.site}"
        card.set_fitted_thresholds(config)
    card.base_comparison = base_comparison(run_dir, card.site_verdicts)
    if card.num_parameters is None and (run_dir / "model.safetensors").is_file():
        card.num_parameters = _safetensors_parameters(run_dir / "model.safetensors")
    return card


def set_folder_files(card: RespiraModelCardData, folder: Path, *, code: bool) -> None:
    """Set the card's code, ONNX and checksum fields from ``folder``'s files (``code``: it ships its code)."""
    if code:
        shipped = [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.py"))]
        card.remote_code, card.code_requirements = True, list(remote_code_files().requirements)
        card.code_size = code_size(shipped) if shipped else None  # the size of the code it holds
        if not shipped:
            card.code_elsewhere = folder.name if shipped_detector(folder.name) else "path/to/this_folder"
    card.onnx = (folder / ONNX_FILE).is_file()
    card.checksums = read_checksums(folder)


def render_folder_card(
    folder: str | Path, *, model_id: str | None = None, base_folder: Path | None = None
) -> Path:
    """Render the card of an exported model folder from its own files into its ``README.md``."""
    folder = Path(folder).expanduser()
    card = card_data_from_run_dir(folder, model_id=model_id)
    card.site_fit_base = base_folder
    set_folder_files(card, folder, code="auto_map" in (read_json_object(folder / "config.json") or {}))
    path = folder / "README.md"
    render_model_card(card).save(path)
    return path

"""The card data of a run folder: :func:`card_data_from_run_dir` fills it for a folder written by
``respira train``, reading only JSON and the weights file (never ``training_args.bin`` or checkpoints):

* ``config.json`` (required): labels, problem type, encoder, architecture and thresholds;
* ``trainer_state.json``: steps, epochs and the best validation score (a shipped detector does not carry
  the file: its ``build_record.json`` records these, :data:`~respira.hub.card_data.TRAINER_STATE_FACTS`);
* ``respira_run.json``: the :class:`~respira.run_record.RunRecord` (data and split, seeds, the kept
  seed, hyper-parameters, parameter count, test and validation results);
* ``model.safetensors``: its header, to count the stored tensors' values when the run folder has no
  record; its SHA-256 when the folder holds an evaluation to check (next);
* the evaluations the folder records (:func:`respira.pretrained.recorded_evaluations`): every site it
  was scored on, against all-normal (:func:`respira.pretrained.site_verdicts`), and the external
  validation of a recording-labelled corpus (``respira evaluate --dataset kauh --record``) while it is of
  this folder's weights and thresholds (:mod:`respira.hub.card_external`);
* ``build_record.json``: the record of the ``make detector`` build that made it;
* in an exported folder (:func:`render_folder_card`), also what the export wrote: ``model.onnx``, the
  model's code (``auto_map``; a shipped detector declares it without its files, which an export or a push
  generates, so its card counts what they write) and ``checksums.sha256``.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..models.lora import has_adapter
from ..pretrained import BUILD_RECORD, site_verdicts
from ..run_record import RunRecord
from .card_data import RespiraModelCardData
from .card_external import StaleEvaluationWarning, external_validations
from .checksums import read_checksums
from .loading import check_model_folder

__all__ = ["card_data_from_run_dir", "render_folder_card"]


def _safetensors_parameters(path: Path) -> int | None:
    """Number of values stored in a safetensors file, from its header (no tensor is read)."""
    try:
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > 100_000_000:
                return None
            header = json.loads(handle.read(size))
    except (OSError, struct.error, ValueError):
        return None
    return sum(
        math.prod(int(d) for d in entry.get("shape", []))
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict)
    )


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None


def card_data_from_run_dir(run_dir: str | Path, *, model_id: str | None = None) -> RespiraModelCardData:
    """The card data of a run folder (see the module docstring for the files read)."""
    from ..models import RespiraConfig

    run_dir = Path(run_dir).expanduser()
    check_model_folder(run_dir, weights=())
    card = RespiraModelCardData(model_id=model_id)
    card_config = RespiraConfig.from_pretrained(run_dir)
    card.set_model_config(card_config)
    build = _read_json(run_dir / BUILD_RECORD)
    build = build if isinstance(build, Mapping) else None
    state = _read_json(run_dir / "trainer_state.json")
    if not isinstance(state, Mapping) and build is not None:
        state = build.get("trainer_state")
    if isinstance(state, Mapping):
        card.set_trainer_state(state)
    record = RunRecord.load_if_present(run_dir)
    if record is not None:
        card.set_run_record(record)
    card.external_validations, left_out = external_validations(run_dir)
    for reason in left_out:  # for whoever exports the folder, not for the card's readers
        warnings.warn(reason, StaleEvaluationWarning, stacklevel=2)
    card.adapter = has_adapter(run_dir)
    card.site_verdicts = site_verdicts(run_dir)
    card.build_record = build
    if card.num_parameters is None and (run_dir / "model.safetensors").is_file():
        card.num_parameters = _safetensors_parameters(run_dir / "model.safetensors")
    return card


def render_folder_card(
    folder: str | Path,
    *,
    model_id: str | None = None,
    adjust: Callable[[RespiraModelCardData], None] | None = None,
) -> Path:
    """Render the card of an exported model folder from its own files into its ``README.md``
    (``adjust``: changes the card data before rendering, e.g. where the thresholds come from).

    What the export shipped (ONNX graph, the model's code, checksums) is read from the folder, as are
    the run record, the evaluations and the build record the folder holds; the same files give the same
    card, which is how a test checks that a committed card says only what its folder's files say.
    """
    from ..models.respira import RespiraConfig
    from .card_render import render_model_card
    from .onnx import ONNX_FILE
    from .remote_code import code_size, remote_code_files

    folder = Path(folder).expanduser()
    card = card_data_from_run_dir(folder, model_id=model_id)
    if "auto_map" in (_read_json(folder / "config.json") or {}):  # the model's code ships with it
        code = remote_code_files(RespiraConfig.from_pretrained(folder))
        shipped = [path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.py"))]
        card.remote_code, card.code_requirements = True, list(code.requirements)
        card.code_size = code_size(shipped or code.files.values())  # no files: what an export writes
    card.onnx = (folder / ONNX_FILE).is_file()
    card.checksums = read_checksums(folder)
    if adjust is not None:
        adjust(card)
    path = folder / "README.md"
    render_model_card(card).save(path)
    return path

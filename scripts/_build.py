"""What the two build scripts share (``build_detector.py``, ``build_site_detectors.py``): running respira's
command line as a user would, the layout a built folder ships in, and putting it in place.

A shipped folder holds what an installed respira runs and what its card is rendered from: weights,
config, preprocessor config, ``model.onnx``, ``checksums.sha256``, the card and the run, build and
evaluation files, and :data:`EXPECTED_OUTPUTS`: what the folder outputs on a few real recordings of
``../shared`` (:func:`write_expected_outputs`; ``tests/test_shipped_outputs.py`` runs the folder again and
compares, so a change of respira that changes what a shipped detector outputs fails there, and one that
does not needs no rebuild). :func:`shipped_layout` takes out what the export or fit-site wrote besides:
the model's generated code (an installed respira registers its own classes; ``respira export`` and
``respira push`` generate the code again for the folder's ``auto_map``) and ``trainer_state.json`` (the
card's facts of it go to ``build_record.json``: :func:`trainer_state_facts`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

TRAINER_STATE = "trainer_state.json"
EXPECTED_OUTPUTS = "expected_outputs.json"
ONNX_TOLERANCE = 1e-4
"""How far the ONNX graph's probabilities may lie from torch's (docs/how-to/export-onnx-push-space.md)."""
TORCH_TOLERANCE = 2e-5
"""How far torch's probabilities may lie from those the build recorded: float32 rounding differs between
CPUs (commit 0a6c309 gives the differences between the AMD EPYC VM that built the shipped detectors and an
Intel Xeon VM, every label the same)."""
WINDOW_KEYS = ("start", "end", "crackle", "wheeze", "label")


def detector_outputs(detector: Any, shared: Path, recordings: Sequence[str]) -> dict[str, Any]:
    """What ``detector`` (a :class:`respira.Detector`) outputs on each of ``recordings`` (paths relative to
    ``shared``), by path: the recording's label and probabilities, and each window's
    :data:`WINDOW_KEYS`."""
    outputs = {}
    for name in recordings:
        found = detector.predict_file(shared / name)
        windows = [{key: row[key] for key in WINDOW_KEYS} for row in found.rows]
        outputs[name] = {"label": found.label, "crackle": found.crackle, "wheeze": found.wheeze}
        outputs[name]["windows"] = windows
    return outputs


def torch_outputs(folder: Path, shared: Path, recordings: Sequence[str]) -> dict[str, Any]:
    """:func:`detector_outputs` of the torch model of ``folder`` on the CPU with one thread (the same on
    another machine to :data:`TORCH_TOLERANCE`)."""
    import torch

    import respira

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        detector = respira.Detector.from_pretrained(folder, device="cpu", onnx=False)
        return detector_outputs(detector, shared, recordings)
    finally:
        torch.set_num_threads(threads)


def write_expected_outputs(folder: Path, shared: Path, recordings: Sequence[str]) -> Path:
    """``folder/expected_outputs.json``: :func:`torch_outputs` of the built ``folder`` on ``recordings``
    (paths relative to ``shared``), which the ONNX graph must match to :data:`ONNX_TOLERANCE`."""
    outputs = torch_outputs(folder, shared, recordings)
    record = {"device": "cpu", "threads": 1, "onnx_tolerance": ONNX_TOLERANCE, "recordings": outputs}
    path = folder / EXPECTED_OUTPUTS
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def sha256(path: Path) -> str:
    """The file's SHA-256 (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_respira(args: list[str], *, cwd: Path, work: Path, log: Path) -> int:
    """Run ``python -m respira ARGS`` in ``cwd`` with one thread, offline, seeded hashing and the datasets
    cache in ``work``; its output is appended to ``log``. Returns the exit code."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONHASHSEED": "0",
        "TQDM_DISABLE": "1",
        "HF_DATASETS_CACHE": str(work / "datasets_cache"),
    }
    print(f"== respira {' '.join(args)}", flush=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n== respira {' '.join(args)}\n")
        out.flush()
        done = subprocess.run(
            [sys.executable, "-m", "respira", *args], cwd=cwd, env=env, stdout=out, stderr=out, check=False
        )
    return done.returncode


def last_line(log: Path) -> list[str]:
    """The log's last line (in a list, as the scripts' failure messages quote it)."""
    return log.read_text(encoding="utf-8").strip().splitlines()[-1:]


def trainer_state_facts(path: Path) -> dict[str, Any]:
    """What the card says of a ``trainer_state.json`` (:data:`respira.hub.card_data.TRAINER_STATE_FACTS`),
    for the build record of a folder that does not carry the file."""
    from respira.hub.card_data import TRAINER_STATE_FACTS

    state = json.loads(path.read_text(encoding="utf-8"))
    return {key: state[key] for key in TRAINER_STATE_FACTS if state.get(key) is not None}


def drop_fit_timings(folder: Path) -> None:
    """``folder``'s ``site_fit.json`` without its ``seconds`` (how long the fit took on this machine, the
    one field two builds of the same inputs write differently; the build log keeps it)."""
    from respira.records.site_fit import SITE_FIT_FILE
    from respira.utils.files import write_json_atomic

    path = folder / SITE_FIT_FILE
    record = json.loads(path.read_text(encoding="utf-8"))
    record.pop("seconds", None)
    write_json_atomic(path, record)


TRAINER_SPEED_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")
"""The Trainer's speed metrics (``transformers.trainer_utils.speed_metrics``), with ``_mean``/``_std``."""


def drop_speed_metrics(path: Path) -> None:
    """``path``'s metrics JSON without the Trainer's speed metrics at any depth (how fast this machine ran
    the evaluation: the fields two builds of the same inputs write differently; the build log keeps them)."""
    from respira.utils.files import write_json_atomic

    def kept(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: kept(item) for key, item in value.items() if not _is_speed(key)}
        return [kept(item) for item in value] if isinstance(value, list) else value

    write_json_atomic(path, kept(json.loads(path.read_text(encoding="utf-8"))))


def _is_speed(key: str) -> bool:
    stem = key.removesuffix("_mean").removesuffix("_std")
    return stem.endswith(TRAINER_SPEED_SUFFIXES)


def write_build_record(folder: Path, record: Mapping[str, Any]) -> None:
    """``folder/build_record.json``: sorted keys, two-space indent."""
    text = json.dumps(dict(record), indent=2, sort_keys=True) + "\n"
    (folder / "build_record.json").write_text(text, encoding="utf-8")


def shipped_layout(folder: Path) -> list[str]:
    """Take the model's generated code and ``trainer_state.json`` out of a built folder; the names removed.

    Only files respira wrote are removed: the code files :func:`respira.hub.remote_code.check_remote_code`
    lists that are respira's model folder's as they are, and ``trainer_state.json``. The config keeps its
    ``auto_map``, so ``respira export`` and ``respira push`` of the folder write the code again.
    """
    from respira.hub.remote_code import check_remote_code, remote_code_files

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    code = check_remote_code(folder) if "auto_map" in config and any(folder.glob("*.py")) else []
    ours = remote_code_files().files
    removed = [name for name in code if (folder / name).read_text(encoding="utf-8") == ours.get(name)]
    if (folder / TRAINER_STATE).is_file():
        removed.append(TRAINER_STATE)
    for name in removed:
        (folder / name).unlink()
    return removed


def install(export: Path, target: Path) -> None:
    """Replace ``target`` with ``export`` (the old folder is removed only once the new one is in place)."""
    from respira.utils.files import WRITTEN_FILE

    staging = target.with_name(f".{target.name}.new")
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(export, staging, ignore=shutil.ignore_patterns(WRITTEN_FILE))  # respira's own record
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)

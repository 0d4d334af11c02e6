"""The shipped detectors checked by what they output (``expected_outputs.json``, written by the build
scripts' ``scripts/_build.py``): each folder, loaded once, gives on the real recordings its build recorded
the same labels and windows, and per-window and per-recording probabilities to float32 rounding through the
torch Detector (CPU, one thread: ``TORCH_TOLERANCE``, as CPUs round differently) and within the documented
tolerance through its ONNX graph. A change of respira that fails here
changes what a shipped detector outputs: ``make detector`` / ``make site-detectors``."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import respira
from respira.pretrained.shipped import shipped_detectors

from .conftest import SHARED_DIR

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("icbhi-crackle-wheeze", "sprsound-crackle-wheeze")


def _build_module() -> Any:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location("_build", ROOT / "scripts" / "_build.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


BUILD = _build_module()


def _expected(name: str) -> dict[str, Any]:
    return json.loads((shipped_detectors()[name] / BUILD.EXPECTED_OUTPUTS).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shared() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(
            f"real recordings not found at {SHARED_DIR} (../shared is only present on project machines)"
        )
    return SHARED_DIR


@pytest.fixture(scope="module")
def torch_outputs(shared: Path) -> dict[str, dict[str, Any]]:
    """Each shipped detector's torch outputs on its recorded recordings, computed once for the module."""
    return {
        name: BUILD.torch_outputs(shipped_detectors()[name], shared, list(_expected(name)["recordings"]))
        for name in SHIPPED
    }


def test_every_shipped_detector_records_its_outputs_on_several_rates() -> None:
    import soundfile as sf

    assert set(SHIPPED) == set(shipped_detectors())  # every shipped folder is checked
    for name in SHIPPED:
        expected = _expected(name)
        assert expected["threads"] == 1 and expected["onnx_tolerance"] == BUILD.ONNX_TOLERANCE
        assert len(expected["recordings"]) >= 2 and all(r["windows"] for r in expected["recordings"].values())
        if SHARED_DIR.is_dir():
            rates = {sf.info(SHARED_DIR / path).samplerate for path in expected["recordings"]}
            assert len(rates) >= 2, (name, rates)


def assert_same_outputs(name: str, found: dict[str, Any], expected: dict[str, Any], tolerance: float) -> None:
    """The same recordings, labels and windows, and probabilities within ``tolerance``."""
    assert list(found) == list(expected), name
    for path, want in expected.items():
        got = found[path]
        assert got["label"] == want["label"], (name, path)
        assert [(w["start"], w["end"], w["label"]) for w in got["windows"]] == [
            (w["start"], w["end"], w["label"]) for w in want["windows"]
        ], (name, path)
        for key in ("crackle", "wheeze"):
            np.testing.assert_allclose(
                [got[key], *(w[key] for w in got["windows"])],
                [want[key], *(w[key] for w in want["windows"])],
                atol=tolerance,
                rtol=0,
                err_msg=f"{name}'s outputs changed: rebuild it ({path} {key})",
            )


@pytest.mark.real_data
@pytest.mark.parametrize("name", SHIPPED)
def test_the_torch_detector_outputs_what_its_build_recorded(
    name: str, torch_outputs: dict[str, dict[str, Any]]
) -> None:
    """To float32 rounding (TORCH_TOLERANCE): another CPU than the build's rounds differently."""
    assert_same_outputs(name, torch_outputs[name], _expected(name)["recordings"], BUILD.TORCH_TOLERANCE)


def test_a_change_beyond_the_torch_tolerance_is_caught() -> None:
    expected = _expected(SHIPPED[0])["recordings"]
    moved = json.loads(json.dumps(expected))
    assert_same_outputs(SHIPPED[0], moved, expected, BUILD.TORCH_TOLERANCE)
    first = next(iter(moved.values()))
    first["windows"][0]["wheeze"] += 3 * BUILD.TORCH_TOLERANCE
    with pytest.raises(AssertionError, match="outputs changed: rebuild it"):
        assert_same_outputs(SHIPPED[0], moved, expected, BUILD.TORCH_TOLERANCE)


@pytest.mark.real_data
@pytest.mark.parametrize("name", SHIPPED)
def test_the_onnx_graph_outputs_what_its_build_recorded_within_tolerance(name: str, shared: Path) -> None:
    expected = _expected(name)["recordings"]
    detector = respira.Detector.from_pretrained(shipped_detectors()[name], onnx=True)
    found = BUILD.detector_outputs(detector, shared, list(expected))
    assert_same_outputs(name, found, expected, BUILD.ONNX_TOLERANCE)

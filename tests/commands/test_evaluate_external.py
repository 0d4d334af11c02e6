"""``respira evaluate`` on a corpus scored per recording (:mod:`respira.evaluation.corpus_run`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from respira.cli import main
from respira.metrics.recording_level import unmeasurable


def _one_sided_kauh(folder: Path, sound: str) -> Path:
    """4 patients x 3 filter modes of KAUH-named noise, every recording of the sound code ``sound``."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for patient in range(1, 5):
        for mode in "BDE":
            samples = (0.05 * rng.standard_normal(12000)).astype(np.float32)
            sf.write(
                folder / f"{mode}P{patient}_Asthma,{sound},P L L,50,M.wav", samples, 4000, subtype="PCM_16"
            )
    return folder


@pytest.mark.parametrize(
    ("sound", "normal", "abnormal"), [("N", 12, 0), ("C", 0, 12)], ids=["no-abnormal", "no-normal"]
)
def test_data_without_one_side_says_what_cannot_be_measured_and_flags_no_baseline(
    detector_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, sound: str, normal: int, abnormal: int
) -> None:
    """Issue 58, item 6: 12 normal recordings scored 100.0 "BELOW BASELINE (all-normal 100.0)", exit 0;
    sensitivity cannot be measured there, in fit-site's words (which refuses such data)."""
    data = _one_sided_kauh(tmp_path / "site", sound)
    output = tmp_path / "evaluation"
    options = ["--dataset", "kauh", "--data_dir", str(data), "--window", "1", "--hop", "1"]
    code = main(["evaluate", str(detector_dir), *options, "--bootstrap", "20", "--output_dir", str(output)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "BELOW BASELINE" not in printed
    assert json.loads((output / "metrics.json").read_text())["below_baseline"] == []
    clause = unmeasurable(normal, abnormal)
    assert f"--data_dir {data} (KAUH) has {clause}; its ICBHI-style score is one side alone" in printed
    lacking = "sensitivity" if normal else "specificity"
    assert (
        f"{normal} normal and {abnormal} abnormal (crackle or wheeze) recordings: {lacking} cannot" in clause
    )
    table = printed.split("ICBHI-style")[1].splitlines()[0]
    assert table.rstrip().endswith(f"{lacking} cannot be measured")

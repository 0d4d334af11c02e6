"""A model with a quality head on the app page: a recording too poor to judge gets that verdict, with its
quality and the model's threshold, from the torch detector and from the Space's ONNX runner alike; the
runner's rows have the quality column ``respira predict --onnx`` gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from respira import Detector
from respira.app.analysis import analyse, recording_verdict
from respira.app.detectors import open_detector
from respira.app.onnx_runner import QUALITY_NAME, QUALITY_THRESHOLD_KEY, OnnxDetector
from respira.audio import read_audio
from respira.core.decision import quality_threshold_of
from respira.labels import WITHHELD_LABEL

pytest.importorskip("onnxruntime", reason="the app's ONNX runner needs onnxruntime (pip install '.[onnx]')")
pytestmark = pytest.mark.filterwarnings(
    "ignore::respira.audio.wav.AudioLevelWarning"
)  # the loud poor recording

RATE = 16000
WINDOW, HOP = 1.0, 0.5
"""Windows of the 1-s model's input length every half of it (given to the page and the detectors)."""


def _detector(kind: str, folder: Path):
    if kind == "torch":
        detector, _ = open_detector(str(folder))
        assert (
            isinstance(detector, Detector)
            and type(detector.model).__name__ == "RespiraForAudioClassification"
        )
        return detector
    return OnnxDetector(folder)  # the Space's runner


def _torch_prediction(folder: Path, recording: Path):
    return open_detector(str(folder))[0].predict(read_audio(recording, RATE), RATE, window=WINDOW, hop=HOP)


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_a_poor_recording_is_too_poor_to_judge_and_a_good_one_is_judged(
    kind: str, quality_model_dir: Path, quality_recordings: tuple[Path, Path]
) -> None:
    detector = _detector(kind, quality_model_dir)
    threshold = quality_threshold_of(detector.config)
    assert threshold is not None
    poor_path, good_path = quality_recordings
    poor = analyse(detector, poor_path, window=WINDOW, hop=HOP)
    good = analyse(detector, good_path, window=WINDOW, hop=HOP)
    expected = _torch_prediction(quality_model_dir, poor_path)  # what respira.Detector says
    assert expected.withheld and expected.label == WITHHELD_LABEL
    assert poor.verdict.withheld and poor.verdict.quality_threshold == threshold
    assert (
        poor.verdict.quality == pytest.approx(expected.quality, abs=1e-4)
        and poor.verdict.quality >= threshold
    )
    text = "\n".join(poor.verdict.lines())
    assert f"- **Too poor to judge (quality {poor.verdict.quality:.3f} ≥ threshold {threshold:.3f})**" in text
    assert "Crackles: not judged" in text and "**present**" not in text
    assert all("quality" in row for row in poor.rows)
    # the figure says it too, under its title
    subtitle = poor.figure.axes[0].get_title(loc="left")
    assert f"verdict withheld: too poor to judge (quality {poor.verdict.quality:.3f}" in subtitle
    assert "; quality " in good.figure.axes[0].get_title(loc="left")
    assert not good.verdict.withheld and good.verdict.quality < threshold
    text = "\n".join(good.verdict.lines())
    assert "Too poor to judge" not in text and "- Good enough to judge (quality" in text
    assert "Crackles: not judged" not in text


@pytest.mark.parametrize("kind", ["torch", "onnx"])
def test_the_page_shows_the_verdict_and_the_quality_column(
    kind: str, quality_model_dir: Path, quality_recordings: tuple[Path, Path], tmp_path: Path
) -> None:
    pytest.importorskip("gradio", reason="the page needs gradio (pip install '.[app]')")
    from respira.app import page

    detector = _detector(kind, quality_model_dir)
    results = page._Results(keep=2)

    def run(path: Path | None):
        return page._run(
            detector, results, str(path) if path else None, None, None, WINDOW, HOP, lambda *a, **k: None
        )

    poor_path, good_path = quality_recordings
    message, verdict, _, table, _, files = run(poor_path)
    assert message.startswith("**Analysed** poor.wav: 3.0 s, 5 windows")
    assert " Verdict withheld: too poor to judge.\n\n**Caution:**" in message
    assert "**Caution:** poor.wav peaks at" in message  # the loud noise is scored all the same
    lines = verdict.splitlines()
    assert lines[0] == "### Recording-level verdict" and lines[1].startswith(
        "- **Too poor to judge (quality "
    )
    assert table["headers"] == ["start", "end", "crackle", "wheeze", "quality", "label"]
    quality = [row[table["headers"].index("quality")] for row in table["data"]]
    assert len(quality) == 5 and all(0.0 <= value <= 1.0 for value in quality)
    assert all("quality" in row for row in json.loads(Path(files[1]).read_text()))
    message, verdict, *_ = run(good_path)
    assert "Too poor to judge" not in verdict and "Good enough to judge" in verdict
    assert "withheld" not in message
    # an error keeps the table's columns, quality among them
    message, _, _, table, _, _ = run(None)
    assert message.startswith("**Error:**") and table["headers"] == [
        "start",
        "end",
        "crackle",
        "wheeze",
        "quality",
        "label",
    ]


def test_the_onnx_runner_gives_the_quality_of_respira_predict_onnx(
    quality_model_dir: Path, quality_recordings: tuple[Path, Path], tmp_path: Path
) -> None:
    from respira.hub.onnx import QUALITY_NAME as RESPIRA_QUALITY_NAME
    from respira.hub.onnx import load_onnx_model

    assert QUALITY_NAME == RESPIRA_QUALITY_NAME
    runner = OnnxDetector(quality_model_dir)
    assert runner.has_quality
    reference = Detector(load_onnx_model(quality_model_dir))  # respira predict --onnx
    torch_detector = open_detector(str(quality_model_dir))[0]
    for recording in quality_recordings:
        waveform = read_audio(recording, RATE)
        for options in (
            {"window": WINDOW, "hop": HOP},
            {"window": WINDOW, "hop": WINDOW, "cycles": [(0.0, 1.0), (1.2, 2.9)]},
        ):
            got = runner.predict(waveform, RATE, **options)
            for expected in (
                reference.predict(waveform, RATE, **options),
                torch_detector.predict(waveform, RATE, **options),
            ):
                # column order; the input checks' warning is the page's to add (analysis.analyse)
                assert [list(row) for row in got.rows] == [
                    [key for key in row if key != "warning"] for row in expected.rows
                ]
                np.testing.assert_allclose(
                    [row["quality"] for row in got.rows], [row["quality"] for row in expected.rows], atol=1e-4
                )
                assert got.quality == pytest.approx(expected.quality, abs=1e-4)
                assert got.withheld == expected.withheld
    # a config.json without the quality (not respira's export): the graph's metadata gives the threshold
    folder = tmp_path / "metadata_only"
    folder.mkdir()
    config = json.loads((quality_model_dir / "config.json").read_text())
    threshold = config.pop("quality")["threshold"]
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copyfile(quality_model_dir / "model.onnx", folder / "model.onnx")
    from_metadata = OnnxDetector(folder)
    assert QUALITY_THRESHOLD_KEY == "quality_threshold"
    assert from_metadata.config["quality"] == {"threshold": pytest.approx(threshold)}
    assert from_metadata.predict(
        read_audio(quality_recordings[0], RATE), RATE, window=WINDOW, hop=HOP
    ).withheld


def test_a_model_without_a_quality_head_shows_no_quality(model_dir: Path) -> None:
    runner = OnnxDetector(model_dir)
    assert not runner.has_quality
    prediction = runner.predict(
        np.random.default_rng(0).normal(0, 0.1, 2 * RATE).astype(np.float32), RATE, window=1.0, hop=0.5
    )
    assert prediction.quality is None and not prediction.withheld and "quality" not in prediction.rows[0]
    verdict = recording_verdict(prediction.rows, runner.config, prediction=prediction)
    assert verdict.quality is None and not verdict.withheld
    assert not any("quality" in line.lower() for line in verdict.lines())


def test_the_verdict_reads_the_quality_of_the_rows_and_writes_a_close_pair_apart() -> None:
    config = {
        "problem_type": "multi_label_classification",
        "decision_thresholds": [0.3, 0.7],
        "quality": {"threshold": 0.4873},
    }
    rows = [
        {"crackle": 0.9, "wheeze": 0.1, "quality": 0.48},
        {"crackle": 0.1, "wheeze": 0.1, "quality": 0.4944},
    ]
    verdict = recording_verdict(rows, config)  # no prediction: the rows' mean, 0.4872, decided
    assert not verdict.withheld and verdict.quality == pytest.approx(0.4872)
    assert verdict.headline() == "Good enough to judge (quality 0.4872 < threshold 0.4873)"
    assert "Crackles: **present**" in "\n".join(verdict.lines())
    rows[0]["quality"] = 0.4804
    verdict = recording_verdict(rows, config)
    assert verdict.withheld and verdict.headline() == "Too poor to judge (quality 0.4874 ≥ threshold 0.4873)"
    assert "Crackles: not judged" in "\n".join(verdict.lines())

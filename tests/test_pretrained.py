"""The shipped detector (``respira.pretrained``): a Hub-layout folder inside the package, its card said only
by its own files, the three ways of running it agreeing on real recordings, and the default of predict,
the app and ``Detector``."""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import respira
from respira.hub.card_folder import render_folder_card
from respira.pretrained import (
    CROSS_VALIDATION_FOLDER,
    DEFAULT_DETECTOR_NAME,
    SiteVerdict,
    default_detector_dir,
    site_verdicts,
    sites_line,
)

from .hub.test_remote_code import WITHOUT_RESPIRA

ROOT = Path(__file__).resolve().parents[1]
FOLDER = default_detector_dir()
HUB_LAYOUT = (
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "model.onnx",
    "README.md",
    "checksums.sha256",
    "modeling_respira.py",
    "configuration_respira.py",
    "respira_run.json",
    "metrics.json",
    "build_record.json",
    f"{CROSS_VALIDATION_FOLDER}/metrics.json",
    "evaluation_kauh/metrics.json",
    "evaluation_sprsound/metrics.json",
)


def test_the_detector_is_a_hub_folder_inside_the_package() -> None:
    assert FOLDER.parent == Path(respira.__file__).parent / "pretrained"
    assert FOLDER.name == DEFAULT_DETECTOR_NAME
    missing = [name for name in HUB_LAYOUT if not (FOLDER / name).is_file()]
    assert missing == []
    config = json.loads((FOLDER / "config.json").read_text())
    assert config["model_type"] == "respira" and "auto_map" in config
    assert config["problem_type"] == "multi_label_classification"
    assert len(config["decision_thresholds"]) == 2  # crackle, wheeze: tuned, not 0.5
    assert "event_settings" in config
    # small enough to ship in a wheel (README says its size)
    size = sum(path.stat().st_size for path in FOLDER.rglob("*") if path.is_file())
    assert size < 20 * 2**20


def test_the_checksums_hold() -> None:
    for line in (FOLDER / "checksums.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        assert hashlib.sha256((FOLDER / name).read_bytes()).hexdigest() == digest, name


def test_the_build_record_names_this_recipe_and_script() -> None:
    """The committed folder was built from today's recipe and build script (else: ``make detector``)."""
    record = json.loads((FOLDER / "build_record.json").read_text())
    recipe = ROOT / record["recipe"]
    assert hashlib.sha256(recipe.read_bytes()).hexdigest() == record["recipe_sha256"], "run make detector"
    script = ROOT / "scripts" / "build_detector.py"
    assert hashlib.sha256(script.read_bytes()).hexdigest() == record["build_script_sha256"], "make detector"


# ------------------------------------------------------------------------------------------------ the card
def test_the_card_is_what_the_folders_files_render(tmp_path: Path) -> None:
    copy = tmp_path / FOLDER.name
    shutil.copytree(FOLDER, copy)
    (copy / "README.md").unlink()
    render_folder_card(copy)
    assert (copy / "README.md").read_text() == (FOLDER / "README.md").read_text()


def test_the_shipped_code_is_todays_closure_and_the_card_says_its_size() -> None:
    """The folder's ``*.py`` are what ``respira export --with_code`` generates today for its encoder (no
    file of another family left behind), few and short enough to read, and the card counts them."""
    from respira.hub.remote_code import remote_code_files

    config = json.loads((FOLDER / "config.json").read_text())
    code = remote_code_files(config["encoder_config"]["model_type"])
    shipped = {path.name: path.read_text() for path in FOLDER.glob("*.py")}
    assert shipped == code.files
    assert len(shipped) <= 10
    lines = sum(len(text.splitlines()) for text in shipped.values())
    assert f"It is {len(shipped)} files, {lines} lines in all" in (FOLDER / "README.md").read_text()


def _numbers_in(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [] if isinstance(value, float) and math.isnan(value) else [float(value)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _numbers_in(item)]
    if isinstance(value, list):
        return [n for item in value for n in _numbers_in(item)]
    return []


def _file_numbers(folder: Path) -> set[str]:
    """Every number of the folder's JSON files as the card may print it (as is, or in %, 1-4 decimals)."""
    shown = set()
    for path in folder.rglob("*.json"):
        for number in _numbers_in(json.loads(path.read_text())):
            for value in (number, 100 * number):
                shown.add(f"{value:g}")
                shown.update(f"{value:.{digits}f}" for digits in range(5))
    return shown


RESULTS = re.compile(r"^## Evaluation results$(.*?)^## Intended use", re.S | re.M)


def test_every_number_in_the_cards_results_comes_from_the_folders_files() -> None:
    card = (FOLDER / "README.md").read_text()
    results = RESULTS.search(card)
    assert results, "the card has no results section"
    text = results.group(1).split("### Metric definitions")[0]  # the results; not definitions or build notes
    from respira.data.corpora import CORPORA

    for spec in CORPORA.values():  # a site's name is no result ("ICBHI 2017 ...")
        text = text.replace(spec.title, "")
    numbers = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text)
    assert len(numbers) > 20
    known = _file_numbers(FOLDER) | {"95"}  # the intervals' level
    assert [n for n in numbers if n not in known] == []


def test_the_card_names_data_licences_and_what_it_is_not() -> None:
    card = (FOLDER / "README.md").read_text()
    assert "not a medical device" in card.lower()
    for words in ("ICBHI 2017", "KAUH", "SPRSound", "GPL-3.0", "MIT licence", "make detector"):
        assert words in card, words
    assert "### Where this detector serves" in card
    verdicts = site_verdicts(FOLDER)
    assert {v.site for v in verdicts} == {"icbhi", "kauh", "sprsound"}
    assert any(v.protocol == "in domain" for v in verdicts)


def test_a_site_is_served_only_above_all_normal() -> None:
    above = SiteVerdict("kauh", "held out", "recordings", 10, 0.56, (0.49, 0.62), 0.5)
    below = SiteVerdict("sprsound", "held out", "events", 10, 0.48, (0.46, 0.50), 0.5)
    assert above.serves and not above.shown_better and not below.serves


def test_the_default_output_names_the_sites_it_does_not_serve(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / CROSS_VALIDATION_FOLDER).mkdir(parents=True)
    (folder / CROSS_VALIDATION_FOLDER / "metrics.json").write_text(
        json.dumps(
            {
                "test_icbhi_score_mean": 0.55,
                "test_icbhi_score_ci95": [0.51, 0.59],
                "out_of_fold": {"cycles": 684, "baseline_all_normal_icbhi_score": 0.5},
            }
        )
    )
    line = sites_line(folder)
    assert line.startswith("serves icbhi cycles (in domain: 55.0 vs all-normal 50.0)")
    assert "does NOT serve" not in line
    for verdict in site_verdicts(FOLDER):
        served, not_served = sites_line(FOLDER).split("does NOT serve")[0], sites_line(FOLDER)
        shown = f"{verdict.site} {verdict.unit} ({verdict.protocol}: {100 * verdict.score:.1f}"
        assert shown in (served if verdict.serves else not_served.split("does NOT serve")[1])


# ------------------------------------------------------------------------------------- running it, offline
@pytest.fixture(scope="module")
def recordings(shared_icbhi: Path) -> list[Path]:
    """Three real ICBHI recordings, first 12 s (one with crackles, one with wheezes where the sample has)."""
    return sorted((shared_icbhi / "ICBHI_final_database").glob("*.wav"))[:3]


@pytest.mark.real_data
def test_predict_without_a_model_runs_the_shipped_detector(recordings: list[Path], tmp_path: Path) -> None:
    output = tmp_path / "verdicts.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "respira",
            "predict",
            *map(str, recordings[:2]),
            "--per_recording",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**_env(), "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"respira's shipped detector {DEFAULT_DETECTOR_NAME}" in done.stderr
    table = output.read_text().splitlines()
    assert len(table) == 3 and recordings[1].name in table[2]
    expected = respira.Detector.from_pretrained().predict_file(recordings[1])
    assert f"{expected.crackle:.4f}"[:5] in table[2]


def _env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items()}


COMPARE = r"""
import json, sys
import numpy as np, onnxruntime, scipy.signal, torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

jobs = json.loads(sys.argv[1])
model = AutoModelForAudioClassification.from_pretrained(jobs["folder"], trust_remote_code=True).eval()
extractor = AutoFeatureExtractor.from_pretrained(jobs["folder"], trust_remote_code=True)
session = onnxruntime.InferenceSession(jobs["folder"] + "/model.onnx")
meta = session.get_modelmeta().custom_metadata_map
rate, cutoff = int(meta["sampling_rate"]), float(meta["lowpass_cutoff"])
out = {"transformers": [], "onnx": [], "onnx_present": []}
for clip in jobs["clips"]:
    wave = np.load(clip).astype(np.float32)
    inputs = extractor(wave, sampling_rate=rate, return_tensors="pt")  # the extractor low-passes it
    with torch.no_grad():
        out["transformers"].append(torch.sigmoid(model(**inputs).logits[0]).tolist())
    # the graph expects the recording low-passed first: README's recipe, written out
    filtered = scipy.signal.sosfiltfilt(scipy.signal.butter(4, cutoff, fs=rate, output="sos"), wave)
    probabilities, present, *_ = session.run(None, {"input_values": filtered.astype(np.float32)[None]})
    out["onnx"].append(probabilities[0].tolist())
    out["onnx_present"].append(present[0].astype(int).tolist())
print("RESULT " + json.dumps(out))
"""


@pytest.mark.real_data
def test_respira_transformers_and_onnxruntime_agree_on_real_recordings(
    recordings: list[Path], tmp_path: Path
) -> None:
    """The three ways README promises, on 8-s clips of real recordings: probabilities to 1e-4 and the
    same decisions (transformers and onnxruntime in a process where respira cannot be imported)."""
    import torch

    from respira import RespiraFeatureExtractor
    from respira.audio import read_audio
    from respira.decision import thresholds_of

    detector = respira.Detector.from_pretrained()
    extractor = RespiraFeatureExtractor.from_pretrained(FOLDER)
    rate = detector.sampling_rate
    clips, expected = [], []
    for recording in recordings:
        wave = read_audio(recording, rate)
        for start in (0, 4):
            clip = np.asarray(wave[start * rate : (start + 8) * rate], dtype=np.float32)
            path = tmp_path / f"{recording.stem}_{start}.npy"
            np.save(path, clip)
            clips.append(str(path))
            with torch.no_grad():
                logits = detector.model(**extractor(clip, sampling_rate=rate, return_tensors="pt")).logits[0]
            expected.append(torch.sigmoid(logits).numpy())
    env = {key: value for key, value in _env().items() if key != "PYTHONPATH"}
    env |= {"HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "hf_modules")}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_RESPIRA + COMPARE,
            json.dumps({"folder": str(FOLDER), "clips": clips}),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    expected = np.array(expected)
    thresholds = np.array(thresholds_of(detector.config))
    np.testing.assert_allclose(result["transformers"], expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(result["onnx"], expected, atol=1e-4, rtol=0)
    assert np.array_equal(np.array(result["onnx_present"]), (expected >= thresholds).astype(int))
    assert np.array_equal(np.array(result["transformers"]) >= thresholds, expected >= thresholds)


@pytest.mark.real_data
def test_detector_without_a_source_is_the_shipped_one(recordings: list[Path], tmp_path: Path) -> None:
    detector = respira.Detector.from_pretrained()
    assert detector.name == DEFAULT_DETECTOR_NAME
    onnx = respira.Detector.from_pretrained(FOLDER, onnx=True)
    wave, rate = sf.read(recordings[0], dtype="float32")
    torch_result, onnx_result = (
        detector.predict(wave, sampling_rate=rate),
        onnx.predict(wave, sampling_rate=rate),
    )
    assert torch_result.label == onnx_result.label
    assert abs(torch_result.crackle - onnx_result.crackle) < 1e-4


@pytest.mark.slow
@pytest.mark.real_data
def test_a_wheel_ships_the_detector_and_predicts_from_a_clean_environment(
    recordings: list[Path], tmp_path: Path
) -> None:
    """``pip wheel`` of the repository holds the detector; installed alone (no source tree on the path,
    respira's dependencies from the current environment) ``respira predict FILE`` runs it offline."""
    import sysconfig
    import zipfile

    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("respira-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = f"respira/pretrained/{DEFAULT_DETECTOR_NAME}"
    assert {f"{shipped}/{name}" for name in HUB_LAYOUT} <= names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # respira's dependencies come from this environment; respira itself only from the wheel
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {key: value for key, value in _env().items() if key != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [str(python), "-m", "respira", "predict", str(recordings[0]), "--per_recording", "--format", "csv"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    where = subprocess.run(
        [str(python), "-c", "import respira.pretrained as p; print(p.default_detector_dir())"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(site)), where
    assert recordings[0].name in done.stdout and "shipped detector" in done.stderr


@pytest.mark.slow
@pytest.mark.real_data
def test_the_committed_detector_is_what_its_recipe_and_training_code_build(
    shared_icbhi: Path, tmp_path: Path
) -> None:
    """While the recipe and the training code are those the detector was built from, their fingerprint
    says so (fast); once they change, the detector is rebuilt here, as ``make detector`` does, and must
    come out the same: weights to the last bit on this CPU with one thread (the build is seeded and
    single-threaded; 1e-6 allows only float noise), thresholds and the card's site scores exactly.
    A change that moves them fails here until ``make detector`` is run and its folder committed."""
    from safetensors.numpy import load_file

    build = _script("build_detector")
    record = json.loads((FOLDER / "build_record.json").read_text())
    if build.training_code_sha256() == record["training_code_sha256"]:
        return
    export = build.build(shared_icbhi.parent, tmp_path / "work")
    committed, rebuilt = load_file(FOLDER / "model.safetensors"), load_file(export / "model.safetensors")
    assert committed.keys() == rebuilt.keys()
    for name, tensor in committed.items():
        np.testing.assert_allclose(rebuilt[name], tensor, atol=1e-6, rtol=0, err_msg=name)
    config, new = (json.loads((f / "config.json").read_text()) for f in (FOLDER, export))
    assert new["decision_thresholds"] == config["decision_thresholds"]
    assert site_verdicts(export) == site_verdicts(FOLDER)


@pytest.mark.real_data
def test_the_pipeline_loads_the_folder_and_decides_as_the_detector(recordings: list[Path]) -> None:
    from transformers import pipeline

    classifier = pipeline("audio-classification", model=str(FOLDER))
    decided = classifier(str(recordings[0]), top_k=1)[0]["label"]
    assert decided == respira.Detector.from_pretrained().predict_file(recordings[0]).label


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readmes_results_table_is_what_the_detectors_files_render() -> None:
    """README's results table is the card's site table rendered afresh from the folder's evaluation files
    (``make readme`` copies it there): a number changed in those files, or typed into README, fails here."""
    assets = _script("readme_assets")
    table = assets.readme_results_table((ROOT / "README.md").read_text(encoding="utf-8"))
    assert table == assets.rendered_results_table()
    assert len(table.splitlines()) == 2 + len(site_verdicts(FOLDER))  # header, rule, one row per site


def test_readmes_picture_is_committed_small_and_shown() -> None:
    """The figure ``make readme`` draws (``respira predict --plot``) is in README, small enough to commit."""
    assets = _script("readme_assets")
    assert assets.FIGURE.is_file() and assets.FIGURE.stat().st_size < 150 * 2**10
    assert f"]({assets.FIGURE.relative_to(ROOT).as_posix()})" in (ROOT / "README.md").read_text()


def test_readme_says_the_folders_size() -> None:
    """README states the size of the shipped folder; it is re-read here from the files."""
    size = sum(path.stat().st_size for path in FOLDER.rglob("*") if path.is_file()) / 2**20
    stated = re.search(r"icbhi-crackle-wheeze/`\s*\((\d+\.\d) MiB", (ROOT / "README.md").read_text())
    assert stated, "README no longer says the detector's size"
    assert float(stated.group(1)) == pytest.approx(size, abs=0.05)


@pytest.mark.slow
@pytest.mark.real_data
def test_respira_evaluate_reproduces_the_cards_held_out_numbers(shared_kauh: Path, tmp_path: Path) -> None:
    """``respira evaluate`` of the shipped folder on KAUH gives the scores and intervals its card shows."""
    from respira.cli import main

    assert (
        main(
            [
                "evaluate",
                str(FOLDER),
                "--dataset",
                "kauh",
                "--data_dir",
                str(shared_kauh),
                "--output_dir",
                str(tmp_path / "kauh"),
            ]
        )
        == 0
    )
    again = json.loads((tmp_path / "kauh" / "metrics.json").read_text())["groups"]
    committed = json.loads((FOLDER / "evaluation_kauh" / "metrics.json").read_text())["groups"]
    for group in committed:
        assert again[group]["icbhi"]["icbhi_score"] == pytest.approx(committed[group]["icbhi"]["icbhi_score"])
        for key, interval in committed[group]["icbhi"]["ci"].items():
            assert again[group]["icbhi"]["ci"][key] == pytest.approx(interval), (group, key)

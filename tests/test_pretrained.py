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
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import respira
from respira.hub.card_render import render_folder_card
from respira.pretrained import DEFAULT_DETECTOR_NAME, default_detector_dir
from respira.records.site_verdict import CROSS_VALIDATION_FOLDER, SITE_FIT_PROTOCOL, SiteVerdict
from respira.records.sites import site_verdicts, sites_line

from .hub.test_remote_code import run_without_respira

ROOT = Path(__file__).resolve().parents[1]
FOLDER = default_detector_dir()
HUB_LAYOUT = (
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "model.onnx",
    "README.md",
    "checksums.sha256",
    "respira_run.json",
    "build_record.json",
    "expected_outputs.json",
    "site_fit.json",
    "nested_cv.csv",
    "learning_curve.csv",
    "learning_curve.png",
    "evaluation_kauh/metrics.json",
    "evaluation_sprsound/metrics.json",
    f"base_detector/{CROSS_VALIDATION_FOLDER}/metrics.json",
    "base_detector/evaluation_kauh/metrics.json",
    "base_detector/evaluation_sprsound/metrics.json",
)
"""What the shipped folder holds: what respira runs and renders its card from (its head's fit-site record
and nested cross-validation; the detector it replaced's evaluations), no generated code."""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``respira export`` of a copy of the shipped folder (what ``respira push`` uploads): with the model's
    code and its ONNX graph (the folder's own, the model unchanged: no conversion)."""
    from respira.hub import export_model

    work = tmp_path_factory.mktemp("export")
    copy = Path(shutil.copytree(FOLDER, work / "copy"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("torch.onnx.export", lambda *a, **k: pytest.fail("converted anew"))
        return export_model(copy, work / "exported")


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


def test_the_folder_claims_the_evaluations_its_build_recorded() -> None:
    """Every evaluation file of the folder is in build_record.json with its SHA-256 (what it claims)."""
    from respira.records.sites import evaluation_digests, recorded_evaluations

    listed = json.loads((FOLDER / "build_record.json").read_text())["evaluations"]
    assert listed == evaluation_digests(FOLDER) and len(listed) >= 4
    assert len(recorded_evaluations(FOLDER)) == len(listed)


def test_the_build_record_names_this_recipe() -> None:
    """The committed folder was built from today's recipe (else: ``make detector``); what it outputs is
    checked by ``tests/test_shipped_outputs.py``."""
    record = json.loads((FOLDER / "build_record.json").read_text())
    recipe = ROOT / record["recipe"]
    assert hashlib.sha256(recipe.read_bytes()).hexdigest() == record["recipe_sha256"], "run make detector"


# ------------------------------------------------------------------------------------------------ the card
def test_the_card_is_what_the_folders_files_render(tmp_path: Path) -> None:
    copy = tmp_path / FOLDER.name
    shutil.copytree(FOLDER, copy)
    (copy / "README.md").unlink()
    render_folder_card(copy)
    assert (copy / "README.md").read_text() == (FOLDER / "README.md").read_text()


def test_the_card_says_which_validation_score_each_is() -> None:
    """The card gave "ICBHI score 46.2" in its validation table and "the best validation score used for
    model selection was 62.06" a few lines on (issue 58, item 5): each says its split, aggregation and
    thresholds, and each number is its own file's."""
    from respira.utils.tables import format_percent

    card = (FOLDER / "README.md").read_text()
    build = json.loads((FOLDER / "build_record.json").read_text())
    run = json.loads((FOLDER / "respira_run.json").read_text())
    best = f"{100 * build['trainer_state']['best_metric']:.2f}"
    (sentence,) = [line for line in card.splitlines() if "used for model selection was" in line]
    assert f"was {best} " in sentence
    assert (
        "of the validation split, per cycle, at thresholds tuned on those validation predictions" in sentence
    )
    if "chosen_by" not in build:
        assert "not at this model's cross-fitted thresholds" in sentence
        (selected,) = [r for r in run["metrics"]["per_seed"] if r["seed"] == run["selected_seed"]]
        table = card[card.index("Validation split, per cycle, in %") :].split("\n\n")
        assert "at this model's decision thresholds (the cross-fitted ones above" in table[0]
        assert f"| ICBHI score | {format_percent(selected['validation']['icbhi_score'])} |" in table[1]
    else:  # issue 83: the validation split scored the replaced head at its thresholds, not this detector
        assert "Validation split, per cycle, in %" not in card and "cross-fitted" not in sentence


def test_the_card_says_where_the_encoder_came_from_and_to_export_for_the_code() -> None:
    """The card said "initialised from `checkpoints/efficientat_mn04`" and, further on, encoder weights
    `reference/...pt`; and that its code ships in the folder, which holds none (issue 58, item 4)."""
    card = (FOLDER / "README.md").read_text()
    build = json.loads((FOLDER / "build_record.json").read_text())
    details = card[card.index("## Model details") : card.index("## How to use")]
    assert f"(converted from `{build['encoder_weights']}`" in details
    assert not list(FOLDER.glob("*.py")) and "ships in this repository" not in details
    assert f"respira export {DEFAULT_DETECTOR_NAME} path/to/exported_model" in card
    assert "The repository also holds the model's code" not in card


def test_the_export_writes_the_model_folder_and_its_card_says_its_size(exported: Path) -> None:
    """The shipped folder declares its code (``auto_map``) without the files; its export writes today's
    model folder (the shipped graph, byte for byte), and the export's card counts what it wrote."""
    from respira.hub.remote_code import check_remote_code, code_size, remote_code_files

    config = json.loads((FOLDER / "config.json").read_text())
    assert "auto_map" in config and not list(FOLDER.glob("*.py"))
    code = remote_code_files()
    written = {path.name: path.read_text() for path in exported.glob("*.py")}
    assert written == code.files and check_remote_code(exported) == sorted(written)
    lines = sum(len(text.splitlines()) for text in written.values())
    code_lines = code_size(written.values())[1]
    assert 0 < code_lines < lines
    said = " ".join((exported / "README.md").read_text().split())
    assert f"It is {len(written)} files and {code_lines} lines of code" in said
    # the shipped card counts no code it does not hold (the model folder's size changes with respira)
    assert "lines of code" not in (FOLDER / "README.md").read_text()
    assert (exported / "model.onnx").read_bytes() == (FOLDER / "model.onnx").read_bytes()  # the same graph


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
        if path.name == "expected_outputs.json":  # the build's check of the outputs, no result
            continue
        for number in _numbers_in(json.loads(path.read_text())):
            for value in (
                number,
                100 * number,
                abs(number),
                100 * abs(number),
            ):  # a gain prints its sign apart
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
    (icbhi,) = [
        v for v in verdicts if v.site == "icbhi"
    ]  # out of sample: fit-site's nested CV, never in-sample
    assert icbhi.protocol == SITE_FIT_PROTOCOL


def test_a_site_is_served_only_when_its_interval_lies_above_all_normal() -> None:
    reaching = SiteVerdict("kauh", "held out", "recordings", 10, 0.56, (0.49, 0.62), 0.5)
    above = SiteVerdict("kauh", "held out", "recordings", 10, 0.56, (0.51, 0.62), 0.5)
    no_interval = SiteVerdict("sprsound", "held out", "events", 10, 0.58, None, 0.5)
    assert above.serves and not reaching.serves and not no_interval.serves


def test_the_default_output_says_what_the_shipped_intervals_say() -> None:
    """Every site of the shipped folder is in the line as its interval places it (issue 49: "it serves
    icbhi cycles (52.0 vs 50.0), kauh recordings (52.4 vs 50.0)" while both intervals reached 50)."""
    line = sites_line(FOLDER)
    verdicts = site_verdicts(FOLDER)
    assert {v.site for v in verdicts} == {"icbhi", "kauh", "sprsound"}
    served, _, rest = line.partition("; not shown to beat calling every recording normal on ")
    for verdict in verdicts:
        lower = verdict.interval[0] if verdict.interval else None
        shown = f"{verdict.site} {verdict.unit} ({verdict.protocol}: {100 * verdict.score:.1f}"
        assert shown in (served if lower is not None and lower > verdict.all_normal else rest), shown
        for auc in verdict.aucs:
            named = f"{auc.label} not detected" in line and f"(AUC {100 * auc.auc:.1f}" in line
            if auc.interval is not None and auc.interval[0] <= 0.5:
                assert named, (verdict.site, auc.label)


# ------------------------------------------------------------------------------------- running it, offline
@pytest.fixture(scope="module")
def recordings(shared_icbhi: Path) -> list[Path]:
    """Three real ICBHI recordings, first 12 s (one with crackles, one with wheezes where the sample has)."""
    return sorted((shared_icbhi / "ICBHI_final_database").glob("*.wav"))[:3]


@pytest.fixture(scope="module")
def detector() -> respira.Detector:
    """``respira.Detector.from_pretrained()``, loaded once for the tests that only predict with it."""
    return respira.Detector.from_pretrained()


@pytest.mark.real_data
def test_predict_without_a_model_runs_the_shipped_detector(
    recordings: list[Path], detector: respira.Detector, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from respira.cli import main

    output = tmp_path / "verdicts.csv"
    code = main(["predict", *map(str, recordings[:2]), "--per_recording", "--output", str(output)])
    stderr = capsys.readouterr().err
    assert code == 0, stderr[-3000:]
    assert f"respira's shipped detector {DEFAULT_DETECTOR_NAME}" in stderr
    table = output.read_text().splitlines()
    assert len(table) == 3 and recordings[1].name in table[2]
    expected = detector.predict_file(recordings[1])
    assert f"{expected.crackle:.4f}"[:5] in table[2]


def _env() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items()}


def saved_clips(
    detector: Any, extractor: Any, recordings: list[Path], folder: Path
) -> tuple[list[str], list[np.ndarray]]:
    """Two 8-s clips of each recording (from 0 s and 4 s), saved as ``.npy`` in ``folder`` for a process
    without respira, and the detector's model's probabilities for each (what the others must give)."""
    import torch

    from respira.models.respira.audio_decoding import read_audio

    rate = detector.sampling_rate
    clips, expected = [], []
    for recording in recordings:
        wave = read_audio(recording, rate)
        for start in (0, 4):
            clip = np.asarray(wave[start * rate : (start + 8) * rate], dtype=np.float32)
            path = folder / f"{recording.stem}_{start}.npy"
            np.save(path, clip)
            clips.append(str(path))
            with torch.no_grad():
                logits = detector.model(**extractor(clip, sampling_rate=rate, return_tensors="pt")).logits[0]
            expected.append(torch.sigmoid(logits).numpy())
    return clips, expected


WITHOUT_RESPIRA = r"""
import json, sys
import numpy as np, onnxruntime, scipy.signal, torch
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

jobs = json.loads(sys.argv[1])
wave = np.load(jobs["wave"])
out = {"exports": {}, "transformers": [], "onnx": [], "onnx_present": []}
for folder in jobs["exports"]:
    model = AutoModelForAudioClassification.from_pretrained(folder, trust_remote_code=True).eval()
    extractor = AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=True)
    with torch.no_grad():
        logits = model(**extractor(wave, sampling_rate=extractor.sampling_rate, return_tensors="pt")).logits
    probabilities = torch.sigmoid(logits[0]).tolist()
    out["exports"][folder] = {"class": type(model).__module__, "probabilities": probabilities}
    if folder != jobs["folder"]:
        continue
    session = onnxruntime.InferenceSession(folder + "/model.onnx")
    meta = session.get_modelmeta().custom_metadata_map
    rate, cutoff = int(meta["sampling_rate"]), float(meta["lowpass_cutoff"])
    for clip in jobs["clips"]:
        wave_clip = np.load(clip).astype(np.float32)
        inputs = extractor(wave_clip, sampling_rate=rate, return_tensors="pt")  # the extractor low-passes it
        with torch.no_grad():
            out["transformers"].append(torch.sigmoid(model(**inputs).logits[0]).tolist())
        # the graph expects the recording low-passed first: README's recipe, written out
        filtered = scipy.signal.sosfiltfilt(scipy.signal.butter(4, cutoff, fs=rate, output="sos"), wave_clip)
        probabilities, present, *_ = session.run(None, {"input_values": filtered.astype(np.float32)[None]})
        out["onnx"].append(probabilities[0].tolist())
        out["onnx_present"].append(present[0].astype(int).tolist())
print("RESULT " + json.dumps(out))
"""
"""Every shipped folder's export loaded with transformers alone (a 4-s wave at 32 kHz), and the default
detector's also run on the clips by transformers and by onnxruntime, in one process without respira."""


@pytest.fixture(scope="module")
def loaded_without_respira(
    exported: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """:data:`WITHOUT_RESPIRA` run on the export of every shipped folder (the default detector's:
    ``exported``) and, where ../shared is present, on 8-s clips of real recordings (:func:`saved_clips`).
    Returns its result, the exports by name, the wave, and the clips' expected probabilities."""
    from respira import RespiraFeatureExtractor
    from respira.hub import export_model
    from respira.pretrained.shipped import shipped_detectors

    work = tmp_path_factory.mktemp("without_respira")
    exports = {
        name: exported if folder == FOLDER else export_model(folder, work / name, onnx=False)
        for name, folder in shipped_detectors().items()
    }
    wave = np.random.default_rng(0).normal(0, 0.1, 32_000 * 4).astype(np.float32)
    np.save(work / "wave.npy", wave)
    try:
        recordings = request.getfixturevalue("recordings")
    except pytest.skip.Exception:  # no ../shared: the shipped folders' loads alone
        recordings = []
    detector = request.getfixturevalue("detector") if recordings else None
    extractor = RespiraFeatureExtractor.from_pretrained(FOLDER)
    clips, expected = saved_clips(detector, extractor, recordings, work) if recordings else ([], [])
    jobs = {
        "exports": [str(export) for export in exports.values()],
        "folder": str(exported),
        "wave": str(work / "wave.npy"),
        "clips": clips,
    }
    result = run_without_respira(WITHOUT_RESPIRA, jobs, work)
    return {"result": result, "exports": exports, "wave": wave, "expected": expected}


def test_the_shipped_folders_carry_no_code_and_their_exports_load_with_transformers_alone(
    loaded_without_respira: dict[str, Any],
) -> None:
    """Issue 51: the wheel carried every shipped folder's generated code, which an installed respira never
    runs, and ``trainer_state.json``. The folders declare the code (``auto_map``); an export of each (what
    ``respira push`` uploads) writes today's code, which loads and scores as respira does in a process
    where respira cannot be imported."""
    import torch

    from respira.hub.remote_code import remote_code_files
    from respira.pretrained.shipped import shipped_detectors

    folders = shipped_detectors()
    assert set(folders) == {"icbhi-crackle-wheeze", "sprsound-crackle-wheeze"}  # every shipped folder
    exports, wave = loaded_without_respira["exports"], loaded_without_respira["wave"]
    assert set(exports) == set(folders)
    result = loaded_without_respira["result"]["exports"]
    for name, folder in folders.items():
        config = json.loads((folder / "config.json").read_text())
        assert "auto_map" in config, name
        assert [path.name for path in folder.iterdir() if path.suffix == ".py"] == [], name
        assert not (folder / "trainer_state.json").exists(), name
        export = exports[name]
        code = remote_code_files()
        assert {path.name: path.read_text() for path in export.glob("*.py")} == code.files, name
        model = respira.RespiraForAudioClassification.from_pretrained(folder).eval()
        extractor = respira.RespiraFeatureExtractor.from_pretrained(folder)
        with torch.no_grad():
            logits = model(
                **extractor(wave, sampling_rate=extractor.sampling_rate, return_tensors="pt")
            ).logits
        loaded = result[str(export)]
        assert loaded["class"].startswith("transformers_modules."), name
        np.testing.assert_allclose(
            loaded["probabilities"], torch.sigmoid(logits[0]).tolist(), atol=1e-5, rtol=0
        )


@pytest.mark.real_data
def test_respira_transformers_and_onnxruntime_agree_on_real_recordings(
    recordings: list[Path], detector: respira.Detector, loaded_without_respira: dict[str, Any]
) -> None:
    """The three ways README promises, on 8-s clips of real recordings: probabilities to 1e-4 and the
    same decisions (transformers and onnxruntime in a process where respira cannot be imported, on the
    export of the shipped folder: what a push uploads, with the code generated for it and the shipped
    graph)."""
    from respira.models.respira.decision import thresholds_of

    result = loaded_without_respira["result"]
    expected = np.array(loaded_without_respira["expected"])
    assert len(expected) == 2 * len(recordings)
    thresholds = np.array(thresholds_of(detector.config))
    np.testing.assert_allclose(result["transformers"], expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(result["onnx"], expected, atol=1e-4, rtol=0)
    assert np.array_equal(np.array(result["onnx_present"]), (expected >= thresholds).astype(int))
    assert np.array_equal(np.array(result["transformers"]) >= thresholds, expected >= thresholds)


@pytest.mark.real_data
def test_detector_without_a_source_is_the_shipped_one(
    recordings: list[Path], detector: respira.Detector
) -> None:
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
            str(_tracked_copy(tmp_path / "source")),
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
    in_folders = [name for name in names if name.startswith("respira/pretrained/") and name.count("/") > 2]
    carried = [name for name in in_folders if name.endswith((".py", "/trainer_state.json"))]
    assert carried == [], "the wheel carries generated code (respira export writes it)"
    from respira.pretrained.shipped import shipped_detectors

    for name, folder in shipped_detectors().items():  # the site detectors too, every file of each
        files = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
        assert {f"respira/pretrained/{name}/{file}" for file in files} <= names, name
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
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
    pip = [sys.executable, "-m", "pip", "--python", str(python)]  # this environment's pip, into the venv
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "-q", str(wheel)],
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
    # where that interpreter finds respira, without importing it (its shipped folder is the package's)
    found = "import importlib.util; print(importlib.util.find_spec('respira').origin)"
    origin = subprocess.run(
        [str(python), "-c", found], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
    ).stdout.strip()
    where = Path(origin).parent / "pretrained" / DEFAULT_DETECTOR_NAME
    assert str(where).startswith(str(site)) and (where / "config.json").is_file(), where
    assert recordings[0].name in done.stdout and "shipped detector" in done.stderr


@pytest.mark.real_data
def test_the_pipeline_loads_the_folder_and_decides_as_the_detector(
    recordings: list[Path], detector: respira.Detector
) -> None:
    from transformers import pipeline

    from respira.models.respira import RespiraAudioClassificationPipeline

    classifier = pipeline(
        "audio-classification", model=str(FOLDER), pipeline_class=RespiraAudioClassificationPipeline
    )
    decided = classifier(str(recordings[0]), top_k=1)[0]["label"]
    assert decided == detector.predict_file(recordings[0]).label


def _tracked_copy(target: Path) -> Path:
    """The repository's files as a clean clone has them (``git ls-files``; the checkout itself without
    git): a ``build/`` or ``*.egg-info`` left by an earlier build in the checkout would put files the
    source no longer has into the wheel (setuptools reuses them without build isolation)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=False)
    if listed.returncode != 0:
        return ROOT
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_builds_shipped_layout_takes_out_only_what_respira_wrote(exported: Path, tmp_path: Path) -> None:
    """``scripts/_build.py``'s shipped layout, which both build scripts apply: the generated code and
    ``trainer_state.json`` go, a ``.py`` respira did not write stays, ``auto_map`` stays (so an export
    writes the code again), and the build record keeps what the card says of the trainer state."""
    from respira.hub.card_render import card_data_from_run_dir

    build = _script("_build")
    folder = Path(shutil.copytree(exported, tmp_path / "built"))
    state = {"global_step": 7, "epoch": 1.5, "best_metric": 0.5, "best_global_step": 5, "log_history": []}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    (folder / "notes.py").write_text("# the user's own notes\n")
    code = sorted(path.name for path in exported.glob("*.py"))
    assert build.shipped_layout(folder) == [*code, "trainer_state.json"]
    assert sorted(path.name for path in folder.glob("*.py")) == ["notes.py"]
    assert "auto_map" in json.loads((folder / "config.json").read_text())
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))  # the run's, which the build reads
    facts = build.trainer_state_facts(tmp_path / "trainer_state.json")
    build.write_build_record(
        folder, json.loads((folder / "build_record.json").read_text()) | {"trainer_state": facts}
    )
    summary = card_data_from_run_dir(folder).training_summary
    assert summary == {key: state[key] for key in ("global_step", "epoch", "best_metric", "best_global_step")}


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


# -------------------------------------------------------------- a copy, an export, a push keep its claims
KEPT_SECTIONS = (
    "### Where this detector serves",
    "## How this detector was built",
    "### 2. With transformers alone (remote code)",
    "### 3. With onnxruntime alone (no torch)",
)


def _serve_table(card: str) -> str:
    return card.split("### Where this detector serves")[1].split("###", maxsplit=1)[0]


def test_predict_on_a_copy_prints_the_sites_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 49: `predict` on a copy of the shipped folder printed no sites line."""
    from respira.cli import main

    copy = Path(shutil.copytree(FOLDER, tmp_path / "copy"))
    wav = tmp_path / "noise.wav"
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 4000 * 5).astype(np.float32), 4000)
    assert main(["predict", str(copy), str(wav), "--per_recording", "--output", str(tmp_path / "r.csv")]) == 0
    assert f"model: {copy}; it {sites_line(FOLDER)}" in capsys.readouterr().err


def test_an_export_of_a_copy_keeps_the_serve_table_the_build_and_the_usage(exported: Path) -> None:
    """Issue 49: `respira export` of a copy dropped "Where this detector serves", "How this detector was
    built" and the remote-code and ONNX sections."""
    card, shipped = (exported / "README.md").read_text(), (FOLDER / "README.md").read_text()
    for section in KEPT_SECTIONS:
        assert section in card, section
    assert _serve_table(card) == _serve_table(shipped)
    assert site_verdicts(exported) == site_verdicts(FOLDER) and sites_line(exported) == sites_line(FOLDER)


@pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")  # huggingface_hub's LFS upload
def test_a_push_of_a_copy_keeps_the_serve_table(
    exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    from respira.hub import push_run

    from .hub.hub_server import HubServer

    copy = Path(shutil.copytree(FOLDER, tmp_path / "copy"))

    with HubServer(tmp_path / "hub") as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        push_run(copy, "someone/detector", token="test-token")
        card = hub.state.text(hub.state.repos["someone/detector"], "README.md")
    for section in KEPT_SECTIONS:
        assert section in card, section
    assert _serve_table(card) == _serve_table((FOLDER / "README.md").read_text())
    assert 'hf_hub_download("someone/detector", "model.onnx")' in card


def test_the_shipped_folder_is_read_only_to_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 49: `evaluate` wrote into the model folder by default, rewriting what the line claims."""
    from respira.cli import main

    before = {path: path.stat().st_mtime_ns for path in FOLDER.rglob("*")}
    copy = shutil.copytree(FOLDER, tmp_path / "copy")
    kauh = ["--dataset", "kauh", "--data_dir", str(tmp_path)]
    for args in (
        ["evaluate", str(FOLDER), *kauh, "--record"],
        ["evaluate", str(FOLDER), *kauh, "--output_dir", str(FOLDER / "evaluation_kauh")],
        ["export", str(copy), str(FOLDER / "out")],
        ["predict", str(tmp_path / "a.wav"), "--output", str(FOLDER / "rows.csv")],
        ["convert", "efficientat", str(tmp_path / "w.pt"), str(FOLDER / "checkpoint")],
        ["screen", str(tmp_path), "--output_dir", str(FOLDER)],
    ):
        assert main(args) != 0
        lines = capsys.readouterr().err.strip().splitlines()
        error = [line for line in lines if not line.startswith("model: ")]  # the model said, then refused
        assert len(error) == 1 and "which no command changes" in error[0], lines
    assert {path: path.stat().st_mtime_ns for path in FOLDER.rglob("*")} == before


def test_evaluate_writes_outside_the_model_folder_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 49: a tutorial's 24-recording KAUH sample, evaluated into MODEL by default, rewrote the line."""
    import argparse

    from respira.evaluation.corpus_run import default_output_dir

    copy = Path(shutil.copytree(FOLDER, tmp_path / "copy"))
    monkeypatch.chdir(tmp_path)
    plain = argparse.Namespace(model=str(copy), output_dir=None, record=False)
    assert default_output_dir(plain, "kauh") == Path("evaluation_kauh")  # ./evaluation_kauh, not MODEL's
    with pytest.raises(ValueError, match=r"claims only the evaluations its build_record\.json lists"):
        default_output_dir(argparse.Namespace(model=str(copy), output_dir=None, record=True), "kauh")
    run = tmp_path / "run"
    run.mkdir()
    asked = argparse.Namespace(model=str(run), output_dir=None, record=True)
    assert default_output_dir(asked, "kauh") == run / "evaluation_kauh"


# ---------------------------------------------------------------------- the detector it replaced (issue 83)
def test_the_card_sets_each_held_out_score_beside_the_detector_it_replaced_and_all_normal() -> None:
    """Issue 83: the default detector's head is learnt from all 65 ICBHI patients; its card shows, per
    held-out site, its score beside the detector it replaced (whose evaluations the build kept in
    ``base_detector/`` and lists by SHA-256) and all-normal, each from its file; and both rules: the
    issue's (higher on each held-out site) and the study's stricter paired intervals, from the study's
    results file the build record names by SHA-256."""
    from respira.hub.card_results import BASE_DETECTOR
    from respira.records.site_verdict import held_out_verdicts
    from respira.utils.tables import format_score

    build = json.loads((FOLDER / "build_record.json").read_text())
    base = FOLDER / BASE_DETECTOR
    listed = build[BASE_DETECTOR]["evaluations"]
    for name, digest in listed.items():
        assert hashlib.sha256((base / name).read_bytes()).hexdigest() == digest, name
    card = (FOLDER / "README.md").read_text()
    section = card[card.index("### Beside the detector it replaced") :].split("\n### ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    now = {(v.site, v.unit): v for v in site_verdicts(FOLDER) if v.protocol == "held out"}
    recorded = {base / name for name in listed}
    folders = [base / f"evaluation_{site}" for site in ("kauh", "sprsound")]
    before = [
        verdict
        for folder in folders
        for verdict in held_out_verdicts(folder, json.loads((folder / "metrics.json").read_text()), recorded)
    ]
    assert {(v.site, v.unit) for v in before} == set(now) and len(rows) == len(now) >= 2
    for verdict in before:
        mine = now[verdict.site, verdict.unit]
        higher = "yes" if mine.score > verdict.score else "**no**"
        cells = f"| {mine.count} {mine.unit} | {format_score(mine.score, mine.interval)} | "
        cells += f"{format_score(verdict.score, verdict.interval)} | 50.0 | {higher} |"
        assert any(row.endswith(cells) for row in rows), cells
    study = build["chosen_by"]
    results = ROOT / study["study"]
    assert hashlib.sha256(results.read_bytes()).hexdigest() == study["sha256"]
    chosen = json.loads(results.read_text())
    for site, gain in study["paired_gains"].items():
        assert gain == chosen[site]["pairs"][f"{study['candidate']} - today"]
        shown = f"{site} {gain['gain']:+.1f} [{gain['low']:+.1f}, {gain['high']:+.1f}]"
        assert shown in section, shown
    met = all(gain["low"] > 0 for gain in study["paired_gains"].values())
    assert ("is met:" if met else "is **not met**:") in " ".join(section.split())


def test_a_changed_file_of_the_replaced_detector_is_not_shown(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(FOLDER, tmp_path / FOLDER.name))
    metrics = copy / "base_detector" / "evaluation_kauh" / "metrics.json"
    metrics.write_text(metrics.read_text().replace("0.", "0.0", 1))
    render_folder_card(copy)
    section = (copy / "README.md").read_text().split("### Beside the detector it replaced")[1]
    table = section.split("\n\n")[2]
    assert "KAUH" not in table and "SPRSound" in table


def test_no_shipped_fit_record_holds_its_timings() -> None:
    """``make detector`` and ``make site-detectors`` rebuild the folders bit for bit: fit-site's record
    ships without its ``seconds`` (this machine's timing, the one field two builds write differently)."""
    records = sorted(FOLDER.parent.glob("*/site_fit.json"))
    assert FOLDER / "site_fit.json" in records and len(records) >= 2
    for path in records:
        record = json.loads(path.read_text())
        assert "seconds" not in record and record["audio_seconds"] > 0, path


def test_the_build_drops_the_trainers_speed_metrics_at_any_depth(tmp_path: Path) -> None:
    """Two builds of the same inputs wrote the cross-validation's metrics differently only in how fast this
    machine evaluated (``test_runtime``, ``..._per_second``, their ``_mean``/``_std``): the build drops
    them, and nothing else; the shipped folder's copy holds none."""
    build = _script("_build")
    metrics = {
        "test_icbhi_score": 0.52,
        "test_runtime": 0.03,
        "test_runtime_mean": 0.02,
        "test_samples_per_second_std": 4.0,
        "per_fold": [{"per_seed": [{"test_steps_per_second": 9.0, "test_threshold_crackle": 0.5}]}],
        "runtime_note": "kept",
    }
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics))
    build.drop_speed_metrics(path)
    kept = {"test_icbhi_score": 0.52, "per_fold": [{"per_seed": [{"test_threshold_crackle": 0.5}]}]}
    assert json.loads(path.read_text()) == kept | {"runtime_note": "kept"}
    shipped = (FOLDER / "base_detector" / CROSS_VALIDATION_FOLDER / "metrics.json").read_text()
    assert not re.search(r"_(runtime|samples_per_second|steps_per_second)(_mean|_std)?\"", shipped)


@pytest.mark.parametrize(
    ("folder", "results"),
    [
        (DEFAULT_DETECTOR_NAME, "detector_rebuild.md"),
        ("sprsound-crackle-wheeze", "site_detectors_rebuild.md"),
    ],
)
def test_the_shipped_folder_is_what_its_build_wrote_twice(folder: str, results: str) -> None:
    """``benchmarks/results/`` (``scripts/compare_builds.py`` on two builds from scratch, ``make detector``
    and ``make site-detectors``): both wrote the same bytes, and the shipped folder holds exactly those."""
    table = (ROOT / "benchmarks/results" / results).read_text(encoding="utf-8").splitlines()[2:]
    rows = [re.match(r"\| `(.+)` \| `([0-9a-f]{16})…` \| (.+?) \|", line) for line in table]
    assert rows and all(rows)
    assert {row.group(3) for row in rows} == {"same bytes"}
    built = FOLDER.parent / folder
    shipped = {p.relative_to(built).as_posix(): p for p in built.rglob("*") if p.is_file()}
    assert sorted(shipped) == [row.group(1) for row in rows]
    for row in rows:
        digest = hashlib.sha256(shipped[row.group(1)].read_bytes()).hexdigest()
        assert digest[:16] == row.group(2), row.group(1)


def test_compare_builds_tells_bytes_and_numbers_apart(tmp_path: Path) -> None:
    compare = _script("compare_builds")
    for name, value in (("a", 0.5), ("b", 0.5), ("c", 0.5 + 3e-8)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"score": value, "note": name == "c"}))
    rows = compare.rows(tmp_path / "a", tmp_path / "b", tmp_path / "c")
    assert rows[2].endswith("| same bytes | differs: numbers within 3.0e-08; 1 other value(s) differ |")
    assert compare.rows(tmp_path / "a", tmp_path / "c", None)[2].endswith("| DIFFERS |  |")

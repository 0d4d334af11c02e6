"""The folder fit-site writes (respira.sites.site_folder): a site head is exactly new rows of the classifier's
linear layer, the folder is a complete Hub-layout model folder whose card is rendered from its run files,
and (on real recordings) the Detector, pipeline() and onnxruntime decide alike on it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import torch

from respira import Detector, RespiraConfig, RespiraFeatureExtractor, RespiraForAudioClassification
from respira.hub.checksums import read_checksums
from respira.models.respira import RespiraAudioClassificationPipeline
from respira.models.respira.decision import flag_order, thresholds_of
from respira.models.respira.labels import MULTI_LABEL
from respira.records.site_fit import CURVE_FILE, NESTED_CV_FILE, SITE_FIT_FILE, SiteFitRecord
from respira.sites.out_of_sample import SITE
from respira.sites.site_folder import apply_site_fit, write_site_folder
from respira.utils.files import WRITTEN_FILE, sha256_of

from ..conftest import TINY_ENCODER
from ..hub.card_fixtures import site_card_section

HIDDEN = 16  # the tiny CNN's pooled embedding


@dataclass
class FakeFit:
    """What write_site_folder reads of a SiteFit."""

    chosen: tuple[str, str]
    head_weight: np.ndarray
    head_bias: np.ndarray
    thresholds: tuple[float, float]
    applies: bool = True
    outer: list[dict[str, Any]] = field(default_factory=list)
    aggregation: str = "max"
    top_k: int | None = None


def tiny_site_model(
    folder: Path | None = None, seed: int = 0, **overrides: Any
) -> RespiraForAudioClassification:
    """A frozen-encoder, linear-head multi-label model whose head_norm holds non-trivial statistics
    (``overrides``: other config fields)."""
    torch.manual_seed(seed)
    config = RespiraConfig(
        encoder_config=dict(TINY_ENCODER),
        target_seconds=1.0,
        problem_type=MULTI_LABEL,
        id2label={0: "wheeze", 1: "crackle"},  # outputs not in (crackle, wheeze) order: rows must follow
        label2id={"wheeze": 0, "crackle": 1},
        decision_thresholds=[0.3, 0.7],
        freeze_encoder=True,
        head_norm=True,
        **overrides,
    )
    model = RespiraForAudioClassification(config).eval()
    generator = torch.Generator().manual_seed(seed)
    model.head_norm.running_mean.copy_(torch.randn(HIDDEN, generator=generator))
    model.head_norm.running_var.copy_(0.1 + torch.rand(HIDDEN, generator=generator))
    if folder is not None:
        model.save_pretrained(folder)
        RespiraFeatureExtractor().save_pretrained(folder)
    return model


def fake_fit(chosen: tuple[str, str] = ("site_head", "as_is"), seed: int = 1) -> FakeFit:
    rng = np.random.default_rng(seed)
    rows = [
        {"candidate": name, "icbhi_score": score, "icbhi_score_low": score - 0.1,
         "icbhi_score_high": score + 0.1, "specificity": 0.61, "sensitivity": 0.52, "crackle_auc": 0.713,
         "wheeze_auc": 0.654}
        for name, score in (("as_is", 0.512), ("thresholds", 0.533), ("site_head", 0.587), ("chosen", 0.579),
                            ("all_normal", 0.5))
    ]  # fmt: skip
    return FakeFit(chosen, rng.normal(size=(2, HIDDEN)), rng.normal(size=2), (0.41, 0.66), outer=rows)


def record_of(fit: FakeFit, *, applied_anyway: bool = False) -> SiteFitRecord:
    return SiteFitRecord(
        procedure="fit-site", base_model="tiny", dataset="labelled", site_name="site", data_dir="/data/site",
        units=12, units_are_patients=True, recordings=30, left_out=0, windows=90, audio_seconds=600.0,
        candidates=["as_is", "site_head"], outer_folds=5, seed=0, chosen=list(fit.chosen),
        thresholds=list(fit.thresholds), base_thresholds=[0.5, 0.5], applies=not applied_anyway,
        applied_anyway=applied_anyway, nested_cv=fit.outer, seconds={"embedding": 1.0}, fit={},
    )  # fmt: skip


def flag_logits(model: RespiraForAudioClassification, embeddings: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        logits = model(embeddings=torch.as_tensor(embeddings, dtype=torch.float32)).logits.double().numpy()
    return logits[:, flag_order(model.config)]


def test_a_site_head_is_new_rows_of_the_classifier_and_the_other_label_keeps_its_own() -> None:
    model = tiny_site_model()
    embeddings = np.random.default_rng(2).normal(size=(20, HIDDEN)).astype(np.float32)
    before = flag_logits(model, embeddings)
    fit = fake_fit(("site_head", "thresholds"))
    apply_site_fit(model, fit)
    after = flag_logits(model, embeddings)
    expected = embeddings.astype(np.float64) @ fit.head_weight[0] + fit.head_bias[0]
    np.testing.assert_allclose(after[:, 0], expected, atol=1e-5, rtol=1e-6)  # crackle: the raw-space head
    np.testing.assert_array_equal(after[:, 1], before[:, 1])  # wheeze: the model's own head, untouched
    assert thresholds_of(model.config) == (0.41, 0.66)


def test_a_model_that_cannot_take_a_site_head_is_refused() -> None:
    model = tiny_site_model()
    model.config.head_hidden_size = 8  # as a trunk would
    with pytest.raises(ValueError, match="cannot take a site head"):
        apply_site_fit(model, fake_fit())
    apply_site_fit(model, fake_fit(("thresholds", "as_is")))  # thresholds alone are possible
    assert thresholds_of(model.config) == (0.41, 0.66)


LOWPASS = 2000.0  # a model that low-passes its input, as the shipped detector does


@pytest.fixture(scope="module")
def site_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FakeFit]:
    """A folder write_site_folder wrote (with its ONNX graph and learning curve drawn) of a tiny model that
    low-passes its input, with a site head on both labels."""
    from respira.models.respira.feature_extraction_respira import feature_extractor_for

    from ..figures import drawn

    tmp_path = tmp_path_factory.mktemp("site_folder")
    base = tmp_path / "base"
    model = tiny_site_model(lowpass_cutoff=LOWPASS)
    model.save_pretrained(base)
    feature_extractor_for(model.config).save_pretrained(base)
    fit = fake_fit(("anchored_head", "site_head"))
    curve = [
        {"units": n, "draw": d, "candidate": "chosen", "icbhi_score": 0.5 + n / 100}
        for n in (5, 10)
        for d in (0, 1)
    ]
    with drawn():
        output = write_site_folder(
            model, fit, record_of(fit, applied_anyway=True), tmp_path / "site", base=base, curve=curve
        )
    return output, fit


def test_the_folder_is_complete_loads_and_holds_the_fitted_head(site_folder: tuple[Path, FakeFit]) -> None:
    output, fit = site_folder
    embeddings = np.random.default_rng(3).normal(size=(8, HIDDEN)).astype(np.float32)
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "model.onnx", "README.md",
                 "checksums.sha256", "modeling_respira.py", SITE_FIT_FILE, NESTED_CV_FILE, CURVE_FILE,
                 "learning_curve.png"):  # fmt: skip
        assert (output / name).is_file(), name
    assert matplotlib.image.imread(output / "learning_curve.png").std() > 0.05  # drawn, not blank
    assert read_checksums(output)["model.safetensors"] == sha256_of(output / "model.safetensors")
    detector = Detector.from_pretrained(output, device="cpu")
    assert thresholds_of(detector.config) == fit.thresholds
    assert detector.config.calibration["chosen"] == ["anchored_head", "site_head"]
    assert detector.config.calibration["applied_anyway"] is True
    loaded = flag_logits(detector.model, embeddings)
    expected = embeddings.astype(np.float64) @ fit.head_weight.T + fit.head_bias
    np.testing.assert_allclose(loaded, expected, atol=1e-5, rtol=1e-6)
    onnx = Detector.from_pretrained(output, onnx=True)
    wave = 0.1 * np.random.default_rng(4).standard_normal(3 * 16000).astype(np.float32)
    assert onnx.predict(wave, sampling_rate=16000).label == detector.predict(wave, sampling_rate=16000).label
    card = (output / "README.md").read_text()
    assert "## Fitted to a site" in card and "Written with `--apply_anyway`" in card
    assert "![learning curve](learning_curve.png)" in card
    assert "chosen by `respira fit-site`" in card and "tuned on the validation split" not in card


def test_fit_site_s_protocol_files_are_written_whole_by_the_folder_s_staged_writer(
    site_folder: tuple[Path, FakeFit],
) -> None:
    """fit-site's held-out scoring is a protocol (the detector's embeddings, scored per recording, grouped
    by patient) whose files are the folder's, each recorded by the one staged folder that wrote it."""
    output, _ = site_folder
    assert (SITE.runs, SITE.unit) == ("embed", "recording") and hasattr(Detector, SITE.runs)
    assert SITE.grouping.startswith("patients")
    written = (output / WRITTEN_FILE).read_text()
    for name in SITE.files:
        assert f"{sha256_of(output / name)}  {name}\n" in written, name


def test_a_folder_whose_fit_chose_the_mean_is_aggregated_by_the_mean_by_every_runner(tmp_path: Path) -> None:
    """fit-site writes the recording rule it chose into the config; the Detector and ``respira screen``
    aggregate a recording's windows by it, and an explicit ``aggregation=`` still overrides it."""
    import soundfile

    from respira.cli import main

    base = tmp_path / "base"
    model = tiny_site_model(base)
    fit = FakeFit(
        ("thresholds", "thresholds"), None, None, (0.41, 0.66), outer=fake_fit().outer, aggregation="mean"
    )
    output = write_site_folder(
        model, fit, record_of(fit), tmp_path / "site", base=base, curve=[], onnx=False,
    )  # fmt: skip
    assert json.loads((output / "config.json").read_text())["recording_aggregation"] == "mean"
    rng = np.random.default_rng(5)
    wave = (rng.standard_normal(12 * 16000) * np.repeat(rng.uniform(0.01, 1.0, 12), 16000)).astype(np.float32)
    detector = Detector.from_pretrained(output, device="cpu")
    prediction = detector.predict(wave, sampling_rate=16000)
    windows = np.array([[row["crackle"], row["wheeze"]] for row in prediction.rows])
    assert len(windows) > 1 and not np.allclose(windows.max(axis=0), windows.mean(axis=0))
    assert prediction.aggregation == "mean"
    np.testing.assert_allclose([prediction.crackle, prediction.wheeze], windows.mean(axis=0), rtol=1e-6)
    explicit = Detector.from_pretrained(output, device="cpu", aggregation="max").predict(
        wave, sampling_rate=16000
    )
    np.testing.assert_allclose([explicit.crackle, explicit.wheeze], windows.max(axis=0), rtol=1e-6)

    archive = tmp_path / "archive"
    archive.mkdir()
    soundfile.write(archive / "r1.wav", wave, 16000, subtype="FLOAT")
    assert (
        main(["screen", str(output), str(archive), "--output_dir", str(tmp_path / "out"), "--format", "csv"])
        == 0
    )
    table = pd.read_csv(tmp_path / "out" / "recordings.csv")
    np.testing.assert_allclose(table[["crackle", "wheeze"]].to_numpy()[0], windows.mean(axis=0), rtol=1e-5)


def test_every_number_of_the_site_section_comes_from_the_run_file(tmp_path: Path) -> None:
    fit = fake_fit()
    record_of(fit).save(tmp_path)
    section = site_card_section(tmp_path)
    record = json.loads((tmp_path / SITE_FIT_FILE).read_text())
    shown = set()
    for row in record["nested_cv"]:
        for value in row.values():
            if isinstance(value, float):
                shown |= {f"{100 * value:.1f}", f"{value:.3f}"}
    shown |= {f"{t:.3f}" for t in record["thresholds"]} | {str(record["units"]), str(record["recordings"])}
    shown |= {str(record["outer_folds"]), "95"}
    numbers = set(re.findall(r"\d+(?:\.\d+)?", section))
    assert numbers <= shown, numbers - shown
    assert "12 patients" in section and "site head" in section


def test_an_occupied_output_is_left_as_it_was(tmp_path: Path) -> None:
    base = tmp_path / "base"
    model = tiny_site_model(base)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "mine.txt").write_text("keep")
    fit = fake_fit()
    with pytest.raises(FileExistsError, match="holds no record of what respira wrote"):
        write_site_folder(
            model, fit, record_of(fit), tmp_path / "site", base=base,
            curve=[], onnx=False,
        )  # fmt: skip
    assert [p.name for p in (tmp_path / "site").iterdir()] == ["mine.txt"]


# ------------------------------------------------------------------------- three ways agree, real audio
@pytest.mark.real_data
@pytest.mark.slow
def test_the_detector_pipeline_and_onnxruntime_decide_alike_on_a_fitted_folder(
    site_folder: tuple[Path, FakeFit], shared_icbhi: Path, tmp_path: Path
) -> None:
    """Site heads and new thresholds written on a model that low-passes its input: the three ways README
    promises decide alike on clips of real recordings, and pipeline() as the Detector does on a whole one."""
    from transformers import pipeline

    from ..hub.test_remote_code import run_without_respira
    from ..test_pretrained import WITHOUT_RESPIRA, saved_clips

    output, fit = site_folder
    recordings = sorted((shared_icbhi / "ICBHI_final_database").glob("*.wav"))[:3]
    detector = Detector.from_pretrained(output, device="cpu")
    extractor = RespiraFeatureExtractor.from_pretrained(output)
    clips, expected = saved_clips(detector, extractor, recordings, tmp_path)
    np.save(tmp_path / "wave.npy", np.load(clips[0]))
    jobs = {
        "exports": [str(output)],
        "folder": str(output),
        "wave": str(tmp_path / "wave.npy"),
        "clips": clips,
    }
    result = run_without_respira(WITHOUT_RESPIRA, jobs, tmp_path)
    expected = np.array(expected)
    thresholds = np.array(fit.thresholds)
    np.testing.assert_allclose(result["transformers"], expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(result["onnx"], expected, atol=1e-4, rtol=0)
    flags = expected[:, flag_order(detector.config)]  # the model's outputs are (wheeze, crackle)
    assert np.array_equal(np.array(result["onnx_present"]), (flags >= thresholds).astype(int))
    classifier = pipeline(
        "audio-classification", model=str(output), pipeline_class=RespiraAudioClassificationPipeline
    )
    decided = classifier(str(recordings[0]), top_k=1)[0]["label"]
    assert decided == detector.predict_file(recordings[0]).label
    onnx = Detector.from_pretrained(output, onnx=True)
    assert onnx.predict_file(recordings[1]).label == detector.predict_file(recordings[1]).label

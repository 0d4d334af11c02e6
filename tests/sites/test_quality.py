"""respira quality: a quality head that withholds the verdict on recordings too poor to judge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from respira.cli import main
from respira.core.decision import quality_threshold_of, withheld
from respira.inference.detector import Detector
from respira.labels import MULTI_LABEL, WITHHELD_LABEL
from respira.models import RespiraConfig, RespiraForAudioClassification
from respira.sites.quality import fit_quality, quality_card_section, write_derived_model

from ..conftest import SHARED_DIR

RATE = 16000
TINY_ENCODER = {"model_type": "respira_cnn", "channels": [4, 8, 8, 16]}


def tiny_model() -> RespiraForAudioClassification:
    torch.manual_seed(0)
    config = RespiraConfig(encoder_config=dict(TINY_ENCODER), target_seconds=1.0, problem_type=MULTI_LABEL)
    return RespiraForAudioClassification(config).eval()


def sample(count: int = 40, seed: int = 0) -> tuple[list[np.ndarray], list[bool], list[int]]:
    """Every fourth recording loud broadband noise (too poor to judge), the others a quiet tone in noise;
    two recordings per patient."""
    rng = np.random.default_rng(seed)
    t = np.arange(3 * RATE) / RATE
    recordings, poor = [], []
    for index in range(count):
        bad = index % 4 == 0
        noise = rng.standard_normal(t.size) * (0.5 if bad else 0.02)
        tone = 0.0 if bad else 0.2 * np.sin(2 * np.pi * (250 + 10 * index) * t)
        recordings.append((noise + tone).astype(np.float32))
        poor.append(bad)
    return recordings, poor, [index // 2 for index in range(count)]


@pytest.fixture(scope="module")
def fitted() -> tuple[RespiraForAudioClassification, object]:
    model = tiny_model()
    recordings, poor, patients = sample()
    return model, fit_quality(
        model, recordings, poor, patients, fitted_on="a synthetic sample", window=1.0, hop=1.0
    )


def test_the_fit_separates_poor_recordings_out_of_fold_and_sets_the_config(fitted):
    model, fit = fitted
    assert fit.auc == 100.0 and fit.withheld_poor == 100.0 and fit.withheld_other == 0.0
    assert (fit.recordings, fit.poor, fit.patients, fit.windows, fit.folds) == (40, 10, 20, 120, 5)
    assert model.config.quality == fit.to_config() and quality_threshold_of(model.config) == fit.threshold
    assert isinstance(model.quality_head, torch.nn.Linear) and model.quality_head.out_features == 1


def test_the_head_reads_the_embedding_and_scores_new_recordings(fitted):
    model, _ = fitted
    recordings, poor, _ = sample(count=8, seed=1)
    with torch.no_grad():
        out = model(torch.from_numpy(np.stack([r[:RATE] for r in recordings])))
        expected = model.quality_head(out.embeddings).squeeze(-1)
    torch.testing.assert_close(out.quality_logits, expected)
    decided = withheld(out.quality_logits.sigmoid().numpy(), model.config)
    assert decided.tolist() == poor


def test_the_head_survives_save_and_load(fitted, tmp_path: Path):
    model, fit = fitted
    model.save_pretrained(tmp_path)
    loaded = RespiraForAudioClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.quality == fit.to_config()
    wave = torch.from_numpy(sample(count=1)[0][0][:RATE])[None]
    with torch.no_grad():
        torch.testing.assert_close(loaded(wave).quality_logits, model(wave).quality_logits)
    assert tiny_model()(wave).quality_logits is None  # no head without config.quality


def test_a_detector_withholds_the_verdict_on_a_poor_recording(fitted, tmp_path: Path):
    model, fit = fitted
    recordings, poor, _ = sample(count=2)
    detector = Detector(model, window=1.0, hop=1.0)
    bad, good = detector.predict(recordings[0], RATE), detector.predict(recordings[1], RATE)
    assert poor[:2] == [True, False]
    assert bad.withheld and bad.label == WITHHELD_LABEL and bad.quality >= fit.threshold
    assert not good.withheld and good.label != WITHHELD_LABEL and good.quality < fit.threshold
    assert bad.quality == pytest.approx(np.mean([row["quality"] for row in bad.rows]))
    assert bad.summary()["quality"] == bad.quality and bad.to_dict()["withheld"] is True
    plain = Detector(tiny_model(), window=1.0, hop=1.0).predict(recordings[0], RATE)
    assert plain.quality is None and not plain.withheld and "quality" not in plain.rows[0]


def test_recording_level_evaluation_counts_the_withheld_and_scores_the_judged_apart(fitted, tmp_path: Path):
    import datasets

    from respira.audio.wav import encode_wav
    from respira.evaluation.external_validation import evaluate_recordings

    model, fit = fitted
    recordings, poor, patients = sample(count=12, seed=2)
    flags = [index % 3 == 1 for index in range(12)]  # crackles marked on some: the scores need both kinds
    dataset = datasets.Dataset.from_dict(
        {
            "audio": [{"bytes": encode_wav(r, RATE), "path": None} for r in recordings],
            "recording": [f"r{index}" for index in range(12)],
            "patient_id": patients,
            "crackle": [int(f) for f in flags],
            "wheeze": [int(not f) for f in flags],
            "normal": [0] * 12,
        }
    ).cast_column("audio", datasets.Audio(sampling_rate=RATE))
    metrics = evaluate_recordings(model, dataset, output_dir=tmp_path / "report", window=1.0, hop=1.0)
    quality = metrics["quality"]
    assert (quality["num_withheld"], quality["threshold"]) == (sum(poor), fit.threshold)
    assert quality["share_withheld"] == pytest.approx(sum(poor) / 12)
    assert metrics["groups"]["judged"]["num_recordings"] == 12 - sum(poor)
    assert metrics["groups"]["overall"]["num_recordings"] == 12
    rows = (tmp_path / "report" / "recording_predictions.csv").read_text().splitlines()
    assert rows[0].endswith(",windows,quality,withheld")
    assert [int(row.rsplit(",", 1)[1]) for row in rows[1:]] == [int(p) for p in poor]
    plain = evaluate_recordings(tiny_model(), dataset, output_dir=tmp_path / "plain", window=1.0, hop=1.0)
    assert "quality" not in plain and set(plain["groups"]) == {"overall"}


def test_too_few_recordings_of_a_kind_are_refused():
    recordings, poor, patients = sample(count=12)
    with pytest.raises(ValueError, match="at least 5 recordings of each kind, got 3 too poor"):
        fit_quality(tiny_model(), recordings, poor, patients, fitted_on="x")


def test_the_config_checks_the_threshold():
    from huggingface_hub.errors import StrictDataclassClassValidationError

    with pytest.raises(StrictDataclassClassValidationError, match="quality needs a threshold in"):
        RespiraConfig(encoder_config=dict(TINY_ENCODER), quality={"threshold": 1.5})


def test_the_card_section_says_how_often_it_withholds(fitted):
    text = quality_card_section(fitted[1])
    assert "AUC of 100.0 %" in text and "100 % of the poor" in text and "0 % of the others" in text


@pytest.mark.slow
def test_the_onnx_export_gives_the_quality_and_respira_reads_it(fitted, tmp_path: Path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from respira.hub.onnx import QUALITY_NAME, export_onnx, load_onnx_model

    model, _ = fitted
    model.save_pretrained(tmp_path)
    export_onnx(model, tmp_path / "model.onnx")  # checks the quality output's parity on the way
    classifier = load_onnx_model(tmp_path)
    assert classifier.has_quality and QUALITY_NAME == "quality"
    recordings = [r[:RATE] for r in sample(count=4)[0]]
    _, quality = classifier.predict_outputs(recordings)
    with torch.no_grad():
        expected = model(torch.from_numpy(np.stack(recordings))).quality_logits.sigmoid().numpy()
    np.testing.assert_allclose(quality, expected, atol=1e-4)


def test_the_command_refuses_a_corpus_without_a_quality_label(tmp_path: Path, capsys):
    tiny_model().save_pretrained(tmp_path / "model")
    capsys.readouterr()  # save_pretrained's progress bar
    command = ["quality", str(tmp_path / "model"), "--dataset", "kauh", "--data_dir", str(tmp_path)]
    assert main([*command, "--output_dir", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert "its recordings carry no label of quality (--dataset sprsound)" in error
    assert len(error.splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.real_data
@pytest.mark.slow
def test_the_command_on_the_real_sprsound_train_part(tmp_path: Path, capsys):
    root = SHARED_DIR / "sprsound"
    if not root.is_dir():
        pytest.skip(f"real SPRSound data not found at {root} (../shared is only present on project machines)")
    poor = sum(
        json.loads(path.read_text())["record_annotation"] == "Poor Quality"
        for path in (root / "train_json").glob("*.json")
    )
    tiny_model().save_pretrained(tmp_path / "model")
    command = [
        "quality",
        str(tmp_path / "model"),
        "--data_dir",
        str(root),
        "--output_dir",
        str(tmp_path / "q"),
    ]
    assert main([*command, "--cache_dir", str(tmp_path / "cache")]) == 0
    fit = json.loads((tmp_path / "q" / "quality.json").read_text())
    assert fit["poor"] == poor and fit["recordings"] == len(list((root / "train_json").glob("*.json")))
    assert 0 <= fit["threshold"] <= 1 and 0 <= fit["auc"] <= 100
    assert (
        "## Quality verdict" in (tmp_path / "q" / "README.md").read_text()
        or not (tmp_path / "model" / "README.md").exists()
    )
    wav = next(iter(sorted((root / "train_wav").glob("*.wav"))))
    assert main(["predict", str(tmp_path / "q"), str(wav), "--per_recording", "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[-2]
    assert "quality" in header.split(",")


def test_rows_read_back_from_a_file(fitted, tmp_path: Path):
    model, _ = fitted
    path = tmp_path / "poor.wav"
    sf.write(path, sample(count=1)[0][0], RATE)
    prediction = Detector(model, window=1.0, hop=1.0).predict_file(path)
    assert prediction.withheld and all("quality" in row for row in prediction.rows)


def test_a_largest_share_withheld_picks_the_lowest_threshold_within_it():
    """Out-of-fold scores of 8 others and 2 poor recordings: Youden's J picks the lowest score of the poor
    (both caught, one other withheld); at most 0 % of the others withheld moves above every other."""
    from respira.sites.quality import _threshold

    scores = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.9, 0.55, 0.95])
    poor = np.array([False] * 8 + [True, True])
    assert _threshold(scores, poor, None) == 0.55
    assert _threshold(scores, poor, 0.0) == 0.95
    assert _threshold(scores, poor, 25.0) == 0.55  # 2 of 8 others (0.6, 0.9) withheld: 25 %


def test_how_often_it_withholds_elsewhere_goes_into_the_config_and_the_card(fitted, tmp_path: Path):
    from respira.sites.quality import measure_elsewhere

    model, fit = fitted
    recordings, poor, _ = sample(count=8, seed=2)
    for index, waveform in enumerate(recordings):
        sf.write(tmp_path / f"r{index}.wav", waveform, RATE)
    files = sorted(tmp_path.glob("*.wav"))
    measured = measure_elsewhere(model, fit, {"site B": files})
    expected = 100 * np.mean([poor[int(path.stem[1:])] for path in files])  # the poor ones, exactly
    assert measured.elsewhere == {"site B": {"recordings": 8, "withheld": expected}}
    assert model.config.quality["elsewhere"]["site B"]["withheld"] == expected == 25.0
    assert "withholds the verdict on 25 % of 8 recordings of site B" in quality_card_section(measured)
    model.config.quality = fit.to_config()  # the shared fixture as it was


def test_measure_on_needs_corpus_and_folder(tmp_path: Path, capsys):
    tiny_model().save_pretrained(tmp_path / "model")
    capsys.readouterr()
    command = [
        "quality",
        str(tmp_path / "model"),
        "--data_dir",
        str(tmp_path),
        "--output_dir",
        str(tmp_path / "o"),
    ]
    assert main([*command, "--measure_on", "kauh"]) == 2
    assert "--measure_on 'kauh': expected CORPUS=FOLDER" in capsys.readouterr().err
    assert main([*command, "--measure_on", f"folder={tmp_path / 'nothing'}"]) == 2
    assert "does not exist or is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_fit_shows_its_progress(capsys, progress_bars_on) -> None:
    recordings, poor, patients = sample(count=20)
    fit_quality(tiny_model(), recordings, poor, patients, fitted_on="x", window=1.0, hop=1.0)
    assert "quality: embedding the windows (20 recordings)" in capsys.readouterr().err.splitlines()


def test_the_written_folder_loads_and_its_card_adds_the_section_to_the_sources(fitted, tmp_path: Path):
    from respira.hub.loading import load_model

    model, fit = fitted
    source = tmp_path / "model"
    tiny_model().save_pretrained(source)
    (source / "README.md").write_text("---\nlicense: mit\n---\n# The source model\n")
    output = write_derived_model(model, source, tmp_path / "out", card_section=quality_card_section(fit))
    assert load_model(output, device="cpu")[1].quality == fit.to_config()
    card = (output / "README.md").read_text()
    assert (
        card.startswith("---\nlicense: mit") and "# The source model" in card and "## Quality verdict" in card
    )
    assert (output / "preprocessor_config.json").is_file()
    # a second write into the same folder is refused, and the first one is left as it was
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        write_derived_model(tiny_model(), source, output, card_section="")
    assert load_model(output, device="cpu")[1].quality == fit.to_config()


def test_the_folder_written_from_a_shipped_detector_holds_the_code_its_config_declares(
    fitted, tmp_path: Path
):
    """A shipped detector declares its code (``auto_map``) without the files, which its copies write: the
    new folder holds the code and loads where respira is not installed."""
    from respira.hub.loading import load_model
    from respira.hub.remote_code import check_remote_code, write_remote_code
    from respira.models.respira.feature_extraction_respira import feature_extractor_for

    source = tmp_path / "model"
    shipped = tiny_model()
    shipped.save_pretrained(source)
    feature_extractor_for(shipped.config).save_pretrained(source)
    written = write_remote_code(source)
    for name in written.files:  # the shipped layout: auto_map kept, the generated files taken out
        (source / name).unlink()
    model, _ = load_model(source, device="cpu")
    output = write_derived_model(
        model, source, tmp_path / "out", card_section=quality_card_section(fitted[1])
    )
    assert check_remote_code(output) == sorted(written.files)

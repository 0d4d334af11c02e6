"""The docs' Hub command, ``respira bench MIT/ast-finetuned-audioset-10-10-0.4593 facebook/wav2vec2-base
laion/clap-htsat-unfused``, offline: folders of those names laid out as the Hub holds them (an AST
classification checkpoint, a wav2vec 2.0 base model, a whole CLAP model with its text tower; each with its
own feature extractor), with tiny random weights; and a bench of the other families' saved checkpoints
(HuBERT, WavLM, a whole Whisper model, a stand-alone CLAP audio tower). Every model benched is checked to
hold the weights its folder saved."""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import torch
import transformers

from respira.cli import main
from respira.encoder_bench.models import load_model

from ..conftest import write_kauh
from ..models.encoder_tester import (
    CASES,
    assert_saved_weights,
    randomise_initial_constants,
    tiny_clap_audio_options,
    tiny_waveform_config,
    tiny_whisper_config,
)

HUB_IDS = ("MIT/ast-finetuned-audioset-10-10-0.4593", "facebook/wav2vec2-base", "laion/clap-htsat-unfused")


def _write_hub_folders(root: Path) -> None:
    torch.manual_seed(0)
    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}
    ast = transformers.ASTConfig(**small, num_mel_bins=32, max_length=64, num_labels=5)
    transformers.ASTForAudioClassification(ast).save_pretrained(root / HUB_IDS[0])
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64).save_pretrained(root / HUB_IDS[0])
    wav2vec2 = tiny_waveform_config("wav2vec2")  # wav2vec2-base's 320-sample stride, in three convolutions
    wav2vec2.update({"conv_dim": (16, 16, 16), "conv_stride": (10, 8, 4), "conv_kernel": (10, 8, 4)})
    wav2vec2.num_feat_extract_layers = 3
    transformers.Wav2Vec2Model(wav2vec2).save_pretrained(root / HUB_IDS[1])
    transformers.Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(root / HUB_IDS[1])
    text = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    clap = transformers.ClapConfig(
        audio_config=tiny_clap_audio_options(),
        text_config={**text, "intermediate_size": 20, "max_position_embeddings": 40},
        projection_dim=16,
    )
    transformers.ClapModel(clap).save_pretrained(root / HUB_IDS[2])
    _clap_extractor().save_pretrained(root / HUB_IDS[2])


def _clap_extractor() -> transformers.ClapFeatureExtractor:
    """48 kHz, 10 s (repeated), fusion banks: as the Hub's, fewer frames."""
    return transformers.ClapFeatureExtractor(
        **{"feature_size": 16, "sampling_rate": 48000, "hop_length": 1920, "fft_window_size": 2048},
        **{"max_length_s": 10, "truncation": "fusion", "padding": "repeatpad"},
    )


FAMILIES = ("hubert", "wavlm", "whisper", "clap_tower", "ast_22k")


def _write_family_folders(root: Path) -> None:
    """Tiny saved checkpoints of the families the docs' command leaves out, each with its extractor: a
    HuBERT and a WavLM model, a whole Whisper model (8 s: the bench's windows), a stand-alone CLAP audio
    tower (``ClapAudioModel.save_pretrained``: model type ``clap_audio_model``) and an AST whose extractor
    takes 22.05 kHz."""
    torch.manual_seed(1)
    for name in ("hubert", "wavlm"):
        config = CASES[name].encoder_config()  # the base models' 320-sample stride, in three convolutions
        config.update({"conv_dim": (16, 16, 16), "conv_stride": (10, 8, 4), "conv_kernel": (10, 8, 4)})
        config.num_feat_extract_layers = 3
        model = transformers.AutoModel.from_config(config)
        randomise_initial_constants(model)
        model.save_pretrained(root / name)
        transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(root / name)
    whisper = tiny_whisper_config()
    whisper.max_source_positions = 400  # 8 s of 10-ms frames, halved
    transformers.WhisperModel(whisper).save_pretrained(root / "whisper")
    transformers.WhisperFeatureExtractor(feature_size=16, chunk_length=8).save_pretrained(root / "whisper")
    tower = transformers.ClapAudioModel(transformers.ClapAudioConfig(**tiny_clap_audio_options()))
    randomise_initial_constants(tower)
    tower.save_pretrained(root / "clap_tower")
    _clap_extractor().save_pretrained(root / "clap_tower")
    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}
    ast = transformers.ASTModel(transformers.ASTConfig(**small, num_mel_bins=32, max_length=64))
    randomise_initial_constants(ast)
    ast.save_pretrained(root / "ast_22k")  # its extractor at 22.05 kHz: bench takes it at that rate
    transformers.ASTFeatureExtractor(num_mel_bins=32, max_length=64, sampling_rate=22050).save_pretrained(
        root / "ast_22k"
    )


@pytest.fixture(scope="module")
def leaderboard(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hub")
    _write_hub_folders(root)
    kauh = write_kauh(root / "KAUH", patients=6)
    options = ["--sizes", "3", "--draws", "1", "--resamples", "50", "--threads", "1", "--cache_dir", "cache"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # the Hub ids, as the docs write them, name the folders
        data = ["--data", f"icbhi={synthetic_corpus}", f"kauh={kauh}"]
        assert main(["bench", *HUB_IDS, *data, "--output_dir", "encoders", *options]) == 0
    return root / "encoders"


def test_the_docs_hub_command_scores_each_encoder_beside_the_baselines(leaderboard: Path) -> None:
    page = (Path(__file__).parents[2] / "docs" / "how-to" / "choose-an-encoder.md").read_text()
    assert f"respira bench {' '.join(HUB_IDS)} " in page  # the command this test runs
    names = [hub_id.split("/")[-1] for hub_id in HUB_IDS]
    with (leaderboard / "leaderboard.csv").open() as handle:
        table = list(csv.reader(handle))
    assert [row[0] for row in table] == ["entry", *names, "all-normal", "class prior"]
    with (leaderboard / "results.csv").open() as handle:
        probes = [row for row in csv.DictReader(handle) if row["entry"] == "probe"]
    for name in names:
        columns = {row["column"] for row in probes if row["model"] == name}
        assert columns == {"ICBHI cycles, official split", "ICBHI → KAUH", "KAUH → ICBHI",
                           "ICBHI, 3 patients", "KAUH, 3 patients"}  # fmt: skip
        scores = [float(row["icbhi_score"]) for row in probes if row["model"] == name]
        assert all(0.0 <= score <= 1.0 for score in scores)
        assert (leaderboard / "model_index" / f"{name}.yaml").is_file()


@pytest.fixture(scope="module")
def families(synthetic_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("families")
    _write_family_folders(root)
    kauh = write_kauh(root / "KAUH", patients=6)
    options = ["--tasks", "unseen_site", "--resamples", "20", "--threads", "1", "--cache_dir", "cache"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        data = ["--data", f"icbhi={synthetic_corpus}", f"kauh={kauh}"]
        assert main(["bench", *FAMILIES, *data, "--output_dir", "encoders", *options]) == 0
    return root


@pytest.fixture(scope="module")
def loaded() -> Callable[..., object]:
    """:func:`load_model`, each folder loaded once for the tests that only read it."""
    return cache(load_model)


def test_every_family_is_benched_with_the_weights_its_folder_saved(
    leaderboard: Path, families: Path, loaded: Callable
) -> None:
    """The eight checkpoints (the docs' three, then HuBERT, WavLM, Whisper, a CLAP tower and a 22.05 kHz
    AST) load as saved; the run embedded with exactly those weights (their cache folder, keyed by the
    weights' hash); the AST at its own extractor's rate."""
    for root, names in ((leaderboard.parent, HUB_IDS), (families, FAMILIES)):
        with (root / "encoders" / "leaderboard.csv").open() as handle:
            benched = [row[0] for row in csv.reader(handle)][1 : 1 + len(names)]
        assert benched == [name.split("/")[-1] for name in names]
        for name in names:
            model = loaded(str(root / name), root / "cache")
            assert_saved_weights(model.detector.model.respira.encoder, root / name)
            assert (root / "cache" / "embeddings" / model.key[:24]).is_dir()
    assert loaded(str(families / "ast_22k"), families / "cache").detector.model.config.sampling_rate == 22050


def test_the_probe_reads_the_hidden_state_inner_cross_validation_prefers(
    families: Path, loaded: Callable
) -> None:
    """Every hidden state embedded once (wav2vec 2.0 family, Whisper, AST: embeddings and two layers, or one
    for the AST), the one read reported per column; CLAP's stages differ in size: its last."""
    with (families / "encoders" / "results.csv").open() as handle:
        probes = [row for row in csv.DictReader(handle) if row["entry"] == "probe"]
    for name, hidden_states in (("hubert", 3), ("wavlm", 3), ("whisper", 3), ("ast_22k", 2)):
        model = loaded(str(families / name), families / "cache")
        assert model.layers == hidden_states and model.detector.model.config.every_layer
        read = {row["layer"] for row in probes if row["model"] == name}
        assert read and read <= {*map(str, range(hidden_states)), "mean"}
    assert {row["layer"] for row in probes if row["model"] == "clap_tower"} == {"last"}
    assert load_model(str(families / "hubert"), families / "cache", layer="-1").layers == 1


def test_a_layer_the_model_lacks_is_one_line_before_any_embedding(
    families: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kauh = families / "KAUH"  # the families' HuBERT: 3 hidden states
    capsys.readouterr()
    argv = ["bench", str(families / "hubert"), "--data", f"kauh={kauh}", "--layer", "3", "--output_dir",
            str(tmp_path / "out"), "--cache_dir", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["respira bench: error: --layer 3: MODEL hubert has hidden states 0 .. 2"]
    assert not (tmp_path / "out").exists() and not list((tmp_path / "cache").rglob("*.npz"))

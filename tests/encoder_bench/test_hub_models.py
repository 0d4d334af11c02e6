"""The docs' Hub command, ``respira bench MIT/ast-finetuned-audioset-10-10-0.4593 facebook/wav2vec2-base
laion/clap-htsat-unfused``, offline: folders of those names laid out as the Hub holds them (an AST
classification checkpoint, a wav2vec 2.0 base model, a whole CLAP model with its text tower; each with its
own feature extractor), with tiny random weights."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import transformers

from respira.cli import main

from ..conftest import write_kauh
from ..models.encoder_tester import tiny_clap_audio_options, tiny_waveform_config

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
    transformers.ClapFeatureExtractor(  # 48 kHz, 10 s (repeated), fusion banks: as the Hub's, fewer frames
        **{"feature_size": 16, "sampling_rate": 48000, "hop_length": 1920, "fft_window_size": 2048},
        **{"max_length_s": 10, "truncation": "fusion", "padding": "repeatpad"},
    ).save_pretrained(root / HUB_IDS[2])


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

"""Encoders of the Hub through respira's recipe and Trainer: a tiny random HuBERT, Whisper and CLAP folder
(as the Hub holds them, with their feature extractors) trained for two steps by ``respira train
--encoder_name_or_path``, fine-tuned, frozen with the embedding cache, or with LoRA; then evaluated and
fitted to a site. (Export with code and the remote-code load of every family: tests/hub/test_remote_code.py;
ONNX: tests/hub/test_onnx.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
import yaml

import respira
from respira.cli import main
from respira.models.respira.hub_encoders import WAVEFORM_MODEL_TYPES

from ..data.test_labelled import write_labelled
from ..models.encoder_tester import CASES, tiny_clap_audio_options, tiny_extractor, tiny_whisper_config
from .conftest import TINY_RECIPE

SITE = tuple(  # 6 patients, a normal recording and a crackle or wheeze one each
    (f"p{p}_{r}.wav", "1" if r == 1 and p % 2 else "0", "1" if r == 1 and not p % 2 else "0", f"p{p}", "", "",
     1.5)
    for p in range(6)
    for r in range(2)
)  # fmt: skip


@pytest.fixture(scope="session")
def hub_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub_encoders")
    torch.manual_seed(0)
    text = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    models = {
        "hubert": transformers.HubertModel(CASES["hubert"].encoder_config()),
        "whisper": transformers.WhisperModel(tiny_whisper_config()),
        "clap": transformers.ClapModel(
            transformers.ClapConfig(
                audio_config=tiny_clap_audio_options(),
                text_config={**text, "intermediate_size": 20, "max_position_embeddings": 40},
                projection_dim=16,
            )
        ),
    }
    for name, model in models.items():
        model.save_pretrained(root / name)
        model_type = "clap_audio_model" if name == "clap" else name
        tiny_extractor(model_type).save_pretrained(root / name)
    return {name: root / name for name in models}


def _train(folder: Path, data: Path, root: Path, cache: Path, name: str, **options) -> Path:
    recipe = {**TINY_RECIPE, "sampling_rate": 16000, **options}
    del recipe["encoder"], recipe["encoder_config"]
    (root / f"{name}.yaml").write_text(yaml.safe_dump(recipe))
    run = root / name
    code = main(
        ["train", str(root / f"{name}.yaml"), "--encoder_name_or_path", str(folder),
         "--data_dir", str(data), "--output_dir", str(run), "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    assert code == 0
    return run


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub_runs") / "runs"


@pytest.fixture(scope="session")
def hubert_run(
    hub_folders: dict[str, Path], synthetic_corpus: Path, dataset_cache: Path, runs_root: Path
) -> Path:
    """HuBERT fine-tuned with LoRA on its attention projections (crackle and wheeze flags)."""
    pytest.importorskip("peft")
    runs_root.mkdir(parents=True, exist_ok=True)
    return _train(
        hub_folders["hubert"],
        synthetic_corpus,
        runs_root,
        dataset_cache,
        "hubert",
        lora_r=2,
        learning_rate=0.05,
        problem_type="multi_label_classification",
    )


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("hubert", None),  # the LoRA run
        ("whisper", {"freeze_encoder": True, "cache_embeddings": True, "head_norm": True}),
        ("clap", {"aux_loss": "supcon"}),
    ],
)
def test_a_hub_encoder_trains_from_its_folder(
    name: str, options: dict | None, hub_folders: dict[str, Path], synthetic_corpus: Path,
    dataset_cache: Path, runs_root: Path, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    if options is None:
        run = request.getfixturevalue("hubert_run")
    else:
        runs_root.mkdir(parents=True, exist_ok=True)
        run = _train(hub_folders[name], synthetic_corpus, runs_root, dataset_cache, name, **options)
    config = json.loads((run / "config.json").read_text())
    assert config["encoder_name_or_path"] == str(hub_folders[name])
    assert config["encoder_feature_extractor"]["sampling_rate"] == 16000
    model = respira.RespiraForAudioClassification.from_pretrained(run).eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 16000) * 0.1).logits).all()


@pytest.mark.parametrize("family", [name for name in WAVEFORM_MODEL_TYPES if name != "hubert"])
def test_every_waveform_family_trains_from_its_folder(
    family: str, synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path
) -> None:
    """The waveform families besides HuBERT (the same featurizer and pooling, each its own transformers
    encoder): trained two steps from a Hub-like folder; the run loads and runs its own family."""
    torch.manual_seed(0)
    folder = tmp_path / "hub" / family
    transformers.AutoModel.from_config(CASES[family].encoder_config()).save_pretrained(folder)
    tiny_extractor(family).save_pretrained(folder)
    # half-second cycles: 400 frames, not 800, through attention (WavLM's relative position bias is
    # quadratic in them)
    run = _train(
        folder, synthetic_corpus, tmp_path, dataset_cache, family, freeze_encoder=False, target_seconds=0.5
    )
    model = respira.RespiraForAudioClassification.from_pretrained(run).eval()
    assert model.config.encoder_config.model_type == family
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 16000) * 0.1).logits).all()


def test_a_hub_encoders_run_evaluates_and_fits_a_site(
    hubert_run: Path, synthetic_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import respira.hub.export

    evaluation = respira.evaluate(
        str(hubert_run), data_dir=str(synthetic_corpus), output_dir=str(tmp_path / "e")
    )
    assert 0.0 <= evaluation.metrics["icbhi_score"] <= 1.0
    monkeypatch.setattr(
        respira.hub.export, "export_onnx", lambda model, path, **_: Path(path).write_bytes(b"x")
    )
    site = write_labelled(tmp_path / "site", SITE)
    result = respira.fit_site(
        str(hubert_run), data_dir=str(site), output_dir=str(tmp_path / "fitted"), outer_folds=3,
        apply_anyway=True, candidates=["as_is", "thresholds"],
    )  # fmt: skip
    fitted = respira.RespiraConfig.from_pretrained(result.output_dir)
    assert fitted.encoder_config.model_type == "hubert" and fitted.calibration is not None


def test_a_folder_respira_cannot_take_is_one_line_before_any_data_is_read(
    hub_folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bert = tmp_path / "bert"
    text = {"vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2}
    transformers.BertConfig(**text).save_pretrained(bert)
    clap = hub_folders["clap"]
    for folder, message in (
        (bert, f"{bert} is a bert model, not an audio encoder respira takes"),
        (clap, f"{clap}: its feature extractor takes 16000 Hz audio, not sampling_rate=48000"),
    ):
        code = main(
            ["train", "--encoder_name_or_path", str(folder), "--data_dir", str(tmp_path / "absent"),
             "--output_dir", str(tmp_path / "run")]
        )  # fmt: skip
        err = capsys.readouterr().err.strip()
        assert code == 2 and message in err and "\n" not in err
        assert not (tmp_path / "run").exists()

"""The rate of a recipe's model (each family's own by default); training builds its data at that rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub.errors import StrictDataclassClassValidationError

from respira.models.respira.encoders import encoder_names, get_encoder_spec
from respira.training import run as run_module
from respira.training.recipe import parse_recipe
from respira.training.training_args import ModelArguments, build_model, model_sampling_rate

TINY_EFFICIENTAT = json.dumps({"width_mult": 0.4, "num_labels": 4})


def test_each_family_runs_at_its_pretraining_rate_unless_the_recipe_says_otherwise() -> None:
    assert {name: model_sampling_rate(ModelArguments(encoder=name)) for name in encoder_names()} == {
        "cnn": 16000,
        "ast": 16000,
        "beats": 16000,
        "efficientat": 32000,
        **dict.fromkeys(
            ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat"), 16000
        ),
        **{"sew": 16000, "whisper": 16000, "clap": 48000},
    }
    assert model_sampling_rate(ModelArguments(encoder="efficientat", sampling_rate=16000)) == 16000
    with pytest.raises(ValueError, match=r"^sampling_rate must be a whole number >= 1, got 0$"):
        ModelArguments(encoder="cnn", sampling_rate=0)


def test_efficientat_runs_at_its_native_rate_only() -> None:
    native = build_model(ModelArguments(encoder="efficientat", encoder_config=TINY_EFFICIENTAT))
    assert native.config.sampling_rate == get_encoder_spec("efficientat").sampling_rate == 32000
    assert native.config.target_samples == 8 * 32000
    with pytest.raises(
        StrictDataclassClassValidationError,
        match="takes 32000 Hz audio, not sampling_rate=16000",
    ):
        build_model(
            ModelArguments(encoder="efficientat", encoder_config=TINY_EFFICIENTAT, sampling_rate=16000)
        )
    cnn = build_model(ModelArguments(encoder="cnn"))
    assert cnn.config.sampling_rate == 16000


class _StopError(Exception):
    pass


@pytest.mark.parametrize(
    ("options", "rate"), [([], 32000), (["--encoder", "cnn", "--sampling_rate", "8000"], 8000)]
)
def test_training_builds_the_data_at_the_models_rate(
    options: list[str], rate: int, monkeypatch: pytest.MonkeyPatch, synthetic_corpus: Path, tmp_path: Path
) -> None:
    built = []

    def capture(data, **_kwargs):
        built.append(data)
        raise _StopError

    monkeypatch.setattr(run_module, "load_folds", capture)
    monkeypatch.setenv("RESPIRA_NUM_THREADS", "1")
    parsed = parse_recipe(
        None,
        [
            "--encoder",
            "efficientat",
            "--encoder_config",
            TINY_EFFICIENTAT,
            "--data_dir",
            str(synthetic_corpus),
            "--output_dir",
            str(tmp_path / "run"),
            "--report_to",
            "none",
            "--use_cpu",
            "true",
            *options,
        ],
    )
    with pytest.raises(_StopError):
        run_module.run_training(*parsed, log=lambda *_: None)
    assert [data.sampling_rate for data in built] == [rate]


def test_head_norm_flag_reaches_the_model_config() -> None:
    parsed = parse_recipe(None, ["--encoder", "cnn", "--head_norm", "true", "--data_dir", "x"])
    model_args = parsed[0]
    assert model_args.head_norm is True
    model = build_model(model_args)
    assert model.config.head_norm and model.head_norm is not None
    assert model.head_norm.num_features == model.config.hidden_size
    assert build_model(ModelArguments(encoder="cnn")).head_norm is None

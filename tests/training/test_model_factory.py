"""The rate of a recipe's model (each family's own by default); training builds its data at that rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from respira.models.encoders import encoder_names, get_encoder_spec
from respira.training.recipe.model_factory import build_model, model_sampling_rate
from respira.training.recipe.recipe import ModelArguments, parse_recipe
from respira.training.run import training_run as run_module

TINY_EFFICIENTAT = json.dumps({"width_mult": 0.4, "num_labels": 4})


def test_each_family_runs_at_its_pretraining_rate_unless_the_recipe_says_otherwise() -> None:
    assert {name: model_sampling_rate(ModelArguments(encoder=name)) for name in encoder_names()} == {
        "cnn": 16000,
        "ast": 16000,
        "beats": 16000,
        "efficientat": 32000,
    }
    assert model_sampling_rate(ModelArguments(encoder="efficientat", sampling_rate=16000)) == 16000
    with pytest.raises(ValueError, match="sampling_rate must be positive"):
        model_sampling_rate(ModelArguments(encoder="cnn", sampling_rate=0))


def test_efficientat_at_its_native_rate_has_no_resampler_and_at_16k_upsamples() -> None:
    native = build_model(ModelArguments(encoder="efficientat", encoder_config=TINY_EFFICIENTAT), [0, 1, 2, 3])
    assert native.config.sampling_rate == get_encoder_spec("efficientat").sampling_rate == 32000
    assert native.respira.featurizer.resample is None
    assert native.config.target_samples == 8 * 32000
    upsampled = build_model(
        ModelArguments(encoder="efficientat", encoder_config=TINY_EFFICIENTAT, sampling_rate=16000), [0, 1]
    )
    resample = upsampled.respira.featurizer.resample
    assert upsampled.config.sampling_rate == 16000 and (resample.up, resample.down) == (2, 1)
    cnn = build_model(ModelArguments(encoder="cnn"), [0, 1])
    assert cnn.config.sampling_rate == 16000


class _StopError(Exception):
    pass


@pytest.mark.parametrize(("options", "rate"), [([], 32000), (["--sampling_rate", "16000"], 16000)])
def test_training_builds_the_data_at_the_models_rate(
    options: list[str], rate: int, monkeypatch: pytest.MonkeyPatch, synthetic_corpus: Path, tmp_path: Path
) -> None:
    built = []

    def capture(data, **_kwargs):
        built.append(data)
        raise _StopError

    monkeypatch.setattr(run_module, "load_splits", capture)
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
    model = build_model(model_args, [0, 1])
    assert model.config.head_norm and model.head_norm is not None
    assert model.head_norm.num_features == model.config.hidden_size
    assert build_model(ModelArguments(encoder="cnn"), [0, 1]).head_norm is None


@pytest.mark.parametrize("problem_type", ["multi_label_classification", "single_label_classification"])
def test_a_relabelled_template_is_the_model_build_model_gives_for_those_labels(problem_type: str) -> None:
    import torch
    import transformers

    from respira.training.recipe.model_factory import relabel_model

    args = ModelArguments(encoder="cnn", problem_type=problem_type)
    seen, other = [0, 1, 1, 2, 3, 3, 3], [0, 0, 0, 2, 1]
    transformers.set_seed(7)
    template = build_model(args, seen)
    before = {name: tensor.clone() for name, tensor in template.state_dict().items()}
    transformers.set_seed(7)
    fresh = build_model(args, other)
    relabelled = relabel_model(template, args, other)
    assert relabelled.config.to_dict() == fresh.config.to_dict()
    assert relabelled.config.label_priors != template.config.label_priors  # the labels' priors
    fresh_state = fresh.state_dict()
    for name, tensor in relabelled.state_dict().items():
        assert torch.equal(tensor, fresh_state[name]), name
    relabelled.classifier[-1].weight.data.add_(1.0)  # a copy: training it leaves the template as built
    assert all(torch.equal(tensor, before[name]) for name, tensor in template.state_dict().items())
    assert relabelled.training == fresh.training
    assert [p.requires_grad for p in relabelled.parameters()] == [p.requires_grad for p in fresh.parameters()]
    with pytest.raises(ValueError, match="LoRA"):
        relabel_model(template, ModelArguments(encoder="cnn", lora_r=2), other)

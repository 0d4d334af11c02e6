"""Imbalance options: class_weights (inverse, effective number, explicit), pos_weight, and their loss."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional

from respira.labels import MULTI_LABEL
from respira.training import RespiraTrainer
from respira.training.recipe.model_factory import (
    build_model,
    effective_number_weights,
    inverse_frequency_weights,
    loss_weights,
    parse_class_weights,
)
from respira.training.recipe.recipe import ModelArguments, parse_recipe
from respira.training.run.recipe_checks import validate_run

from .test_trainer import _args

TINY = '{"channels": [4, 8, 8, 16]}'
# 6 normal, 3 crackle, 2 wheeze, 1 both; crackle flags: 3 + 1 = 4 of 12, wheeze flags: 2 + 1 = 3 of 12
LABELS = [0] * 6 + [1] * 3 + [2] * 2 + [3]


def _model_args(**options) -> ModelArguments:
    return ModelArguments(encoder="cnn", encoder_config=TINY, target_seconds=0.5, head_dropout=0.0, **options)


def test_inverse_frequency_is_n_over_classes_times_count() -> None:
    expected = [12 / (4 * 6), 12 / (4 * 3), 12 / (4 * 2), 12 / (4 * 1)]  # 0.5, 1, 1.5, 3
    assert loss_weights(_model_args(class_weights="inverse"), LABELS) == pytest.approx(expected)
    assert loss_weights(_model_args(class_weights="balanced"), LABELS) == pytest.approx(expected)
    assert inverse_frequency_weights([5, 5, 5, 5]).tolist() == [1.0, 1.0, 1.0, 1.0]
    # a class absent from train counts as seen once (no division by zero)
    assert inverse_frequency_weights([3, 0, 1, 0]).tolist() == pytest.approx([4 / 12, 4 / 4, 4 / 4, 4 / 4])


def test_effective_number_follows_cui_et_al() -> None:
    # (1 - β) / (1 - β^n) per class, then scaled so that the four weights sum to 4
    raw = [0.1 / (1 - 0.9**6), 0.1 / (1 - 0.9**3), 0.1 / (1 - 0.9**2), 0.1 / (1 - 0.9)]
    expected = [4 * value / sum(raw) for value in raw]
    weights = loss_weights(_model_args(class_weights="effective_number:0.9"), LABELS)
    assert weights == pytest.approx(expected)
    assert sum(weights) == pytest.approx(4.0)
    # β = 0: every class the same; β → 1: proportional to inverse frequency
    assert effective_number_weights([6, 3, 2, 1], 0.0).tolist() == pytest.approx([1, 1, 1, 1])
    near_inverse = effective_number_weights([6, 3, 2, 1], 1 - 1e-9)
    assert (near_inverse / near_inverse[0]).tolist() == pytest.approx([1, 2, 3, 6], rel=1e-6)
    assert parse_class_weights("effective_number").beta == 0.999  # the documented default


def test_explicit_weights_and_pos_weight() -> None:
    assert loss_weights(_model_args(class_weights="1,2,3,4"), LABELS) == [1.0, 2.0, 3.0, 4.0]
    assert loss_weights(_model_args(class_weights="none"), LABELS) is None
    assert loss_weights(_model_args(), LABELS) is None
    multi = {"problem_type": MULTI_LABEL}
    # negatives / positives per label: crackle 8 / 4, wheeze 9 / 3
    assert loss_weights(_model_args(pos_weight="auto", **multi), LABELS) == pytest.approx([2.0, 3.0])
    assert loss_weights(_model_args(pos_weight="1.5,4", **multi), LABELS) == [1.5, 4.0]
    assert loss_weights(_model_args(**multi), LABELS) is None


def _batch(size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    waveforms = torch.randn(size, 8000, generator=generator) * 0.1
    labels = torch.tensor([0, 1, 2, 3, 0, 0, 1, 2][:size])
    return waveforms, labels


@pytest.mark.parametrize("spec", ["inverse", "effective_number:0.99", "0.5,2,3,1"])
def test_cross_entropy_uses_the_class_weights(spec: str, tmp_path: Path) -> None:
    model = build_model(_model_args(class_weights=spec), LABELS).eval()
    weights = torch.tensor(loss_weights(_model_args(class_weights=spec), LABELS))
    assert model.config.class_weights == pytest.approx(weights.tolist())
    waveforms, labels = _batch()
    output = model(input_values=waveforms, labels=labels)
    expected = functional.cross_entropy(output.logits, labels, weight=weights)
    unweighted = functional.cross_entropy(output.logits, labels)
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert abs(expected.item() - unweighted.item()) > 1e-4  # the weights change this batch's loss
    # and the trainer's task loss is the same weighted loss
    trainer = RespiraTrainer(model, _args(tmp_path), train_dataset=None)
    loss = trainer.compute_loss(model, {"input_values": waveforms, "labels": labels})
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_bce_uses_the_positive_weights() -> None:
    options = _model_args(problem_type=MULTI_LABEL, pos_weight="auto")
    model = build_model(options, LABELS).eval()
    waveforms, labels = _batch()
    output = model(input_values=waveforms, labels=labels)
    flags = torch.stack([labels % 2, labels // 2], dim=1).float()  # (crackle, wheeze)
    expected = functional.binary_cross_entropy_with_logits(
        output.logits, flags, pos_weight=torch.tensor([2.0, 3.0])
    )
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    unweighted = functional.binary_cross_entropy_with_logits(output.logits, flags)
    assert abs(expected.item() - unweighted.item()) > 1e-4


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--class_weights", "frequency"], r"class_weights 'frequency': expected inverse"),
        (["--class_weights", "1,2,3"], r"class_weights '1,2,3': expected .*4 comma-separated"),
        (["--class_weights", "1,-1,1,1"], r"class_weights '1,-1,1,1'"),
        (["--class_weights", "0,0,0,0"], r"class_weights '0,0,0,0'"),
        (["--class_weights", "nan,1,1,1"], r"class_weights 'nan,1,1,1'"),
        (["--class_weights", "effective_number:1.5"], r"class_weights 'effective_number:1.5': beta"),
        (["--class_weights", "effective_number:x"], r"class_weights 'effective_number:x': beta"),
        (
            ["--problem_type", MULTI_LABEL, "--class_weights", "balanced"],
            r"class_weights 'balanced': .*multi-label .*pos_weight: auto",
        ),
        (["--pos_weight", "auto"], r"pos_weight 'auto': .*single-label model takes class_weights"),
        (["--problem_type", MULTI_LABEL, "--pos_weight", "1,2,3"], r"pos_weight '1,2,3': expected auto"),
        (["--problem_type", MULTI_LABEL, "--pos_weight", "0,1"], r"pos_weight '0,1': expected auto"),
        (["--schedule", "contrastive_two_stage", "--head_learning_rate", "0"], r"head_learning_rate must"),
    ],
)
def test_bad_weight_options_fail_up_front_in_one_line(
    flags: list[str], message: str, synthetic_corpus: Path, tmp_path: Path
) -> None:
    output = ["--output_dir", str(tmp_path / "run"), "--data_dir", str(synthetic_corpus)]
    parsed = parse_recipe(None, [*flags, *output])
    with pytest.raises(ValueError, match=message) as error:
        validate_run(*parsed)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()

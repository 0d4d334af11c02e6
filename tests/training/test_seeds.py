"""Run summaries name what they are: the kept seed beside the mean ± std, every score beside the
trivial baselines of its split, and a warning when the kept model is worse than predicting "normal".

Training schedules: the two-stage contrastive schedule's head stage has its own learning rate."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from respira.cli import main
from respira.training.seeds import (
    SeedOutcome,
    baseline_warning,
    headline,
    seed_table,
    summarize_seeds,
    train_with_schedule,
)
from respira.training.training_args import RunArguments
from respira.utils.tables import format_percent

from .conftest import TINY_RECIPE, tiny_model
from .test_trainer import _args

PER_SEED = {
    0: {
        "test_specificity": 0.9,
        "test_sensitivity": 0.1,
        "test_icbhi_score": 0.5,
        "test_patient_icbhi_score": 0.62,
        "test_baseline_all_normal_icbhi_score": 0.5,
        "test_baseline_all_normal_specificity": 1.0,
        "test_baseline_all_normal_sensitivity": 0.0,
        "test_baseline_all_normal_patient_icbhi_score": 0.734,
        "test_baseline_class_prior_icbhi_score": 0.41,
    },
    1: {
        "test_specificity": 0.8,
        "test_sensitivity": 0.4,
        "test_icbhi_score": 0.6,
        "test_patient_icbhi_score": 0.66,
        "test_baseline_all_normal_icbhi_score": 0.5,
        "test_baseline_all_normal_specificity": 1.0,
        "test_baseline_all_normal_sensitivity": 0.0,
        "test_baseline_all_normal_patient_icbhi_score": 0.734,
        "test_baseline_class_prior_icbhi_score": 0.41,
    },
}


def test_summary_names_the_kept_seed_beside_the_spread_over_seeds() -> None:
    validation = {"eval_icbhi_score": 0.58, "eval_baseline_all_normal_icbhi_score": 0.5}
    summary = summarize_seeds(PER_SEED, selected=1, validation=validation)
    assert summary["selected_seed"] == 1
    assert summary["test_icbhi_score"] == 0.6  # the model the run folder holds, not the mean
    assert summary["test_icbhi_score_mean"] == pytest.approx(0.55)
    assert summary["test_icbhi_score_std"] == pytest.approx(math.sqrt(0.005))
    assert summary["test_patient_icbhi_score"] == 0.66
    assert summary["test_baseline_all_normal_patient_icbhi_score"] == 0.734  # once, no spread
    assert "test_baseline_all_normal_icbhi_score_std" not in summary
    assert summary["validation_icbhi_score"] == 0.58
    assert summary["validation_baseline_all_normal_icbhi_score"] == 0.5
    line = headline(summary)
    assert "test ICBHI score 60.0 (kept model, seed 1)" in line
    assert "mean ± std over 2 seeds 55.0 ± 7.1" in line
    assert "all-normal baseline 50.0" in line
    # without a kept seed (a plain summary), the plain keys are the means
    assert summarize_seeds(PER_SEED)["test_icbhi_score"] == pytest.approx(0.55)


def test_seed_table_puts_the_baselines_under_the_model() -> None:
    scores = {0: 0.52, 1: 0.58}
    outcomes = {
        seed: SeedOutcome(None, {"eval_icbhi_score": s}, PER_SEED[seed]) for seed, s in scores.items()
    }
    outcomes[1].validation.update(
        {"eval_baseline_all_normal_icbhi_score": 0.5, "eval_baseline_class_prior_icbhi_score": 0.4}
    )
    table = seed_table(outcomes, selected=1)
    lines = table.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip())[-1] == "test per patient"
    rows = {cells[0]: cells[1:] for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[2:])}
    assert rows["1 (kept)"] == ["58.0", "80.0", "40.0", "60.0", "66.0"]
    assert rows["mean ± std"][-1] == "64.0 ± 2.8"
    assert rows["all-normal baseline"] == ["50.0", "100.0", "0.0", "50.0", "73.4"]
    assert rows["class prior baseline"] == ["40.0", "41.0"]  # its Sp/Se are not in PER_SEED


def test_baseline_warning_states_both_numbers() -> None:
    below = SeedOutcome(None, {"eval_icbhi_score": 0.4321, "eval_baseline_all_normal_icbhi_score": 0.5}, {})
    line = baseline_warning(below, 3)
    assert line is not None and "\n" not in line
    assert "seed 3" in line and "43.2" in line and "50.0" in line and "all-normal" in line
    level = SeedOutcome(None, {"eval_icbhi_score": 0.5, "eval_baseline_all_normal_icbhi_score": 0.5}, {})
    assert baseline_warning(level, 0) is None
    undefined = SeedOutcome(None, {"eval_icbhi_score": float("nan")}, {})
    assert baseline_warning(undefined, 0) is None


def test_baseline_warning_says_the_score_is_at_the_cross_fitted_thresholds() -> None:
    from types import SimpleNamespace

    trainer = SimpleNamespace(
        args=SimpleNamespace(threshold_source="cross_fit"), state=SimpleNamespace(best_metric=0.61)
    )
    below = SeedOutcome(trainer, {"eval_icbhi_score": 0.45, "eval_baseline_all_normal_icbhi_score": 0.5}, {})
    line = baseline_warning(below, 0)
    assert "45.0 on validation at the cross-fitted thresholds (selection saw 61.0" in line


def test_a_run_worse_than_all_normal_ends_with_a_warning(
    synthetic_corpus: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from respira.models import RespiraForAudioClassification

    def without_normal(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = torch.tensor([0.0, 1.0, 1.0, 1.0], device=logits.device)
        return torch.nn.functional.cross_entropy(logits, labels.long(), weight=weight)

    # normal cycles weigh nothing in the loss: the model learns never to predict "normal" (Sp ~ 0)
    monkeypatch.setattr(RespiraForAudioClassification, "compute_loss", without_normal)
    recipe = tmp_path / "recipe.yaml"
    changes = {"learning_rate": 0.05, "max_steps": 4}
    recipe.write_text(yaml.safe_dump({**TINY_RECIPE, **changes}))
    output = tmp_path / "run"
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--seeds", "0,1", "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads((output / "metrics.json").read_text())
    score, baseline = metrics["validation_icbhi_score"], metrics["validation_baseline_all_normal_icbhi_score"]
    assert score < baseline == 0.5
    assert printed[-1].startswith("warning: the kept model")
    assert format_percent(score) in printed[-1] and format_percent(baseline) in printed[-1]
    assert metrics["warning"] == printed[-1]
    kept = metrics["per_seed"][str(metrics["selected_seed"])]
    assert metrics["test_icbhi_score"] == kept["test_icbhi_score"]
    assert {"test_icbhi_score_mean", "test_icbhi_score_std", "test_baseline_class_prior_icbhi_score"} <= set(
        metrics
    )
    assert metrics["test_baseline_all_normal_icbhi_score"] == 0.5
    assert any(line.startswith("all-normal baseline") for line in printed)
    assert any(line.startswith("class prior baseline") for line in printed)
    assert any(f"(kept model, seed {metrics['selected_seed']})" in line for line in printed)


def test_the_head_stage_trains_at_head_learning_rate(icbhi_splits, tmp_path: Path) -> None:
    args = _args(
        tmp_path,
        learning_rate=1e-5,
        max_steps=1,
        aux_loss="contrastive_tuple",
        aux_loss_options='{"num_negatives": 2}',
        batch_sampler="contrastive_tuple",
    )
    run = RunArguments(schedule="contrastive_two_stage", head_epochs=1, head_learning_rate=0.02)
    model = tiny_model()
    trainer = train_with_schedule(model, args, run, icbhi_splits)
    assert trainer.args.learning_rate == 0.02 and trainer.args.aux_loss is None
    groups = trainer.optimizer.param_groups
    assert groups and all(group["initial_lr"] == pytest.approx(0.02) for group in groups)
    trained = {id(parameter) for group in groups for parameter in group["params"]}
    assert trained.isdisjoint(id(p) for p in model.respira.encoder.parameters())  # the encoder is frozen
    assert trained >= {id(p) for p in model.classifier.parameters()}
    assert args.learning_rate == 1e-5  # the contrastive stage's rate is the recipe's own

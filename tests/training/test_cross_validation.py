"""``split_strategy: patient_kfold`` runs: every fold x seed trained and tested on its own fold, the
summary over folds x seeds (mean ± std, Student-t 95 % interval), the pooled out-of-fold score, the
kept model and ``respira evaluate`` on the run folder.

Run summaries name what they are: the kept seed beside the mean ± std, every score beside the
trivial baselines of its split, and a warning when the kept model is worse than predicting "normal"."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from respira.cli import main
from respira.data import read_icbhi_index
from respira.data.errors import SplitError
from respira.metrics import icbhi_scores
from respira.metrics.multilabel import roc_auc
from respira.models.respira.labels import CLASS_NAMES, MULTI_LABEL, classes_to_flags
from respira.training.cross_validation import (
    OUT_OF_FOLD_FILE,
    FoldRun,
    SeedOutcome,
    baseline_warning,
    fold_statistics,
    headline,
    out_of_fold,
    seed_table,
    summarize_seeds,
    t_interval,
)
from respira.training.run_folder import resolve_resume
from respira.utils.tables import format_percent

from .conftest import TINY_RECIPE


def test_the_interval_is_students_t_around_the_mean() -> None:
    values = [0.50, 0.62, 0.55, 0.71, 0.48, 0.58]
    low, high = t_interval(values)
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    # by hand: t(0.975, 5 d.o.f.) = 2.570582 (tables), half-width = t * sd / sqrt(n)
    assert (low + high) / 2 == pytest.approx(mean)
    assert high - mean == pytest.approx(2.570582 * sd / math.sqrt(6), rel=1e-6)
    expected = stats.t.interval(0.95, 5, loc=mean, scale=stats.sem(values))
    assert (low, high) == pytest.approx(expected)
    result = fold_statistics(
        [{"test_icbhi_score": v, "test_baseline_all_normal_icbhi_score": 0.5} for v in values]
    )
    assert result["test_icbhi_score_mean"] == pytest.approx(mean)
    assert result["test_icbhi_score_std"] == pytest.approx(sd)
    assert result["test_icbhi_score_ci95"] == pytest.approx([low, high])
    assert not any("baseline" in key for key in result)  # baselines are per fold, not a model's spread


def _run(fold: int, seed: int, keys: list[str], labels: list[int], predicted: list[int]) -> FoldRun:
    return FoldRun(fold, seed, SeedOutcome(None, {}, {}), keys, np.array(labels), np.array(predicted))


def test_pooled_score_counts_every_cycle_once_and_refuses_overlaps() -> None:
    runs = [
        _run(0, 0, ["a", "b"], [0, 1], [0, 1]),  # fold 0: both right
        _run(1, 0, ["c", "d"], [0, 2], [1, 2]),  # fold 1: the normal cycle missed
    ]
    pooled = out_of_fold(runs, ["a", "b", "c", "d"])
    assert pooled["specificity"] == pytest.approx(0.5)  # 1 of 2 normal cycles
    assert pooled["sensitivity"] == pytest.approx(1.0)
    assert pooled["icbhi_score"] == pytest.approx(0.75)
    assert pooled["baseline_all_normal_icbhi_score"] == pytest.approx(0.5)
    assert pooled["cycles"] == 4
    with pytest.raises(SplitError, match="folds 0 and 1"):
        out_of_fold([runs[0], _run(1, 0, ["b", "c", "d"], [1, 0, 2], [1, 0, 2])], ["a", "b", "c", "d"])
    with pytest.raises(SplitError, match="never tested"):
        out_of_fold(runs, ["a", "b", "c", "d", "e"])


def _check_pooled_agrees_with_each_fold(metrics: dict) -> None:
    """The pooled predictions decide as each fold's test scoring did: the pooled Sp/Se are the folds'
    Sp/Se weighted by their normal/abnormal cycles (counted from the class-prior baseline: Sp = prior)."""
    for seed, pooled in metrics["out_of_fold"]["per_seed"].items():
        normal = abnormal = hit_normal = hit_abnormal = 0.0
        for entry in metrics["per_fold"].values():
            normals = entry["baselines"]["baseline_class_prior_specificity"] * entry["test_cycles"]
            test = entry["per_seed"][seed]
            normal, abnormal = normal + normals, abnormal + entry["test_cycles"] - normals
            hit_normal += test["test_specificity"] * normals
            hit_abnormal += test["test_sensitivity"] * (entry["test_cycles"] - normals)
        assert pooled["specificity"] == pytest.approx(hit_normal / normal)
        assert pooled["sensitivity"] == pytest.approx(hit_abnormal / abnormal)


def _recipe(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "recipe.yaml"
    options = {**TINY_RECIPE, "split_strategy": "patient_kfold", "num_folds": 2, **changes}
    path.write_text(yaml.safe_dump(options))
    return path


def _evaluate_kept_fold(
    output: Path, corpus: Path, cache: Path, metrics: dict, capsys: pytest.CaptureFixture[str]
) -> dict:
    """``respira evaluate`` on the fold run ``output`` (its ``metrics`` as training wrote them): it
    scores the kept model's own test fold, every cycle of it; returns the evaluation's metrics."""
    report = output.parent / "report"
    code = main(
        ["evaluate", str(output), "--data_dir", str(corpus), "--cache_dir", str(cache),
         "--output_dir", str(report)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    evaluated = json.loads((report / "metrics.json").read_text())
    assert evaluated["num_examples"] == metrics["per_fold"][str(metrics["selected_fold"])]["test_cycles"]
    return evaluated


def _check_out_of_fold_file(output: Path, metrics: dict, corpus: Path) -> pd.DataFrame:
    """``out_of_fold_predictions.csv`` holds each fold x seed's test cycles once, and its rows reproduce
    that model's own test scores: the ICBHI score of its decisions and the AUCs of its probabilities."""
    table = pd.read_csv(output / OUT_OF_FOLD_FILE)
    index = read_icbhi_index(corpus)
    seeds = {seed for entry in metrics["per_fold"].values() for seed in entry["per_seed"]}
    assert len(table) == len(index) * len(seeds)
    for _, rows in table.groupby("seed"):
        keys = rows["recording"] + "_" + rows["cycle_index"].astype(str)
        assert keys.is_unique and len(keys) == len(index)  # every cycle once per seed
    assert table[["crackle", "wheeze"]].stack().between(0, 1).all()
    for (fold, seed), rows in table.groupby(["fold", "seed"]):
        test = metrics["per_fold"][str(fold)]["per_seed"][str(seed)]
        assert len(rows) == metrics["per_fold"][str(fold)]["test_cycles"]
        labels, predicted = (
            [CLASS_NAMES.index(name) for name in rows[column]] for column in ("label", "predicted")
        )
        assert icbhi_scores(labels, predicted, warn=False)["icbhi_score"] == pytest.approx(
            test["test_icbhi_score"]
        )
        flags = classes_to_flags(np.asarray(labels))
        for i, name in enumerate(("crackle", "wheeze")):
            if not math.isnan(test[f"test_auc_{name}"]):
                assert roc_auc(flags[:, i], rows[name].to_numpy()) == pytest.approx(test[f"test_auc_{name}"])
    return table


def test_a_kfold_run_trains_every_fold_and_seed_and_evaluate_rebuilds_the_kept_fold(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    output, cache = tmp_path / "run", dataset_cache
    code = main(
        ["train", str(_recipe(tmp_path)), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--seeds", "0,1", "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "out of fold" in printed and "95% CI" in printed
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["split_strategy"] == "patient_kfold" and metrics["num_folds"] == 2 and metrics["runs"] == 4
    assert set(metrics["per_fold"]) == {"0", "1"}
    for fold, entry in metrics["per_fold"].items():
        assert set(entry["per_seed"]) == {"0", "1"}
        assert (output / f"fold_{fold}" / "seed_0").is_dir() and (output / f"fold_{fold}" / "seed_1").is_dir()
        assert "baseline_all_normal_icbhi_score" in entry["baselines"]
        assert "baseline_class_prior_icbhi_score" in entry["baselines"]
    # every cycle is in exactly one test fold, and the pooled predictions score each once
    assert sum(entry["test_cycles"] for entry in metrics["per_fold"].values()) == len(
        read_icbhi_index(synthetic_corpus)
    )
    assert metrics["out_of_fold"]["cycles"] == len(read_icbhi_index(synthetic_corpus))
    assert set(metrics["out_of_fold"]["per_seed"]) == {"0", "1"}
    _check_pooled_agrees_with_each_fold(metrics)
    assert "held_out_device" not in _check_out_of_fold_file(output, metrics, synthetic_corpus)
    # the summary is over the 4 fold x seed models, with a Student-t interval around the mean
    scores = [
        test["test_icbhi_score"]
        for entry in metrics["per_fold"].values()
        for test in entry["per_seed"].values()
    ]
    assert metrics["test_icbhi_score_mean"] == pytest.approx(statistics.fmean(scores))
    assert metrics["test_icbhi_score_std"] == pytest.approx(statistics.stdev(scores))
    low, high = metrics["test_icbhi_score_ci95"]
    assert low <= metrics["test_icbhi_score_mean"] <= high
    half = stats.t.ppf(0.975, 3) * statistics.stdev(scores) / math.sqrt(4)
    assert (low, high) == pytest.approx((statistics.fmean(scores) - half, statistics.fmean(scores) + half))
    # the kept model is the best validation score of all folds x seeds; its own test score is the plain key
    validation = {
        (int(fold), int(seed)): score
        for fold, entry in metrics["per_fold"].items()
        for seed, score in entry["validation_icbhi_score"].items()
    }
    kept = (metrics["selected_fold"], metrics["selected_seed"])
    assert validation[kept] == max(validation.values())
    kept_test = metrics["per_fold"][str(kept[0])]["per_seed"][str(kept[1])]
    assert metrics["test_icbhi_score"] == kept_test["test_icbhi_score"]
    record = json.loads((output / "respira_run.json").read_text())
    assert record["data"]["split_strategy"] == "patient_kfold" and record["data"]["num_folds"] == 2
    assert record["data"]["fold"] == kept[0] and record["selected_fold"] == kept[0]
    assert {(r["fold"], r["seed"]) for r in record["metrics"]["per_seed"]} == set(validation)
    assert record["metrics"]["test_ci95"]["icbhi_score"] == pytest.approx([low, high])
    card = (output / "README.md").read_text()
    assert "Patient-wise 2-fold cross-validation" in card and f"fold {kept[0]}, seed {kept[1]}" in card
    # evaluate rebuilds the kept model's own fold: it reproduces that model's test score
    evaluated = _evaluate_kept_fold(output, synthetic_corpus, cache, metrics, capsys)
    assert evaluated["icbhi_score"] == pytest.approx(kept_test["test_icbhi_score"])
    # resume finds the checkpoints of the fold folders
    point = resolve_resume("last", output)
    assert point is not None and point.source == output
    checkpoint = next((output / "fold_1" / "seed_0").glob("checkpoint-*"))
    assert resolve_resume(str(checkpoint), tmp_path / "elsewhere").target == output
    # ...and continues every fold x seed for more steps, in place
    code = main(
        ["train", str(_recipe(tmp_path)), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--seeds", "0,1", "--dataset_cache_dir", str(cache), "--resume_from_checkpoint", "last",
         "--max_steps", "4"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    for fold in range(2):
        for seed in (0, 1):
            assert (output / f"fold_{fold}" / f"seed_{seed}" / "checkpoint-4").is_dir()
    assert json.loads((output / "metrics.json").read_text())["runs"] == 4


def test_a_multi_label_kfold_run_pools_predictions_at_each_models_thresholds(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    """On cached frozen-encoder embeddings: every fold x seed's record says how its cache was built, not
    only the kept model's (whose trainer alone outlives the folds)."""
    output = tmp_path / "run"
    recipe = _recipe(tmp_path, problem_type=MULTI_LABEL, freeze_encoder=True, cache_embeddings=True)
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(dataset_cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    record = json.loads((output / "respira_run.json").read_text())
    assert len(record["metrics"]["per_seed"]) == 2
    assert all(entry["embedding_cache"] for entry in record["metrics"]["per_seed"])
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["runs"] == 2 and "test_auc_crackle_ci95" in metrics
    _check_pooled_agrees_with_each_fold(metrics)
    table = _check_out_of_fold_file(output, metrics, synthetic_corpus)
    for (fold, seed), rows in table.groupby(["fold", "seed"]):  # decided at that fold model's thresholds
        test = metrics["per_fold"][str(fold)]["per_seed"][str(seed)]
        present = rows[["crackle", "wheeze"]].to_numpy() >= [
            test["test_threshold_crackle"],
            test["test_threshold_wheeze"],
        ]
        decided = classes_to_flags(np.asarray([CLASS_NAMES.index(name) for name in rows["predicted"]]))
        assert (decided == present).all()


def test_impossible_folds_are_refused_before_any_training(
    synthetic_corpus: Path, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "run"
    code = main(
        ["train", str(_recipe(tmp_path, num_folds=13)), "--data_dir", str(synthetic_corpus),
         "--output_dir", str(output), "--dataset_cache_dir", str(tmp_path / "cache")]
    )  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert "num_folds=13: cannot split 12 patients into 13 splits" in error and len(error.splitlines()) == 1
    assert not output.exists() and not (tmp_path / "cache").exists()
    assert main(["train", str(_recipe(tmp_path, num_folds=1)), "--data_dir", str(synthetic_corpus),
                 "--output_dir", str(output)]) == 2  # fmt: skip
    assert "num_folds must be a whole number >= 2" in capsys.readouterr().err


def test_a_leave_one_device_out_run_tests_each_device_once(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    output, cache = tmp_path / "run", dataset_cache
    recipe = _recipe(tmp_path, split_strategy="leave_one_device_out")
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    index = read_icbhi_index(synthetic_corpus)
    devices = sorted(index["device"].unique())
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["split_strategy"] == "leave_one_device_out" and metrics["num_folds"] == len(devices)
    assert metrics["fold_devices"] == devices
    for fold, device in enumerate(devices):
        entry = metrics["per_fold"][str(fold)]
        assert entry["held_out_device"] == device
        assert entry["test_cycles"] == int((index["device"] == device).sum())
    assert metrics["out_of_fold"]["cycles"] == len(index)
    table = _check_out_of_fold_file(output, metrics, synthetic_corpus)
    device_of = dict(zip(index["recording"], index["device"], strict=False))
    assert (table["held_out_device"] == table["recording"].map(device_of)).all()
    record = json.loads((output / "respira_run.json").read_text())
    assert record["data"]["fold_devices"] == devices and record["data"]["num_folds"] == len(devices)
    kept = metrics["selected_fold"]
    card = (output / "README.md").read_text()
    assert "Leave one device out" in card and f"this model's fold held out {devices[kept]}" in card
    _evaluate_kept_fold(output, synthetic_corpus, cache, metrics, capsys)


def test_the_kfold_console_lines_are_in_percent() -> None:
    from respira.training.cross_validation import fold_table, kfold_headline

    baselines = {"baseline_all_normal_icbhi_score": 0.5, "baseline_class_prior_icbhi_score": 0.412}
    pooled = {"specificity": 0.9, "sensitivity": 0.3, "icbhi_score": 0.6, "cycles": 40}
    summary = {
        "runs": 2,
        "num_folds": 2,
        "seeds": [0],
        "selected_fold": 1,
        "selected_seed": 0,
        "test_icbhi_score": 0.625,
        "test_icbhi_score_mean": 0.6,
        "test_icbhi_score_std": 0.0354,
        "test_icbhi_score_ci95": [0.2823, 0.9177],
        "out_of_fold": {**pooled, **baselines},
        "per_fold": {
            str(fold): {
                "baselines": baselines,
                "validation_icbhi_score": {"0": 0.55},
                "per_seed": {
                    "0": {"test_specificity": 0.9, "test_sensitivity": 0.35, "test_icbhi_score": score}
                },
            }
            for fold, score in ((0, 0.575), (1, 0.625))
        },
        **{
            f"test_{k}_{s}": v
            for k in ("specificity", "sensitivity")
            for s, v in (("mean", 0.9), ("std", 0.0))
        },
    }
    assert kfold_headline(summary) == (
        "test ICBHI score over 2 folds x 1 seed(s) 60.0 ± 3.5 (95% CI 28.2-91.8, n=2); "
        "out-of-fold 60.0 on 40 cycles (all-normal 50.0); kept model: fold 1, seed 0 (62.5 on its test fold)"
    )
    rows = [re.split(r"\s{2,}", line.strip()) for line in fold_table(summary).splitlines()[2:]]
    assert rows[1] == ["1", "0 (kept)", "55.0", "90.0", "35.0", "62.5", "50.0", "41.2"]
    assert rows[-1] == ["out of fold", "90.0", "30.0", "60.0", "50.0", "41.2"]


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
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
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
         "--seeds", "0,1", "--dataset_cache_dir", str(dataset_cache)]
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

"""``threshold_source: cross_fit``: multi-label thresholds tuned on out-of-fold predictions of the training
pool, by models that never saw the patient they predict; the kept model decides at them everywhere."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from respira.cli import main
from respira.data.run_splits import load_splits
from respira.metrics import choose_thresholds, multilabel_scores
from respira.models import RespiraModel
from respira.models.respira.labels import MULTI_LABEL, classes_to_flags
from respira.records.run import RunRecord
from respira.training.collator import view_waveform
from respira.training.cross_validation import (
    cross_fit_thresholds,
    group_training_rows,
    pool_groups,
    selected_epochs,
    training_pool,
)
from respira.training.embedding_cache import ViewStore
from respira.training.recipe import parse_recipe
from respira.training.trainer import training_collator
from respira.training.training_args import ModelArguments, build_model

from .conftest import TINY_CNN, TINY_RECIPE, training_args

pytestmark = pytest.mark.filterwarnings("ignore::respira.metrics.UndefinedMetricWarning")

MODEL = ModelArguments(
    encoder="cnn",
    encoder_config=json.dumps({k: v for k, v in TINY_CNN.items() if k != "model_type"}),
    problem_type=MULTI_LABEL,
    target_seconds=1.0,
    head_dropout=0.0,
)


def test_groups_are_whole_patients_drawn_from_the_seed(icbhi_splits) -> None:
    pool = training_pool(icbhi_splits)
    assert len(pool) == len(icbhi_splits["train"]) + len(icbhi_splits["validation"])
    groups = pool_groups(pool, 3, seed=0)
    patients = np.asarray(pool["patient_id"])
    assert set(groups.tolist()) == {0, 1, 2}
    for patient in set(patients):  # a patient's cycles are all in one group
        assert len(set(groups[patients == patient])) == 1
    assert np.array_equal(groups, pool_groups(pool, 3, seed=0))
    assert any(not np.array_equal(groups, pool_groups(pool, 3, seed=s)) for s in range(1, 4))


def test_group_models_train_for_the_selected_epoch() -> None:
    state = SimpleNamespace(
        epoch=10.0,
        best_global_step=40,
        log_history=[{"step": 20, "epoch": 2.0}, {"step": 40, "epoch": 4.0, "eval_icbhi_score": 0.6}],
    )
    assert selected_epochs(SimpleNamespace(state=state)) == 4.0
    state.best_global_step = None  # no selection: the epochs trained
    assert selected_epochs(SimpleNamespace(state=state)) == 10.0
    state.epoch = 0.25  # a few steps: still one whole epoch
    assert selected_epochs(SimpleNamespace(state=state)) == 1.0


def test_each_cycle_is_predicted_by_a_model_that_never_saw_its_patient(icbhi_splits, tmp_path: Path) -> None:
    args = training_args(tmp_path, threshold_source="cross_fit", threshold_folds=2)
    fitted = cross_fit_thresholds(MODEL, args, icbhi_splits, epochs=2.0)
    pool = training_pool(icbhi_splits)
    flags = classes_to_flags(np.asarray(pool["label"]))
    assert fitted.probabilities.shape == (len(pool), 2)
    assert np.all((fitted.probabilities > 0) & (fitted.probabilities < 1))
    # the thresholds are the objective's optimum on the out-of-fold probabilities, scored there
    expected = choose_thresholds(flags, fitted.probabilities, "icbhi_score")
    assert fitted.choice == expected
    score = multilabel_scores(flags, fitted.probabilities, expected.thresholds, warn=False)["icbhi_score"]
    assert fitted.icbhi_score == pytest.approx(score)

    # no leak: shuffling the labels of group 0's cycles within each of its patients (which keeps the
    # groups) changes what the other groups' models learn, never group 0's own probabilities
    held = fitted.groups == 0
    relabelled = _relabel_within_patients(icbhi_splits, pool, held)
    again = cross_fit_thresholds(MODEL, args, relabelled, epochs=2.0)
    assert np.array_equal(again.groups, fitted.groups)
    assert np.allclose(again.probabilities[held], fitted.probabilities[held], atol=1e-6)
    assert not np.allclose(again.probabilities[~held], fitted.probabilities[~held], atol=1e-3)


def _relabel_within_patients(splits, pool, held: np.ndarray):
    """``splits`` with the labels of the ``held`` pool rows rolled within each of their patients."""
    labels = np.asarray(pool["label"])
    patients = np.asarray(pool["patient_id"])
    shuffled = labels.copy()
    for patient in set(patients[held]):
        rows = np.flatnonzero(patients == patient)
        shuffled[rows] = np.roll(labels[rows], 1)
    assert (shuffled != labels).any()
    relabelled, offset = dict(splits), 0
    for name in ("train", "validation"):
        split = splits[name]
        part = shuffled[offset : offset + len(split)].tolist()
        relabelled[name] = split.remove_columns("label").add_column(
            "label", part, feature=split.features["label"]
        )
        offset += len(split)
    return relabelled


FROZEN = replace(MODEL, freeze_encoder=True, target_seconds=8.0)  # long enough to hold a partner
SHARED_VIEWS = {  # gain on every augmented view; half of them append a same-label partner
    "augmented_views": 2,
    "augmentation": json.dumps({"gain": {"db": [-6, 6], "probability": 1.0}}),
    "concat_same_label": 0.5,
    "concat_classes": "normal,crackle,wheeze,both",
}


def _count_encoded_rows(monkeypatch) -> list[int]:
    """Patch the encoder's forward to count the rows it embeds."""
    rows: list[int] = []
    forward = RespiraModel.forward

    def counting(self, input_values, *args, **kwargs):
        rows.append(int(input_values.shape[0]))
        return forward(self, input_values, *args, **kwargs)

    monkeypatch.setattr(RespiraModel, "forward", counting)
    return rows


def _digests(collator, dataset, views: int) -> set[str]:
    """The digests of ``dataset``'s views ``0 .. views`` as ``collator`` draws them."""
    import hashlib

    return {
        hashlib.sha1(view_waveform(collator, example, view).tobytes()).hexdigest()
        for view in range(views + 1)
        for example in dataset
    }


def _group_views(model_args, args, splits, groups: np.ndarray) -> set[str]:
    """The distinct waveforms the group models embed: each group's training views drawn with its own
    collator (its own concatenation pool); the held-out cycles clean, which are some group's view 0."""
    pool = training_pool(splits)
    digests: set[str] = set()
    for group in range(args.threshold_folds):
        trained = pool.select(np.flatnonzero(groups != group))
        config = build_model(model_args).config
        collator = training_collator(config, args, trained)
        digests |= _digests(collator, trained, args.augmented_views)
    return digests


@pytest.fixture(scope="module")
def shared_cross_fit(icbhi_splits, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The arguments of a 3-group cross-fit sharing its views, its result and the rows its encoder embedded
    (the two tests below read the same run)."""
    args = training_args(tmp_path_factory.mktemp("shared_cross_fit"), threshold_source="cross_fit",
                         threshold_folds=3, **SHARED_VIEWS)  # fmt: skip
    with pytest.MonkeyPatch.context() as monkeypatch:
        rows = _count_encoded_rows(monkeypatch)
        shared = cross_fit_thresholds(FROZEN, args, icbhi_splits, epochs=1.0)
    return args, shared, sum(rows)


def test_group_models_embed_each_distinct_view_once_with_the_unshared_result(
    shared_cross_fit, icbhi_splits, monkeypatch
) -> None:
    args, shared, shared_rows = shared_cross_fit
    pool = training_pool(icbhi_splits)
    # the encoder ran once per distinct view: the pool's clean cycles and their augmented views once,
    # a view that appended a partner from a group's own patients once per distinct waveform
    assert shared_rows == len(_group_views(FROZEN, args, icbhi_splits, shared.groups))

    # the same cross-fit with every trainer embedding its own views (the store answers nothing)
    rows = _count_encoded_rows(monkeypatch)
    monkeypatch.setattr(ViewStore, "views", lambda *a, **k: None)
    unshared = cross_fit_thresholds(FROZEN, args, icbhi_splits, epochs=1.0)
    trained = [int((shared.groups != g).sum()) for g in range(3)]
    assert sum(rows) == sum(3 * n for n in trained) + len(pool)  # 3 views each, the held-out clean
    assert shared_rows < 0.6 * sum(rows)
    assert np.array_equal(unshared.groups, shared.groups)
    assert np.allclose(unshared.probabilities, shared.probabilities, atol=1e-5)
    assert unshared.choice.thresholds == pytest.approx(shared.choice.thresholds, abs=1e-6)


def test_shared_views_never_carry_a_held_out_patient(shared_cross_fit, icbhi_splits) -> None:
    # a group's augmented views draw partners from its own patients only: relabelling the last group's
    # cycles (which changes the partners the groups before it drew, and stored, for their views) leaves
    # the last group's probabilities as they were, although its model reuses what the others embedded
    args, fitted, _ = shared_cross_fit
    pool = training_pool(icbhi_splits)
    held = fitted.groups == 2
    again = cross_fit_thresholds(FROZEN, args, _relabel_within_patients(icbhi_splits, pool, held), epochs=1.0)
    assert np.array_equal(again.groups, fitted.groups)
    assert np.allclose(again.probabilities[held], fitted.probabilities[held], atol=1e-6)
    assert not np.allclose(again.probabilities[~held], fitted.probabilities[~held], atol=1e-4)


def test_a_cached_run_embeds_each_view_once_for_the_kept_and_the_group_models(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    stores: list[ViewStore] = []

    class Recorded(ViewStore):
        def __init__(self) -> None:
            super().__init__()
            stores.append(self)

    monkeypatch.setattr("respira.training.run.ViewStore", Recorded)
    views = {**SHARED_VIEWS, "augmentation": json.loads(SHARED_VIEWS["augmentation"])}
    recipe = _recipe(tmp_path, threshold_folds=3, freeze_encoder=True, target_seconds=8.0, **views)
    output, cache = tmp_path / "run", dataset_cache
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    (store,) = stores  # one seed, one store
    # the kept model's training views and its validation and test cycles, then the group models':
    # each distinct waveform went through the encoder once
    splits = load_splits(RunRecord.load(output).data, cache_dir=cache)
    model_args, _, _, args = parse_recipe(str(recipe), [])
    config = build_model(model_args).config
    kept = _digests(training_collator(config, args, splits["train"]), splits["train"], 2)
    clean = training_collator(config, args, None)  # view 0: the clean cycle
    held = _digests(clean, splits["validation"], 0) | _digests(clean, splits["test"], 0)
    groups = pool_groups(training_pool(splits), 3, seed=args.seed)
    assert store.embedded == len(kept | held | _group_views(model_args, args, splits, groups))
    assert store.reused > store.embedded


def _recipe(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "recipe.yaml"
    options = {
        **TINY_RECIPE,
        "problem_type": MULTI_LABEL,
        "threshold_source": "cross_fit",
        "threshold_folds": 2,
        **changes,
    }
    path.write_text(yaml.safe_dump(options))
    return path


def test_a_run_keeps_the_cross_fitted_thresholds_everywhere(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    output = tmp_path / "run"
    code = main(
        ["train", str(_recipe(tmp_path)), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(dataset_cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((output / "metrics.json").read_text())
    config = json.loads((output / "config.json").read_text())
    thresholds = config["decision_thresholds"]
    assert thresholds is not None
    # validation and test were decided at the cross-fitted thresholds, not re-tuned on validation
    record = json.loads((output / "respira_run.json").read_text())
    assert record["training"]["hyperparameters"]["threshold_source"] == "cross_fit"
    assert record["thresholds"] == thresholds
    validation = record["metrics"]["per_seed"][0]["validation"]
    assert [validation["threshold_crackle"], validation["threshold_wheeze"]] == thresholds
    assert "thresholds_tuned" not in validation and 0 <= validation["cross_fit_icbhi_score"] <= 1
    assert validation["cross_fit_epochs"] == 1.0  # max_steps 2 stopped inside epoch 1
    assert [metrics["test_threshold_crackle"], metrics["test_threshold_wheeze"]] == thresholds
    card = " ".join((output / "README.md").read_text().split())
    assert "tuned on cross-fitted predictions of the training pool: 2 models" in card
    assert "tuned on the validation split" not in card
    assert "| decision thresholds tuned on | `cross_fit` |" in card
    assert "| patient groups of the threshold cross-fit | `2` |" in card
    # ...and the thresholds are those the cross-fit chose on the training pool of this split
    splits = load_splits(RunRecord.load(output).data, cache_dir=dataset_cache)
    model_args, _, _, recipe_args = parse_recipe(str(tmp_path / "recipe.yaml"), [])
    seed_args = replace(recipe_args, output_dir=str(tmp_path / "again"), seed=42)
    again = cross_fit_thresholds(model_args, seed_args, splits, epochs=1.0)
    assert list(again.choice.thresholds) == pytest.approx(thresholds)
    # respira evaluate on the saved model decides at the same thresholds and reproduces the test score
    report = tmp_path / "report"
    code = main(
        ["evaluate", str(output), "--data_dir", str(synthetic_corpus), "--cache_dir", str(dataset_cache),
         "--output_dir", str(report)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    evaluated = json.loads((report / "metrics.json").read_text())
    assert evaluated["icbhi_score"] == pytest.approx(metrics["test_icbhi_score"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"problem_type": "single_label_classification"}, "threshold_source=cross_fit tunes multi-label"),
        ({"threshold_objective": "fixed"}, "threshold_objective=fixed tunes none"),
        ({"threshold_folds": 1}, "threshold_folds must be a whole number >= 2"),
        ({"threshold_source": "test"}, "threshold_source='test' is not one of validation, cross_fit"),
        ({"threshold_aggregation": "worst"}, "'worst' is not one of pooled, worst_domain"),
        (
            {"threshold_source": "validation", "threshold_aggregation": "worst_domain"},
            "threshold_aggregation=worst_domain scores cross-fitted predictions: set threshold_source",
        ),
        (
            {"threshold_aggregation": "worst_domain", "group_by_key": "site"},
            "threshold_aggregation=worst_domain: the training pool has no 'site' column (group_by_key)",
        ),
        ({"threshold_folds": 40}, "threshold_folds=40 needs at least 40 patients in train + validation"),
        (  # k-fold: every fold's pool is checked before the first fold trains
            {"split_strategy": "patient_kfold", "num_folds": 3, "threshold_folds": 9},
            "threshold_folds=9 needs at least 9 patients in train + validation",
        ),
    ],
)
def test_impossible_cross_fits_are_refused_in_one_line_before_training(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys, changes: dict, message: str
) -> None:
    output = tmp_path / "run"
    code = main(
        ["train", str(_recipe(tmp_path, **changes)), "--data_dir", str(synthetic_corpus), "--output_dir",
         str(output), "--dataset_cache_dir", str(dataset_cache)]
    )  # fmt: skip
    assert code == 2
    printed = capsys.readouterr()
    error = printed.err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert ": training" not in printed.out  # no seed (or fold) started
    assert not output.exists()


@pytest.mark.parametrize("disable_tqdm", [False, True])
def test_the_group_models_show_one_stage_unless_the_run_hides_its_bars(
    icbhi_splits, tmp_path: Path, monkeypatch, capsys, progress_bars_on: None, disable_tqdm: bool
) -> None:
    from respira.training import cross_validation

    trained = []

    def group_probabilities(model_args, args, train, held_out, lowpass_cutoff, store, template) -> np.ndarray:
        trained.append(args.disable_tqdm)
        return np.full((len(held_out), 2), 0.5)

    monkeypatch.setattr(cross_validation, "_group_probabilities", group_probabilities)
    args = training_args(tmp_path, threshold_source="cross_fit", threshold_folds=3, disable_tqdm=disable_tqdm)
    cross_fit_thresholds(MODEL, args, icbhi_splits, epochs=1.0)
    assert trained == [True] * 3  # the group models themselves always train without bars
    expected = [] if disable_tqdm else ["training the cross-fit group models (3 groups)"]
    assert capsys.readouterr().err.splitlines() == expected


def test_a_patient_groups_model_trains_on_the_rows_outside_the_group() -> None:
    import datasets

    pool = datasets.Dataset.from_dict(
        {"patient_id": [1, 1, 2, 3], "device": ["B", "A", "B", "A"], "label": [1, 2, 3, 0]}
    )
    patients = pool_groups(pool, 2, seed=0)
    for group in set(patients.tolist()):
        assert (
            group_training_rows(pool, patients, group).tolist() == np.flatnonzero(patients != group).tolist()
        )


def _train_and_cross_fit_again(synthetic_corpus: Path, cache: Path, tmp_path: Path, capsys, **changes):
    """``respira train`` the cross-fit recipe with ``changes``; its folder, hyperparameters and kept
    thresholds, its splits (built in ``cache``), and the cross-fit of its seed computed again on them."""
    output = tmp_path / "run"
    recipe = _recipe(tmp_path, **changes)
    code = main(
        ["train", str(recipe), "--data_dir", str(synthetic_corpus), "--output_dir", str(output),
         "--dataset_cache_dir", str(cache)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    hyperparameters = json.loads((output / "respira_run.json").read_text())["training"]["hyperparameters"]
    thresholds = json.loads((output / "config.json").read_text())["decision_thresholds"]
    splits = load_splits(RunRecord.load(output).data, cache_dir=cache)
    model_args, _, _, recipe_args = parse_recipe(str(recipe), [])
    seed_args = replace(recipe_args, output_dir=str(tmp_path / "again"), seed=42)
    again = cross_fit_thresholds(model_args, seed_args, splits, epochs=1.0)
    return output, hyperparameters, thresholds, splits, again


def test_worst_domain_thresholds_maximise_the_lowest_device_score_of_the_cross_fit(
    icbhi_splits, tmp_path: Path, monkeypatch
) -> None:
    from respira.training import cross_validation

    rng = np.random.default_rng(0)

    def group_probabilities(model_args, args, train, held_out, lowpass_cutoff, store, template) -> np.ndarray:
        flags = classes_to_flags(np.asarray(held_out["label"]))
        return np.clip(0.3 * flags + 0.7 * rng.random(flags.shape), 0, 1)  # a noisy ranking

    monkeypatch.setattr(cross_validation, "_group_probabilities", group_probabilities)
    pool = training_pool(icbhi_splits)
    devices = np.asarray(pool["device"])
    flags = classes_to_flags(np.asarray(pool["label"]))
    args = training_args(tmp_path, threshold_source="cross_fit", threshold_aggregation="worst_domain")
    fitted = cross_fit_thresholds(MODEL, args, icbhi_splits, epochs=1.0)
    by_device = choose_thresholds(flags, fitted.probabilities, domains=devices)
    assert fitted.choice == by_device
    pooled = choose_thresholds(flags, fitted.probabilities)
    assert pooled.thresholds != by_device.thresholds  # this pool's devices disagree

    def lowest(thresholds) -> float:
        scores = []
        for device in set(devices.tolist()):
            rows = devices == device
            normal = ~flags[rows].any(axis=1)
            if normal.all() or not normal.any():
                continue  # a device without normal or abnormal cycles has no ICBHI score
            scores.append(multilabel_scores(flags[rows], fitted.probabilities[rows], thresholds, warn=False))
        return min(score["icbhi_score"] for score in scores)

    assert lowest(by_device.thresholds) > lowest(pooled.thresholds)


def test_worst_domain_thresholds_need_two_domains() -> None:
    import datasets

    from respira.training.cross_validation import check_cross_fit_pool

    columns = {"patient_id": [1, 2, 3], "label": [0, 1, 2], "device": ["A", "A", "A"]}
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_dict(columns)})
    args = SimpleNamespace(
        threshold_folds=3, threshold_aggregation="worst_domain",
        group_by_key="device", seed=0,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"needs at least 2 recording domains \(device\) in train \+ "
                       r"validation, which hold 1 \(A\): use threshold_aggregation: pooled"):  # fmt: skip
        check_cross_fit_pool(splits, args)
    args.threshold_aggregation = "pooled"
    check_cross_fit_pool(splits, args)


def test_a_run_with_worst_domain_thresholds_records_and_states_it(
    synthetic_corpus: Path, dataset_cache: Path, tmp_path: Path, capsys
) -> None:
    card_says = [
        "They maximise the objective's lowest value over the recording domains (`device`)",
        "| threshold cross-fit scored (pooled, or its worst recording domain) | `worst_domain` |",
    ]
    output, hyperparameters, thresholds, splits, again = _train_and_cross_fit_again(
        synthetic_corpus, dataset_cache, tmp_path, capsys, threshold_aggregation="worst_domain"
    )
    assert hyperparameters["threshold_aggregation"] == "worst_domain"
    # the kept thresholds are those this split's pool chooses for the lowest device score
    pool = training_pool(splits)
    flags = classes_to_flags(np.asarray(pool["label"]))
    assert list(
        choose_thresholds(flags, again.probabilities, domains=pool["device"]).thresholds
    ) == pytest.approx(thresholds)
    assert len(set(again.groups.tolist())) == 2  # _recipe's threshold_folds
    card = " ".join((output / "README.md").read_text().split())
    assert all(text in card for text in card_says)
    assert "patient groups of the threshold cross-fit" in card

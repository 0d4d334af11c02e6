"""The decision rule's one home: thresholds, flags, classes, class scores, and nobody else deciding."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from respira.models.respira.decision import (
    DEFAULT_THRESHOLD,
    class_scores,
    decide,
    decide_flags,
    decide_recording,
    flag_class_scores,
    has_tuned_thresholds,
    present,
    thresholds_of,
    validate_thresholds,
)
from respira.models.respira.labels import CLASS_NAMES, MULTI_LABEL, SINGLE_LABEL

SOURCE = Path(__file__).resolve().parents[3] / "src" / "respira"


def multi_label(thresholds=None, id2label=None):
    return SimpleNamespace(
        problem_type=MULTI_LABEL,
        id2label=id2label or {0: "crackle", 1: "wheeze"},
        decision_thresholds=thresholds,
    )


def test_thresholds_default_and_config_and_mapping():
    assert thresholds_of(multi_label()) == (DEFAULT_THRESHOLD, DEFAULT_THRESHOLD) == (0.5, 0.5)
    assert thresholds_of(multi_label([0.3, 0.7])) == (0.3, 0.7)
    assert thresholds_of({"decision_thresholds": [0.2, 0.9]}) == (0.2, 0.9)
    assert not has_tuned_thresholds(multi_label()) and has_tuned_thresholds(multi_label([0.5, 0.5]))
    assert has_tuned_thresholds({"decision_thresholds": [0.1, 0.1]}) and not has_tuned_thresholds({})


@pytest.mark.parametrize("bad", [[0.5], [0.1, 0.2, 0.3], [0.5, 1.5], [-0.1, 0.5], ["x", 0.5], 7])
def test_invalid_thresholds_are_one_line(bad):
    with pytest.raises(ValueError, match=r"decision thresholds must be \[crackle, wheeze\]") as error:
        validate_thresholds(bad)
    assert "\n" not in str(error.value)


def test_a_probability_equal_to_its_threshold_is_present():
    flags = present([[0.3, 0.69999], [0.29999, 0.7]], (0.3, 0.7))
    assert flags.tolist() == [[True, False], [False, True]]


def test_decide_reads_outputs_in_id2label_order():
    # outputs in (wheeze, crackle) order: the first column is the wheeze probability
    config = multi_label([0.3, 0.7], id2label={0: "wheeze", 1: "crackle"})
    decision = decide([[0.8, 0.1], [0.2, 0.4], [0.75, 0.35], [0.1, 0.1]], config)
    assert decision.labels == ["wheeze", "crackle", "both", "normal"]
    assert decision.flags[:, 0].tolist() == [0.1, 0.4, 0.35, 0.1]  # crackle column first
    assert decision.thresholds == (0.3, 0.7)
    assert decision.present.dtype == bool and decision.classes.tolist() == [2, 1, 3, 0]


def test_decide_single_label_is_the_most_probable_class_with_class_sums():
    config = SimpleNamespace(
        problem_type=SINGLE_LABEL, id2label={0: "both", 1: "normal", 2: "crackle", 3: "wheeze"}
    )
    # columns: both, normal, crackle, wheeze
    decision = decide([[0.1, 0.2, 0.6, 0.1], [0.5, 0.3, 0.1, 0.1]], config)
    assert decision.labels == ["crackle", "both"]
    np.testing.assert_allclose(decision.flags, [[0.7, 0.2], [0.6, 0.6]])
    assert decision.present.tolist() == [[True, False], [True, True]]
    assert decision.thresholds is None


def test_missing_labels_are_named():
    with pytest.raises(ValueError, match="lack"):
        decide([[0.1, 0.2]], multi_label(id2label={0: "crackle", 1: "rhonchus"}))


def test_class_scores_rank_the_decided_class_first():
    rng = np.random.default_rng(0)
    for _ in range(50):
        thresholds = rng.uniform(0.02, 0.98, 2).tolist()
        probabilities = rng.uniform(0, 1, (64, 2))
        probabilities[:4] = thresholds  # exactly at the thresholds: present, and still ranked first
        scores, decision = class_scores(probabilities, multi_label(thresholds))
        np.testing.assert_allclose(scores.sum(axis=1), 1.0)
        best = scores.max(axis=1)
        decided = scores[np.arange(len(scores)), decision.classes]
        np.testing.assert_array_equal(decided, best)
        assert decision.classes[:4].tolist() == [3, 3, 3, 3]


def test_class_scores_at_one_half_are_the_independent_products():
    probabilities = np.array([[0.2, 0.9], [0.6, 0.3]])
    scores, _ = class_scores(probabilities, multi_label())
    c, w = probabilities.T
    expected = np.stack([(1 - c) * (1 - w), c * (1 - w), (1 - c) * w, c * w], axis=1)
    np.testing.assert_allclose(scores, expected)


def test_flag_class_scores_by_hand():
    # crackle 0.8, wheeze 0.3 at 0.5: the products of independent flags
    np.testing.assert_allclose(flag_class_scores([[0.8, 0.3]]), [[0.14, 0.56, 0.06, 0.24]])
    # at (0.6, 0.6): crackle 0.5 + 0.5 * 0.2 / 0.4 = 0.75, wheeze 0.3 / 1.2 = 0.25
    np.testing.assert_allclose(
        flag_class_scores([[0.8, 0.3]], (0.6, 0.6)), [[0.1875, 0.5625, 0.0625, 0.1875]]
    )
    assert decide_flags([[0.8, 0.3]], (0.6, 0.6)).labels == ["crackle"]


def test_class_scores_of_a_single_label_model_are_its_softmax_in_class_order():
    config = SimpleNamespace(problem_type=None, id2label={i: n for i, n in enumerate(reversed(CLASS_NAMES))})
    scores, decision = class_scores([[0.1, 0.2, 0.3, 0.4]], config)
    np.testing.assert_allclose(scores, [[0.4, 0.3, 0.2, 0.1]])
    assert decision.labels == ["normal"]


def test_decide_flags_default_thresholds():
    assert decide_flags([[0.5, 0.49]]).labels == ["crackle"]


def _reads_thresholds_or_compares_with_them(tree: ast.AST) -> list[int]:
    """Line numbers where a module reads ``decision_thresholds`` or compares something with a threshold."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "decision_thresholds"
            and isinstance(node.ctx, ast.Load)
        ) or (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) in {"getattr", "get"}
            and any(isinstance(a, ast.Constant) and a.value == "decision_thresholds" for a in node.args)
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.GtE, ast.Gt)) for op in node.ops):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
            if any("threshold" in name or "probabilities" in name for name in names):
                lines.append(node.lineno)
    return lines


# Modules that may touch thresholds without deciding: tuning them (a search over candidates) and the ADD
# loss's cosine threshold.
NOT_DECISIONS = {"metrics/thresholds.py", "losses/add.py"}


def test_no_other_module_reads_or_applies_the_thresholds():
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):  # the shipped folders hold no code (it is written at export)
        relative = path.relative_to(SOURCE).as_posix()
        if relative == "models/respira/decision.py" or relative in NOT_DECISIONS:
            continue
        lines = _reads_thresholds_or_compares_with_them(ast.parse(path.read_text(), filename=str(path)))
        offenders += [f"{relative}:{line}" for line in lines]
    assert offenders == [], f"decide through respira.models.respira.decision instead: {offenders}"


def test_the_scan_finds_what_it_looks_for():
    source = (
        "a = config.decision_thresholds\n"
        "b = getattr(config, 'decision_thresholds', None)\n"
        "c = p >= thresholds\n"
        "d = probabilities >= np.asarray(used)\n"
        "config.decision_thresholds = [0.5, 0.5]\n"
    )
    assert _reads_thresholds_or_compares_with_them(ast.parse(source)) == [1, 2, 3, 4]


def test_a_recording_is_decided_on_its_aggregated_windows():
    windows = [[0.1, 0.2], [0.35, 0.6], [0.2, 0.65]]
    aggregated, decision = decide_recording(windows, multi_label([0.3, 0.7]))
    assert aggregated.tolist() == [0.35, 0.65]  # each label's maximum
    assert decision.labels == ["crackle"] and decision.thresholds == (0.3, 0.7)
    aggregated, decision = decide_recording(windows, multi_label([0.3, 0.7]), "topk_mean", top_k=2)
    np.testing.assert_allclose(aggregated, [0.275, 0.625])
    assert decision.labels == ["normal"]


def test_aggregation_of_reads_the_configs_rule_and_defaults_to_the_maximum() -> None:
    from types import SimpleNamespace

    from respira.models.respira.decision import aggregation_of
    from respira.models.respira.windows import DEFAULT_AGGREGATION, DEFAULT_TOP_K, aggregate_windows

    assert aggregation_of(SimpleNamespace()) == (DEFAULT_AGGREGATION, None)
    assert aggregation_of({"recording_aggregation": "mean"}) == ("mean", None)
    assert aggregation_of(SimpleNamespace(recording_aggregation="topk_mean")) == ("topk_mean", DEFAULT_TOP_K)
    assert aggregation_of(SimpleNamespace(recording_aggregation="topk_mean", recording_top_k=5)) == (
        "topk_mean",
        5,
    )
    with pytest.raises(ValueError, match="aggregation must be one of"):
        aggregation_of({"recording_aggregation": "median"})
    windows = np.array([[0.1, 0.9], [0.3, 0.1], [0.8, 0.2]])
    np.testing.assert_allclose(aggregate_windows(windows, "mean"), [0.4, 0.4])
    np.testing.assert_allclose(aggregate_windows(windows, "max"), [0.8, 0.9])


def test_decided_rows_and_decide_rows_give_every_runner_one_verdict() -> None:
    from respira.models.respira.decision import decide_rows, decided_rows

    config = SimpleNamespace(
        problem_type="multi_label_classification",
        id2label={0: "wheeze", 1: "crackle"},  # the model's order, not (crackle, wheeze)
        decision_thresholds=[0.3, 0.8],
    )
    rows = decided_rows([[0.1, 0.2], [0.9, 0.35]], [(0.0, 4.0), (2.0, 6.0)], config)
    assert [(row["crackle"], row["wheeze"], row["label"]) for row in rows] == [
        (0.2, 0.1, "normal"),
        (0.35, 0.9, "both"),
    ]
    assert "p_normal" not in rows[0]
    flags, decision = decide_rows(rows, config)  # the model's own rule: the maximum
    assert flags.tolist() == [0.35, 0.9] and decision.labels == ["both"]
    flags, decision = decide_rows(rows, config, "mean")
    assert flags.tolist() == pytest.approx([0.275, 0.5]) and decision.labels == ["normal"]
    config.recording_aggregation = "mean"  # a site fit chose the mean: the default follows it
    assert decide_rows(rows, config)[1].labels == ["normal"]
    with pytest.raises(ValueError, match="no windows"):
        decide_rows([], config)


@pytest.mark.parametrize("id2label", [{0: "crackle", 1: "wheeze"}, {0: "wheeze", 1: "crackle"}])
def test_the_traced_decision_is_decide_for_every_flag_pair(id2label) -> None:
    """The ONNX graph's ``present`` and ``label`` (:func:`decide_tensor`) are :func:`decide`'s flags and
    classes, for all four classes and both output orders (issue 58: ``2c + w`` for ``c + 2w`` went unseen
    outside the ONNX tests)."""
    import torch

    from respira.models.respira.decision import decide_tensor

    config = multi_label([0.3, 0.7], id2label=id2label)
    by_name = np.array([[0.1, 0.2], [0.9, 0.2], [0.1, 0.8], [0.9, 0.8], [0.3, 0.7]])  # (crackle, wheeze)
    outputs = by_name if id2label[0] == "crackle" else by_name[:, ::-1].copy()
    present_, label = decide_tensor(torch.from_numpy(outputs), config)
    expected = decide(outputs, config)
    assert label.tolist() == expected.classes.tolist() == [0, 1, 2, 3, 3]
    assert [CLASS_NAMES[i] for i in label.tolist()[:4]] == ["normal", "crackle", "wheeze", "both"]
    assert present_.tolist() == expected.present.tolist()
    single = SimpleNamespace(problem_type=SINGLE_LABEL, id2label=dict(enumerate(CLASS_NAMES)))
    softmax = np.eye(4)[[2, 0, 3, 1]] * 0.7 + 0.075
    present_, label = decide_tensor(torch.from_numpy(softmax), single)
    assert label.tolist() == decide(softmax, single).classes.tolist() == [2, 0, 3, 1]
    assert present_.tolist() == decide(softmax, single).present.tolist()

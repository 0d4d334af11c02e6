"""The label scheme (respira.models.respira.labels): classes, flags, problem types and the maps
between them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import respira.models.respira.labels
from respira.models.respira.labels import (
    CLASS_NAMES,
    MULTI_LABEL,
    MULTI_LABEL_NAMES,
    NUM_CLASSES,
    PROBLEM_TYPES,
    SINGLE_LABEL,
    classes_to_flags,
    cycle_label,
    flags_to_classes,
    label_names,
)

TABLE = {(0, 0): 0, (1, 0): 1, (0, 1): 2, (1, 1): 3}  # (crackle, wheeze) → class index


def test_names_and_problem_types() -> None:
    assert CLASS_NAMES == ("normal", "crackle", "wheeze", "both") and NUM_CLASSES == 4
    assert MULTI_LABEL_NAMES == ("crackle", "wheeze")
    assert (SINGLE_LABEL, MULTI_LABEL) == ("single_label_classification", "multi_label_classification")
    assert PROBLEM_TYPES == (SINGLE_LABEL, MULTI_LABEL)
    assert label_names(SINGLE_LABEL) == CLASS_NAMES
    assert label_names(None) == CLASS_NAMES  # transformers' unset problem type: respira's default
    assert label_names(MULTI_LABEL) == MULTI_LABEL_NAMES
    with pytest.raises(
        ValueError, match=r"one of single_label_classification, multi_label_classification, got 'regression'"
    ):
        label_names("regression")


def test_flags_to_classes_table() -> None:
    for (crackle, wheeze), index in TABLE.items():
        assert flags_to_classes([crackle, wheeze]) == index
        assert isinstance(flags_to_classes((crackle, wheeze)), int)
        assert CLASS_NAMES[index] == cycle_label(crackle, wheeze)
        np.testing.assert_array_equal(classes_to_flags([index]), [[crackle, wheeze]])
    flags = np.array(list(TABLE))
    np.testing.assert_array_equal(flags_to_classes(flags), [0, 1, 2, 3])
    np.testing.assert_array_equal(flags_to_classes(flags.astype(bool)), [0, 1, 2, 3])
    np.testing.assert_array_equal(flags_to_classes(flags.astype(np.float32)), [0, 1, 2, 3])
    assert cycle_label(True, 5) == "both"  # any truthy flag counts


def test_numpy_round_trips() -> None:
    classes = np.array([3, 0, 2, 1, 1, 0])
    flags = classes_to_flags(classes)
    assert flags.dtype == np.int64 and flags.shape == (6, 2)
    np.testing.assert_array_equal(flags[:, 0], [1, 0, 0, 1, 1, 0])  # crackle column first
    np.testing.assert_array_equal(flags_to_classes(flags), classes)
    np.testing.assert_array_equal(classes_to_flags(flags_to_classes(flags)), flags)
    assert classes_to_flags([]).shape == (0, 2)
    np.testing.assert_array_equal(flags_to_classes(np.ones((2, 3, 2), dtype=int)), np.full((2, 3), 3))


def test_torch_classes_become_flag_tensors() -> None:
    classes = torch.tensor([3, 0, 2, 1])
    flags = classes_to_flags(classes)
    assert isinstance(flags, torch.Tensor) and flags.dtype == torch.int64
    assert flags.tolist() == [[1, 1], [0, 0], [0, 1], [1, 0]]
    assert torch.equal(classes_to_flags(classes.float()), flags)  # integral floats are indices


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([0, 4], "got 4"),
        ([1.5], "got 1.5"),
        ([[0, 1]], "1-D"),
        (np.array([True, False]), "got True"),
    ],
)
def test_classes_to_flags_rejects_non_classes(bad, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classes_to_flags(bad)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([2, 0], "got 2"),
        ([1, 0, 1], r"shape \[\.\.\., 2\]"),
        (np.array(["a", "b"]), "dtype"),
    ],
)
def test_flags_to_classes_rejects_non_flags(bad, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        flags_to_classes(bad)


_FLAG_PAIR = re.compile(r"""[(\[]\s*["']crackle["']\s*,\s*["']wheeze["']\s*,?\s*[)\]]""")


def test_the_flag_pair_is_written_only_in_labels() -> None:
    """``MULTI_LABEL_NAMES`` is the one home of the ``("crackle", "wheeze")`` pair: no other module of
    respira writes it out (a copy names the flags in an order of its own)."""
    package = Path(respira.__file__).parent  # the shipped folders hold no code (written at export)
    copies = [
        f"{path.relative_to(package)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in sorted(package.rglob("*.py"))
        if path != Path(respira.models.respira.labels.__file__)
        for text in [path.read_text(encoding="utf-8")]
        for match in _FLAG_PAIR.finditer(text)
    ]
    assert not copies, (
        f"import respira.models.respira.labels.MULTI_LABEL_NAMES instead of writing the pair: {copies}"
    )

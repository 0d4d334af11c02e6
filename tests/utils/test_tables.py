"""Tests for respira.utils.tables: the one console table formatter."""

from __future__ import annotations

from respira.utils.tables import format_number, format_table


def test_columns_are_as_wide_as_their_widest_cell() -> None:
    text = format_table([["train", 12, 3], ["validation", 4, 10]], ["split", "cycles", "crackle"])
    assert text.splitlines() == [
        "     split  cycles  crackle",
        "----------  ------  -------",
        "     train      12        3",
        "validation       4       10",
    ]


def test_alignment_indent_and_no_trailing_spaces() -> None:
    text = format_table([("ICBHI score", "0.5000"), ("macro F1", "n/a")], align="<<", indent="  ")
    assert text == "  ICBHI score  0.5000\n  macro F1     n/a"
    ragged = format_table([["mean", ""], ["0", "0.5"]], ["seed", "score"], align="<<")
    assert all(line == line.rstrip() for line in ragged.splitlines())
    assert format_table([]) == ""


def test_numbers_and_missing_values() -> None:
    assert format_number(0.12345) == "0.123"
    assert format_number(1, 2) == "1.00"
    assert format_number(float("nan")) == format_number(None) == format_number(True) == "-"
    assert format_number(None, 4, missing="n/a") == "n/a"


def test_a_zero_width_interval_is_too_few_samples_only_on_five_or_fewer() -> None:
    """The rule of three: all of n samples alike bound the other outcome's rate near 3/n, above 50 % only
    for n <= 5; more samples alike are no small sample, and without a count none is claimed."""
    from respira.utils.tables import format_score

    assert format_score(0.0, [0.0, 0.0], count=5) == (
        "0.0 [0.0, 0.0] (interval of zero width: too few samples to mean anything: 5)"
    )
    assert format_score(0.0, [0.0, 0.0], count=6) == (
        "0.0 [0.0, 0.0] (interval of zero width: every resample of the 6 gave the same score)"
    )
    assert (
        format_score(1.0, [1.0, 1.0])
        == "100.0 [100.0, 100.0] (interval of zero width: every resample gave the same score)"
    )
    assert format_score(0.5, [0.4, 0.6], count=2) == "50.0 [40.0, 60.0]"

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

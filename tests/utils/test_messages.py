"""respira.utils.messages.one_line: the one form of an error a person reads."""

from __future__ import annotations

from respira.utils.messages import one_line


def test_an_error_is_one_line_without_colour_codes() -> None:
    error = ValueError("bad value\n  in \x1b[1;31mrecipe.yaml\x1b[0m,\tline 3  ")
    assert one_line(error) == "bad value in recipe.yaml, line 3"
    assert one_line("  two\nlines ") == "two lines"


def test_an_error_without_a_message_is_its_type_name() -> None:
    assert one_line(KeyError()) == "KeyError"
    assert one_line(OSError(" \n ")) == "OSError"
    assert one_line("") == ""

"""respira.models.respira.audio_decoding's number checks: a real number is never a bool; a whole number in a
range, or one line naming the value."""

from __future__ import annotations

import numpy as np
import pytest

from respira.models.respira.audio_decoding import check_whole, is_number, is_real


def test_a_real_number_is_never_a_bool_and_numpy_s_count() -> None:
    assert is_real(1) and is_real(0.5) and is_real(np.float32(0.5)) and is_real(float("nan"))
    assert not is_real(True) and not is_real("1") and not is_real(None)
    assert is_real(3, whole=True) and is_real(np.int64(3), whole=True)
    assert not is_real(3.0, whole=True) and not is_real(False, whole=True)
    assert is_number(np.float32(0.5)) and not is_number(float("nan")) and not is_number(True)


def test_a_whole_number_in_range_comes_back_as_an_int() -> None:
    assert check_whole(3, "n") == 3 and type(check_whole(4.0, "n")) is int
    assert check_whole(np.int64(0), "n", 0, 0) == 0 and check_whole(5, "n", 2, 5) == 5


@pytest.mark.parametrize(
    ("value", "low", "high", "message"),
    [
        (0, 1, None, "n must be a whole number >= 1, got 0"),
        (True, 1, None, "n must be a whole number >= 1, got True"),
        (2.5, 1, None, "n must be a whole number >= 1, got 2.5"),
        (float("nan"), 1, None, "n must be a whole number >= 1, got nan"),
        (float("inf"), 1, None, "n must be a whole number >= 1, got inf"),
        ("3", 1, None, "n must be a whole number >= 1, got '3'"),
        (None, 1, None, "n must be a whole number >= 1, got None"),
        (6, 2, 5, "n must be a whole number in [2, 5], got 6"),
    ],
)
def test_anything_else_is_refused_in_one_line_naming_the_value(value, low, high, message) -> None:
    with pytest.raises(ValueError) as error:
        check_whole(value, "n", low, high)
    assert str(error.value) == message


def test_exact_takes_an_integer_type_only() -> None:
    """A JSON body's 0.0 is no row index (the label page), where a recipe's 4.0 is a count."""
    assert check_whole(np.int64(3), "index", 0, exact=True) == 3
    with pytest.raises(ValueError, match=r"^index must be a whole number >= 0, got 0.0$"):
        check_whole(0.0, "index", 0, exact=True)

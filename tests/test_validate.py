"""The checks of user numbers: every refusal names the parameter and what it must be."""

import math

import pytest

from untwine.validate import check_count, check_positive


@pytest.mark.parametrize("value", [0, -1, 2.5, True, "3", math.nan, math.inf, -math.inf, None])
def test_check_count_refuses_what_is_not_a_whole_number_at_least_one(value):
    with pytest.raises(ValueError, match=r"^steps must be a whole number"):
        check_count("steps", value)


def test_check_count_takes_whole_numbers():
    assert check_count("steps", 3) == 3 and check_count("steps", 3.0) == 3 and isinstance(check_count("n", 4.0), int)
    assert check_count("n", 0, zero_ok=True) == 0
    with pytest.raises(ValueError, match="≥ 1, got 0"):
        check_count("n", 0)


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, True, "1"])
def test_check_positive_refuses_negative_and_non_finite_numbers(value):
    with pytest.raises(ValueError, match="^beta must be a (finite|number)"):
        check_positive("beta", value)


def test_check_positive_takes_positive_numbers_and_zero_when_asked():
    assert check_positive("beta", 2) == 2.0
    assert check_positive("beta", 0, zero_ok=True) == 0.0
    with pytest.raises(ValueError):
        check_positive("beta", 0)

"""The shared core: one pixel policy and one exception type per kind of mistake, for every method module."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import _core


def test_the_pixel_range_is_enforced_at_both_ends_and_its_edges_pass():
    edges = np.zeros((1, 4, 4, 3), np.float32)
    edges[0, 0, 0] = 255.0
    np.testing.assert_array_equal(_core.as_image_batch(edges), edges)
    with pytest.raises(ValueError, match=r"background must be raw RGB pixels in \[0, 255\], got values in \[-1, 1\]"):
        _core.as_image_batch(np.linspace(-1, 1, 48).reshape(4, 4, 3), what="background")
    with pytest.raises(ValueError, match=r"got values in \[256, 256\]"):
        _core.as_image_batch(np.full((4, 4, 3), 256.0))
    with pytest.raises(ValueError, match="NaN or infinite"):
        _core.as_image_batch(np.full((4, 4, 3), np.nan))
    with pytest.raises(TypeError, match="real numbers"):
        _core.as_image_batch(np.full((4, 4, 3), "a"))


@pytest.mark.parametrize("value", [2.0, "3", True, None, 1.5])
def test_a_non_integer_is_a_type_error(value):
    with pytest.raises(TypeError, match="steps must be an integer >= 1"):
        _core.positive_int("steps", value)


def test_an_integer_below_the_minimum_is_a_value_error_and_numpy_integers_pass():
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got 0"):
        _core.positive_int("steps", 0)
    assert _core.positive_int("seed", np.int64(0), 0) == 0 and type(_core.positive_int("n", np.uint8(3))) is int


def test_real_numbers_are_checked_for_type_finiteness_and_range():
    assert _core.real_number("rate", np.float32(0.5), 0.0, strict=True) == 0.5
    with pytest.raises(TypeError, match="rate must be a real number"):
        _core.real_number("rate", "0.5")
    with pytest.raises(ValueError, match="finite"):
        _core.real_number("rate", float("inf"))
    with pytest.raises(ValueError, match="rate must be > 0"):
        _core.real_number("rate", 0.0, 0.0, strict=True)
    with pytest.raises(ValueError, match="rate must be <= 1"):
        _core.real_number("rate", 1.5, 0.0, 1.0)


def test_indices_come_back_as_a_list_and_say_whether_one_was_given():
    assert _core.int_or_ints("filters", np.int32(3)) == ([3], True)
    assert _core.int_or_ints("filters", np.array([[1, 2]])) == ([1, 2], False)
    assert _core.int_or_ints("filters", range(2)) == ([0, 1], False)
    with pytest.raises(ValueError, match="filters is empty"):
        _core.int_or_ints("filters", [])
    with pytest.raises(TypeError, match="must hold integers"):
        _core.int_or_ints("filters", [1, 2.5])

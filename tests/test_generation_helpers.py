"""The argument helpers every generating model shares (keras_dalle/models/generation.py)."""

import numpy as np
import pytest

from keras_dalle.models.generation import check_positive_int, picture_seeds, prompt_list, row_seeds


def test_prompt_list_takes_a_string_or_any_iterable_of_strings():
    assert prompt_list("a red circle") == ["a red circle"]
    assert prompt_list(("a", "b")) == ["a", "b"]
    assert prompt_list(p for p in ["a", "b"]) == ["a", "b"]


@pytest.mark.parametrize("prompts", [[], (), ["a", 3], [b"bytes"], [None]])
def test_prompt_list_rejects_empty_and_non_string_prompts(prompts):
    with pytest.raises(ValueError, match="prompts must be a non-empty list of strings"):
        prompt_list(prompts)


@pytest.mark.parametrize("value", [0, -2, 1.0, True, "3", None])
def test_check_positive_int_names_the_argument(value):
    with pytest.raises(ValueError, match="num_images must be a positive int"):
        check_positive_int(value, "num_images")
    assert check_positive_int(3, "num_images") == 3


def test_seeds_count_up_from_the_base_or_follow_one_per_row():
    np.testing.assert_array_equal(picture_seeds(7, 3), [7, 8, 9])
    assert len(set(picture_seeds(None, 4))) == 4
    np.testing.assert_array_equal(row_seeds(5, 2), [5, 6])
    np.testing.assert_array_equal(row_seeds([4, 4, 9], 3), [4, 4, 9])
    with pytest.raises(ValueError, match="one per picture"):
        row_seeds([1, 2], 3)
    with pytest.raises(ValueError, match="one per picture"):
        row_seeds([1.5, 2.5], 2)

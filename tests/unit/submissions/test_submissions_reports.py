"""The report's median, taken from a histogram of durations."""

from __future__ import annotations

import statistics
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from simpul.submissions.feedback.reports import median


def test_median_of_a_histogram():
    assert median(Counter()) is None
    assert median(Counter({3: 1})) == 3
    assert median(Counter({3: 2, 10: 1})) == 3  # 3 3 10
    assert median(Counter({1: 1, 4: 1})) == 2.5  # 1 4
    assert median(Counter({2: 3, 9: 3})) == 5.5  # 2 2 2 9 9 9


@given(st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=60))
def test_same_as_the_median_of_the_values(values):
    assert median(Counter(values)) == statistics.median(values)

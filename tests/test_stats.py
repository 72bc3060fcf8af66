import pytest

from mtdagger.stats import wilson_interval


def test_wilson_known_value():
    # 8/10: the textbook Wilson interval is (0.490, 0.943).
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3)
    assert hi == pytest.approx(0.9433, abs=1e-3)


def test_wilson_extremes_stay_in_unit_interval():
    assert wilson_interval(0, 5)[0] == 0.0
    assert wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


def test_wilson_contains_the_rate_exactly_for_every_count_up_to_200():
    # Issue 11 defect 1: 0/3, 10/10, ... gave intervals that missed the rate by 1e-16, and the
    # report's error bars (rate - low, high - rate) went negative.
    for trials in range(1, 201):
        for successes in range(trials + 1):
            low, high = wilson_interval(successes, trials)
            rate = successes / trials
            assert 0.0 <= low <= rate <= high <= 1.0, (successes, trials, low, high)
            assert rate - low >= 0.0 and high - rate >= 0.0
    assert wilson_interval(0, 3)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0

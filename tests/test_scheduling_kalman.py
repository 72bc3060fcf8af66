"""The per-task Kalman filter on success probability (kalman.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtdagger.scheduling.kalman import SuccessKalmanFilter


def _one_step(successes: int, rollouts: int, prior_mean: float = 0.5) -> SuccessKalmanFilter:
    kf = SuccessKalmanFilter(
        1, prior_mean=prior_mean, prior_var=0.25, process_noise=0.01, measurement_eps=1e-3
    )
    kf.step(np.array([successes]), np.array([rollouts]))
    return kf


def test_known_answer_for_one_update():
    kf = _one_step(4, 4)
    # P- = 0.26, p~ = 5/6, R = (5/36)/4 + 1e-3, K = P-/(P- + R); hand-computed.
    assert kf.mean[0] == pytest.approx(0.9396017283486755, abs=1e-12)
    assert kf.variance[0] == pytest.approx(0.03140710125868871, abs=1e-12)


@pytest.mark.parametrize(("few", "many"), [((1, 1), (50, 50)), ((0, 1), (0, 50)), ((1, 2), (25, 50))])
def test_fewer_rollouts_move_the_estimate_less(few, many):
    prior = 0.3  # differs from every rate above, so each measurement has something to move
    few_kf, many_kf = _one_step(*few, prior_mean=prior), _one_step(*many, prior_mean=prior)
    assert 0 < abs(few_kf.mean[0] - prior) < abs(many_kf.mean[0] - prior)
    assert few_kf.variance[0] > many_kf.variance[0]


def test_task_without_rollouts_keeps_its_estimate_and_grows_its_variance():
    kf = SuccessKalmanFilter(2, process_noise=0.02)
    kf.step(np.array([3, 9]), np.array([10, 10]))
    mean, variance = kf.mean.copy(), kf.variance.copy()
    kf.step(np.array([0, 10]), np.array([0, 10]))
    assert kf.mean[0] == mean[0]
    assert kf.variance[0] == pytest.approx(variance[0] + 0.02)
    assert kf.mean[1] != mean[1]  # the measured task did move


def test_repeated_measurements_converge_to_the_true_rate():
    kf = SuccessKalmanFilter(1, prior_mean=0.0)
    for _ in range(40):
        kf.step(np.array([16]), np.array([20]))
    assert kf.mean[0] == pytest.approx(0.8, abs=1e-3)


@settings(max_examples=100, deadline=None)
@given(
    rounds=st.lists(
        st.lists(st.tuples(st.integers(0, 30), st.floats(0, 1)), min_size=3, max_size=3),
        min_size=1,
        max_size=15,
    ),
    eps=st.sampled_from([0.0, 1e-3, 0.1]),
)
def test_estimates_stay_in_unit_interval_and_variance_stays_non_negative(rounds, eps):
    kf = SuccessKalmanFilter(3, measurement_eps=eps)
    for round_ in rounds:
        n = np.array([r for r, _ in round_])
        s = np.floor(n * np.array([f for _, f in round_])).astype(int)
        kf.step(s, n)
        assert np.all((kf.mean >= 0) & (kf.mean <= 1))
        assert np.all(kf.variance >= 0) and np.all(np.isfinite(kf.variance))


def test_bad_measurements_and_state_are_rejected():
    kf = SuccessKalmanFilter(2)
    with pytest.raises(ValueError, match="successes"):
        kf.step(np.array([3, 0]), np.array([2, 0]))
    with pytest.raises(ValueError, match="expected 2 tasks"):
        kf.step(np.array([1]), np.array([1]))
    with pytest.raises(ValueError, match="prior_mean"):
        SuccessKalmanFilter(1, prior_mean=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        kf.load_state_dict({"mean": [0.5, 1.2], "variance": [0.1, 0.1]})
    with pytest.raises(ValueError, match="expected 2"):
        kf.load_state_dict({"mean": [0.5], "variance": [0.1]})

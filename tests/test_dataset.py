"""Splits, normalisation statistics and the transition dataset."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mtdagger.data.dataset import TransitionDataset, holdout_draw, split_by_task
from mtdagger.data.episode import Episode
from mtdagger.data.normalization import ABS_STD_FLOOR, REL_STD_FLOOR, NormalizationStats


@dataclass(frozen=True)
class FakeRecord:
    task: str
    content_hash: str
    round: int = 0
    seed: int = 0


def _records(counts: dict[str, int]) -> list[FakeRecord]:
    return [FakeRecord(t, f"{t}-{i}", round=i // 4, seed=i) for t, n in counts.items() for i in range(n)]


def make_episode(task_index: int, steps: int, seed: int, num_points: int | None = 8, P: int = 5) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        task_name=f"task-{task_index}",
        task_index=task_index,
        seed=seed,
        beta=1.0,
        states=rng.normal(1.0, 2.0, size=(steps, 4)).astype(np.float32),
        privileged=rng.normal(-3.0, 0.5, size=(steps, P)).astype(np.float32),
        actions=rng.normal(size=(steps, 4)).astype(np.float32),
        expert_actions=(rng.normal(size=(steps, 4)) * [0.01, 0.01, 0.01, 1.0]).astype(np.float32),
        actor_is_expert=np.ones(steps, dtype=bool),
        success_per_step=np.zeros(steps, dtype=bool),
        point_clouds=None
        if num_points is None
        else rng.normal(size=(steps, num_points, 3)).astype(np.float32),
    )


# --------------------------------------------------------------------------- split_by_task

task_counts = st.dictionaries(st.sampled_from(list("abcdef")), st.integers(1, 12), min_size=1)


@settings(max_examples=60, deadline=None)
@given(counts=task_counts, fraction=st.floats(0.01, 0.99), seed=st.integers(0, 5))
def test_split_properties(counts, fraction, seed):
    records = _records(counts)
    train, heldout = split_by_task(records, holdout_fraction=fraction, seed=seed)
    assert sorted(map(id, train + heldout)) == sorted(map(id, records))  # a partition
    assert not set(map(id, train)) & set(map(id, heldout))
    for task, n in counts.items():
        n_train = sum(r.task == task for r in train)
        n_held = sum(r.task == task for r in heldout)
        assert n_train >= 1
        later = [r for r in records if r.task == task and r.seed >= 2]  # seeds are positions here
        drawn = sum(holdout_draw(task, r.round, r.seed, seed) < fraction for r in later)
        assert n_held == (1 if n >= 2 else 0) + drawn


@settings(max_examples=40, deadline=None)
@given(counts=task_counts, more=st.integers(1, 30), fraction=st.floats(0.05, 0.95), seed=st.integers(0, 5))
def test_split_membership_is_fixed_as_data_grows(counts, more, fraction, seed):
    """An episode never moves between train and held-out when later episodes are added."""
    before = _records(counts)
    grown = before + [
        FakeRecord(t, f"{t}-{i}", round=i // 4, seed=i) for t, n in counts.items() for i in range(n, n + more)
    ]
    train_before, held_before = split_by_task(before, fraction, seed=seed)
    train_after, held_after = split_by_task(grown, fraction, seed=seed)
    assert {r.content_hash for r in held_before} <= {r.content_hash for r in held_after}
    assert {r.content_hash for r in train_before} <= {r.content_hash for r in train_after}


def test_held_out_share_tends_to_the_fraction():
    _, heldout = split_by_task(_records({"a": 2000}), 0.2, seed=3)
    assert 0.17 < len(heldout) / 2000 < 0.23


def test_split_is_deterministic_and_order_independent():
    records = _records({"x": 10, "y": 10})
    _, held1 = split_by_task(records, 0.3, seed=1)
    _, held2 = split_by_task(list(reversed(records)), 0.3, seed=1)
    assert {r.content_hash for r in held1} == {r.content_hash for r in held2}
    # Outputs keep input order.
    assert held1 == [r for r in records if r in held1]
    _, held_other_seed = split_by_task(records, 0.3, seed=2)
    assert {r.content_hash for r in held_other_seed} != {r.content_hash for r in held1}


def test_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="holdout_fraction"):
        split_by_task([], holdout_fraction=0.0)
    with pytest.raises(ValueError, match="holdout_fraction"):
        split_by_task([], holdout_fraction=1.0)


# --------------------------------------------------------------------------- normalisation


def test_stats_match_numpy_and_roundtrip_through_json():
    episodes = [make_episode(0, 20, 1), make_episode(1, 30, 2)]
    stats = NormalizationStats.from_episodes(episodes)
    states = np.concatenate([e.states for e in episodes])
    np.testing.assert_allclose(stats.mean["state"], states.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.std["state"], states.std(0), rtol=1e-5)
    labels = np.concatenate([e.expert_actions for e in episodes])
    np.testing.assert_allclose(stats.mean["action"], labels.mean(0), rtol=1e-4, atol=1e-7)
    assert stats.num_samples == 50

    restored = NormalizationStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    for key in ("state", "privileged", "action"):
        np.testing.assert_array_equal(restored.mean[key], stats.mean[key])
        np.testing.assert_array_equal(restored.std[key], stats.std[key])


def test_normalize_denormalize_round_trip_numpy_and_torch():
    stats = NormalizationStats.from_episodes([make_episode(0, 40, 3)])
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    z = stats.normalize("state", x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(stats.denormalize("state", z), x, rtol=1e-5, atol=1e-5)
    zt = stats.normalize("action", torch.from_numpy(x))
    assert isinstance(zt, torch.Tensor)
    np.testing.assert_allclose(stats.denormalize("action", zt).numpy(), x, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="privileged"):
        stats.normalize("privileged", x)  # 4 features, stats have 5


def test_constant_features_get_a_floored_std():
    values = np.zeros((10, 3))
    values[:, 0] = np.linspace(0, 2, 10)  # std ≈ 0.64
    values[:, 1] = 7.0  # constant: std 0
    stats = NormalizationStats.from_arrays({"state": values})
    assert stats.std["state"][1] == pytest.approx(REL_STD_FLOOR * values[:, 0].std(), rel=1e-5)
    assert np.isfinite(stats.normalize("state", values)).all()
    all_constant = NormalizationStats.from_arrays({"action": np.ones((5, 2))})
    assert all_constant.std["action"] == pytest.approx([ABS_STD_FLOOR] * 2)


def test_stats_reject_bad_input():
    with pytest.raises(ValueError, match="zero episodes"):
        NormalizationStats.from_episodes([])
    bad = np.ones((4, 2))
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match=r"normalization\.state.*non-finite"):
        NormalizationStats.from_arrays({"state": bad})
    with pytest.raises(ValueError, match=r"normalization\.action\.std"):
        NormalizationStats(mean={"action": [0.0]}, std={"action": [0.0]})
    with pytest.raises(ValueError, match="features"):
        NormalizationStats.from_dict({"mean": {}})


# --------------------------------------------------------------------------- TransitionDataset


def test_dataset_items_have_contract_shapes_and_normalised_values():
    episodes = [make_episode(0, 5, 10), make_episode(2, 7, 11)]
    stats = NormalizationStats.from_episodes(episodes)
    dataset = TransitionDataset(episodes, use_point_clouds=True, stats=stats)
    assert len(dataset) == 12
    item = dataset[6]  # second episode, step 1
    assert item["state"].shape == (4,) and item["privileged"].shape == (5,)
    assert item["point_cloud"].shape == (8, 3) and item["action"].shape == (4,)
    assert item["task_index"].shape == () and item["task_index"].dtype == torch.long
    assert int(item["task_index"]) == 2
    # The action is the EXPERT label, normalised; the cloud is metric (not normalised).
    np.testing.assert_allclose(
        stats.denormalize("action", item["action"].numpy()),
        episodes[1].expert_actions[1],
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_array_equal(item["point_cloud"].numpy(), episodes[1].point_clouds[1])
    np.testing.assert_allclose(
        stats.denormalize("state", item["state"].numpy()), episodes[1].states[1], rtol=1e-5, atol=1e-5
    )
    # Normalised over the whole dataset: zero mean, unit std per feature.
    all_actions = dataset.tensors["action"].numpy()
    np.testing.assert_allclose(all_actions.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(all_actions.std(0), 1.0, atol=1e-4)


def test_batch_gathers_the_same_values_as_items():
    episodes = [make_episode(0, 6, 1), make_episode(1, 4, 2)]
    dataset = TransitionDataset(
        episodes, use_point_clouds=False, stats=NormalizationStats.from_episodes(episodes)
    )
    assert "point_cloud" not in dataset[0]
    indices = torch.tensor([9, 0, 5])
    batch = dataset.batch(indices)
    assert batch["privileged"].shape == (3, 5)
    for row, index in enumerate(indices.tolist()):
        for key, value in dataset[index].items():
            assert torch.equal(batch[key][row], value)


def test_empty_episode_list_gives_an_empty_dataset():
    stats = NormalizationStats.from_episodes([make_episode(0, 5, 1)])
    dataset = TransitionDataset([], use_point_clouds=True, stats=stats)
    assert len(dataset) == 0
    batch = dataset.batch(torch.arange(0))
    assert batch["privileged"].shape == (0, 5) and batch["task_index"].dtype == torch.long
    assert batch["point_cloud"].shape == (0, 0, 3)


def test_dataset_rejects_inconsistent_or_missing_data():
    stats = NormalizationStats.from_episodes([make_episode(0, 5, 1)])
    with pytest.raises(ValueError, match="no point_clouds"):
        TransitionDataset([make_episode(0, 5, 1, num_points=None)], use_point_clouds=True, stats=stats)
    with pytest.raises(ValueError, match="privileged"):
        TransitionDataset(
            [make_episode(0, 5, 1), make_episode(0, 5, 2, P=6)], use_point_clouds=False, stats=stats
        )
    with pytest.raises(ValueError, match="point_clouds"):
        TransitionDataset(
            [make_episode(0, 5, 1), make_episode(0, 5, 2, num_points=9)], use_point_clouds=True, stats=stats
        )
    nan_episode = make_episode(0, 5, 3)
    nan_episode.expert_actions[2, 0] = np.nan
    with pytest.raises(ValueError, match=r"expert_actions.*non-finite"):
        TransitionDataset([nan_episode], use_point_clouds=False, stats=stats)

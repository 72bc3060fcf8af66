"""BC point-cloud augmentation (training/bc.py `augment_points`): what each setting moves.

The scene shift must move the cloud, the gripper position and the (normalised) state by the
same metres, or the student learns from scenes whose gripper is not where its state says; the
per-cloud shift must move the cloud alone (it stands for a calibration error)."""

from __future__ import annotations

import pytest
import torch

from mtdagger.data.dataset import ACTION, EE_POSITION, POINT_CLOUD, STATE, TASK_INDEX
from mtdagger.training.bc import augment_points
from mtdagger.training.config import BCConfig

STATE_STD = torch.tensor([0.2, 0.1, 0.05, 0.5])


def _batch(batch: int = 6, points: int = 32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {
        POINT_CLOUD: torch.rand((batch, points, 3), generator=g),
        EE_POSITION: torch.rand((batch, 3), generator=g),
        STATE: torch.randn((batch, 4), generator=g),
        ACTION: torch.randn((batch, 4), generator=g),
        TASK_INDEX: torch.arange(batch),
    }


def _augment(config: BCConfig, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return augment_points(batch, config, torch.Generator().manual_seed(7), STATE_STD)


def test_zero_settings_leave_the_batch_as_it_is() -> None:
    batch = _batch()
    assert _augment(BCConfig(), batch) is batch


def test_scene_shift_moves_cloud_gripper_and_state_together() -> None:
    batch = _batch()
    out = _augment(BCConfig(scene_shift_m=0.05), batch)
    cloud_shift = out[POINT_CLOUD] - batch[POINT_CLOUD]
    per_sample = cloud_shift[:, 0, :]
    # one translation per sample, the same for every point of its cloud, and not the same for all
    torch.testing.assert_close(cloud_shift, per_sample[:, None, :].expand_as(cloud_shift))
    assert per_sample.std(dim=0).min() > 1e-3
    torch.testing.assert_close(out[EE_POSITION] - batch[EE_POSITION], per_sample)
    state_shift_m = (out[STATE] - batch[STATE])[:, :3] * STATE_STD[:3]
    torch.testing.assert_close(state_shift_m, per_sample, rtol=1e-4, atol=1e-6)
    # the gripper opening, the labels and the task are untouched, and so is the input batch
    torch.testing.assert_close(out[STATE][:, 3], batch[STATE][:, 3])
    assert out[ACTION] is batch[ACTION] and out[TASK_INDEX] is batch[TASK_INDEX]
    torch.testing.assert_close(batch[STATE], _batch()[STATE])


def test_cloud_shift_and_jitter_move_the_cloud_alone() -> None:
    batch = _batch()
    out = _augment(BCConfig(point_shift_m=0.01, point_jitter_m=0.002), batch)
    assert not torch.equal(out[POINT_CLOUD], batch[POINT_CLOUD])
    assert out[EE_POSITION] is batch[EE_POSITION] and out[STATE] is batch[STATE]


def test_scene_shift_refuses_to_guess_the_state_scale() -> None:
    with pytest.raises(ValueError, match="state_std"):
        augment_points(_batch(), BCConfig(scene_shift_m=0.03), torch.Generator().manual_seed(0))


def test_scene_shift_is_bounded_in_the_config() -> None:
    from mtdagger.training.config import config_from_dict

    with pytest.raises(ValueError, match="scene_shift_m"):
        config_from_dict({"bc": {"scene_shift_m": 1.0}})

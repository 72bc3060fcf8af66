"""Student networks: shapes, permutation invariance, task conditioning, registry."""

from __future__ import annotations

import pytest
import torch

from mtdagger.policy.networks import (
    PointNetStudent,
    PointNetStudentConfig,
    StateStudent,
    StateStudentConfig,
    build_student,
)

TINY_POINTNET = {
    "num_tasks": 3,
    "num_points": 32,
    "point_channels": [8, 16],
    "head_hidden": [16],
    "task_embed_dim": 4,
}
TINY_STATE = {"num_tasks": 3, "privileged_dim": 6, "hidden": [16], "task_embed_dim": 4}


def pointnet_inputs(batch: int = 5, points: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, points, 3, generator=g),
        torch.randn(batch, 4, generator=g),
        torch.randint(0, 3, (batch,), generator=g),
    )


def test_pointnet_output_shape_and_config_sizes():
    model = build_student("pointnet", TINY_POINTNET)
    assert isinstance(model, PointNetStudent)
    assert model.config.point_channels == (8, 16)  # JSON lists become tuples
    out = model(*pointnet_inputs())
    assert out.shape == (5, 4) and out.dtype == torch.float32
    assert model.encoder.out_dim == 16


def test_pointnet_is_invariant_to_point_order():
    torch.manual_seed(0)
    model = build_student("pointnet", TINY_POINTNET).eval()
    cloud, state, task = pointnet_inputs()
    shuffled = cloud[:, torch.randperm(cloud.shape[1])]
    assert not torch.equal(shuffled, cloud)
    torch.testing.assert_close(model(shuffled, state, task), model(cloud, state, task), rtol=1e-5, atol=1e-6)


def test_task_embedding_changes_the_output():
    torch.manual_seed(0)
    for model, inputs in (
        (build_student("pointnet", TINY_POINTNET), pointnet_inputs(batch=1)[:2]),
        (build_student("state", TINY_STATE), (torch.randn(1, 6),)),
    ):
        outputs = [model(*inputs, torch.tensor([t])) for t in range(3)]
        assert not torch.allclose(outputs[0], outputs[1])
        assert not torch.allclose(outputs[1], outputs[2])


def test_state_student_shape():
    model = build_student("state", TINY_STATE)
    assert isinstance(model, StateStudent)
    assert model(torch.randn(7, 6), torch.zeros(7, dtype=torch.long)).shape == (7, 4)


def test_forward_rejects_wrong_shapes_and_task_indices():
    model = build_student("pointnet", TINY_POINTNET)
    cloud, state, task = pointnet_inputs()
    with pytest.raises(ValueError, match="num_points"):
        model(cloud[:, :16], state, task)
    with pytest.raises(ValueError, match="state"):
        model(cloud, state[:, :3], task)
    with pytest.raises(ValueError, match="out of range"):
        model(cloud, state, torch.full((5,), 3))
    with pytest.raises(ValueError, match="integer"):
        model(cloud, state, task.float())
    state_model = build_student("state", TINY_STATE)
    with pytest.raises(ValueError, match="privileged"):
        state_model(torch.randn(2, 5), torch.zeros(2, dtype=torch.long))


def test_registry_and_config_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown student architecture 'transformer'.*pointnet.*state"):
        build_student("transformer", {})
    with pytest.raises(ValueError, match="num_layers"):
        build_student("state", {**TINY_STATE, "num_layers": 3})
    with pytest.raises(ValueError, match="privileged_dim"):
        build_student("state", {"num_tasks": 2})
    with pytest.raises(ValueError, match="num_tasks"):
        PointNetStudentConfig(num_tasks=0, num_points=8)
    with pytest.raises(ValueError, match="hidden"):
        StateStudentConfig(num_tasks=1, privileged_dim=3, hidden=())


def test_config_round_trips_through_dict():
    config = PointNetStudentConfig(**TINY_POINTNET)
    assert PointNetStudentConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["point_channels"] == [8, 16]

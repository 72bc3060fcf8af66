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


def test_gripper_frame_inputs_are_declared_and_required():
    config = {"num_tasks": 2, "num_points": 32, "ee_relative": True, "local_points": 8}
    model = build_student("pointnet", config)
    assert model.config.input_keys() == ("point_cloud", "state", "task_index", "ee_position")
    assert build_student("pointnet", {"num_tasks": 2, "num_points": 32}).config.input_keys() == (
        "point_cloud",
        "state",
        "task_index",
    )
    cloud, state, task = torch.rand(3, 32, 3), torch.rand(3, 4), torch.tensor([0, 1, 0])
    with pytest.raises(ValueError, match="ee_position must be"):
        model(cloud, state, task)
    out = model(cloud, state, task, torch.rand(3, 3))
    assert out.shape == (3, 4)
    with pytest.raises(ValueError, match="local_points must lie in"):
        build_student("pointnet", {**config, "local_points": 33})
    with pytest.raises(ValueError, match="ee_scale_m"):
        build_student("pointnet", {**config, "ee_scale_m": 0})


def test_local_encoder_sees_only_the_points_nearest_the_gripper():
    """Moving a point far from the gripper leaves the local feature unchanged; moving one of the
    K nearest changes it."""
    from mtdagger.policy.encoders import GripperLocalEncoder

    torch.manual_seed(0)
    encoder = GripperLocalEncoder(4, (16, 16), 0.1).eval()
    ee = torch.zeros(1, 3)
    cloud = torch.cat([torch.rand(1, 4, 3) * 0.01, 1.0 + torch.rand(1, 28, 3)], dim=1)
    base = encoder(cloud, ee)
    far = cloud.clone()
    far[0, 10] += 0.5
    near = cloud.clone()
    near[0, 0] += 0.004
    assert torch.allclose(encoder(far, ee), base)
    assert not torch.allclose(encoder(near, ee), base)


def test_cloud_anchor_moves_with_a_rigidly_shifted_cloud():
    """A calibration error shifts the whole cloud; the anchor (centroid of the points nearest the
    state's gripper) shifts with it, so points measured from it do not move."""
    from mtdagger.policy.encoders import cloud_anchor

    torch.manual_seed(0)
    ee = torch.zeros(1, 3)
    gripper = torch.rand(1, 8, 3) * 0.02 - 0.01  # the gripper's points, around ee
    cloud = torch.cat([gripper, 0.5 + torch.rand(1, 24, 3)], dim=1)
    shift = torch.tensor([0.01, -0.02, 0.005])
    anchor, moved = cloud_anchor(cloud, ee, 8), cloud_anchor(cloud + shift, ee, 8)
    assert torch.allclose(anchor, gripper.mean(dim=1))
    assert torch.allclose(moved - anchor, shift[None], atol=1e-6)
    assert torch.allclose((cloud + shift) - moved[:, None], cloud - anchor[:, None], atol=1e-6)


def test_the_cloud_anchored_student_measures_points_from_the_anchor():
    """Same weights: anchoring on the cloud = a state-anchored student given the anchor as ee."""
    from mtdagger.policy.encoders import cloud_anchor

    config = {"num_tasks": 2, "num_points": 32, "ee_relative": True, "local_points": 8}
    torch.manual_seed(0)
    anchored = build_student("pointnet", {**config, "cloud_anchor_points": 6}).eval()
    plain = build_student("pointnet", config).eval()
    plain.load_state_dict(anchored.state_dict())
    cloud, state, task, ee = torch.rand(3, 32, 3), torch.rand(3, 4), torch.tensor([0, 1, 0]), torch.rand(3, 3)
    expected = plain(cloud, state, task, cloud_anchor(cloud, ee, 6))
    assert torch.allclose(anchored(cloud, state, task, ee), expected)
    assert not torch.allclose(plain(cloud, state, task, ee), expected)


def test_the_global_encoder_reads_only_the_prefix_and_the_local_one_the_whole_cloud():
    """global_points = n: the global encoder sees the first n points (the contract's n-point FPS
    sample), the local encoder picks the gripper's neighbours from all N. So a point past the
    prefix matters only when it is one of the gripper's nearest."""
    config = {"num_tasks": 2, "num_points": 32, "ee_relative": True, "local_points": 4, "global_points": 16}
    torch.manual_seed(0)
    model = build_student("pointnet", config).eval()
    ee, state, task = torch.zeros(1, 3), torch.rand(1, 4), torch.tensor([1])
    cloud = 1.0 + torch.rand(1, 32, 3)
    cloud[0, 20:24] = torch.rand(4, 3) * 0.01  # the gripper's 4 points, all past the prefix
    base = model(cloud, state, task, ee)
    far = cloud.clone()
    far[0, 30] += 0.5  # past the prefix, far from the gripper: seen by neither encoder
    near = cloud.clone()
    near[0, 21] += 0.004  # past the prefix, one of the gripper's nearest
    inside = cloud.clone()
    inside[0, 3] += 0.5  # in the prefix
    assert torch.allclose(model(far, state, task, ee), base)
    assert not torch.allclose(model(near, state, task, ee), base)
    assert not torch.allclose(model(inside, state, task, ee), base)
    whole = build_student("pointnet", {**config, "global_points": 0}).eval()
    whole.load_state_dict(model.state_dict())
    assert not torch.allclose(whole(far, state, task, ee), whole(cloud, state, task, ee))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"global_points": 33}, "global_points must lie in"),
        ({"global_points": 1.5}, "global_points must be an int"),
        ({"cloud_anchor_points": 33}, "cloud_anchor_points must lie in"),
        ({"cloud_anchor_points": True}, "cloud_anchor_points must be an int"),
        ({"ee_relative": False, "local_points": 0, "cloud_anchor_points": 4}, "set ee_relative"),
    ],
)
def test_bad_point_count_settings_name_the_field(change, match):
    config = {"num_tasks": 2, "num_points": 32, "ee_relative": True, "local_points": 8}
    with pytest.raises(ValueError, match=match):
        build_student("pointnet", {**config, **change})


def test_every_bench_train_variant_builds_and_takes_a_finite_step():
    """`mtdagger bench train`'s rows, the dense gripper view's 4N-point cloud included."""
    from mtdagger.bench.train import (
        DENSE_FACTOR,
        NUM_TASKS,
        VARIANTS,
        _train_steps,
        build_variant,
        synthetic_batch,
    )

    for name in VARIANTS:
        model = build_variant(name, 128)
        expected = DENSE_FACTOR * 128 if name == "dense gripper view" else 128
        assert model.config.num_points == expected, name
        loss = _train_steps(model, synthetic_batch(4, model.config.num_points, NUM_TASKS))()
        assert torch.isfinite(torch.tensor(loss)), name

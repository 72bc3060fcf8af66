"""Checkpoints (save/load/validation) and the StudentPolicy wrapper built on them."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from mtdagger import keys
from mtdagger.control.action import ActionConvention
from mtdagger.data.normalization import NormalizationStats
from mtdagger.perception.contract import PointCloudContract
from mtdagger.policy.checkpoint import (
    META_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    CheckpointMeta,
    checkpoint_id,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from mtdagger.policy.networks import build_student
from mtdagger.policy.student import CheckpointStudentFactory, NonFiniteActionError, StudentPolicy
from mtdagger.provenance import git_commit, sha256_bytes, sha256_file, training_provenance

TASKS = ["reach-v3", "push-v3", "drawer-open-v3"]
CONTRACT = PointCloudContract(num_points=32)
ACTION = ActionConvention(control_period_s=0.0125, max_step_m=0.01)
POINTNET = {
    "num_tasks": 3,
    "num_points": 32,
    "point_channels": [8, 16],
    "head_hidden": [16],
    "task_embed_dim": 4,
}
STATE = {"num_tasks": 3, "privileged_dim": 6, "hidden": [16], "task_embed_dim": 4}


def make_stats() -> NormalizationStats:
    rng = np.random.default_rng(0)
    return NormalizationStats.from_arrays(
        {
            "state": rng.normal(0.5, 0.2, size=(50, 4)),
            "privileged": rng.normal(size=(50, 6)),
            "action": rng.normal(0.0, [0.005, 0.005, 0.005, 0.8], size=(50, 4)),
        }
    )


def save_pointnet(directory: Path, seed: int = 0):
    torch.manual_seed(seed)
    model = build_student("pointnet", POINTNET)
    meta = CheckpointMeta.for_model(
        model,
        tasks=TASKS,
        contract=CONTRACT,
        action_convention=ACTION,
        normalization=make_stats(),
        provenance={"git_commit": "0" * 40, "dataset_hash": "d" * 64, "round": 2, "scheduler": "uniform"},
    )
    return model, save_checkpoint(directory, model, meta)


def save_state(directory: Path):
    torch.manual_seed(1)
    model = build_student("state", STATE)
    meta = CheckpointMeta.for_model(
        model, tasks=TASKS, contract=None, action_convention=ACTION, normalization=make_stats()
    )
    return model, save_checkpoint(directory, model, meta)


def rewrite_sidecar(directory: Path, **changes) -> None:
    data = json.loads((directory / META_FILE).read_text())
    data.update(changes)
    (directory / META_FILE).write_text(json.dumps(data))


def write_weights_and_fix_hash(directory: Path, tensors: dict[str, torch.Tensor]) -> None:
    safetensors.torch.save_file(tensors, str(directory / WEIGHTS_FILE))
    rewrite_sidecar(directory, weights_sha256=sha256_file(directory / WEIGHTS_FILE))


def cloud_obs(task: str = "push-v3", seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        keys.POINT_CLOUD: rng.normal(size=(32, 3)).astype(np.float32),
        keys.STATE: rng.normal(0.5, 0.2, size=4).astype(np.float32),
        keys.TASK_NAME: task,
        keys.TASK_INDEX: TASKS.index(task),
    }


# --------------------------------------------------------------------------- round trip


def test_round_trip_gives_identical_outputs_and_meta(tmp_path):
    model, meta = save_pointnet(tmp_path / "ckpt")
    loaded, loaded_meta = load_checkpoint(
        tmp_path / "ckpt", expect_tasks=TASKS, expect_contract=CONTRACT, expect_action=ACTION
    )
    assert loaded_meta == meta
    assert meta.weights_sha256 == sha256_file(tmp_path / "ckpt" / WEIGHTS_FILE)
    assert checkpoint_id(meta) == meta.weights_sha256[:12]
    assert not loaded.training
    g = torch.Generator().manual_seed(3)
    inputs = (torch.randn(4, 32, 3, generator=g), torch.randn(4, 4, generator=g), torch.tensor([0, 1, 2, 1]))
    model.eval()
    assert torch.equal(loaded(*inputs), model(*inputs))
    # Only the two files, no leftover temp files.
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [META_FILE, WEIGHTS_FILE]


def test_state_student_round_trip_has_no_contract(tmp_path):
    model, _ = save_state(tmp_path / "s")
    loaded, loaded_meta = load_checkpoint(tmp_path / "s", expect_architecture="state")
    assert loaded_meta.point_cloud_contract is None
    x, t = torch.randn(3, 6), torch.tensor([2, 0, 1])
    assert torch.equal(loaded(x, t), model.eval()(x, t))


def test_save_refuses_meta_that_does_not_describe_the_model(tmp_path):
    model, _ = save_pointnet(tmp_path / "a")
    meta = CheckpointMeta.for_model(
        model, tasks=TASKS[:2], contract=CONTRACT, action_convention=ACTION, normalization=make_stats()
    )
    with pytest.raises(CheckpointError, match="num_tasks"):
        save_checkpoint(tmp_path / "b", model, meta)
    other = build_student("state", STATE)
    with pytest.raises(CheckpointError, match="architecture"):
        save_checkpoint(tmp_path / "b", other, meta)
    assert not (tmp_path / "b" / META_FILE).exists()


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"expect_tasks": ["reach-v3", "push-v3"]}, r"checkpoint tasks=\[.*\] but this run expects"),
        ({"expect_tasks": list(reversed(TASKS))}, "different order"),
        (
            {"expect_contract": PointCloudContract(num_points=1024)},
            "checkpoint point_cloud_contract.num_points=32 but this run expects 1024",
        ),
        (
            {"expect_contract": PointCloudContract(num_points=32, voxel_size_m=0.01)},
            "point_cloud_contract.voxel_size_m=0.005 but this run expects 0.01",
        ),
        (
            {"expect_contract": PointCloudContract(num_points=32, table_band_m=0.015)},
            "point_cloud_contract.table_band_m=0.0 but this run expects 0.015",
        ),
        (
            {"expect_action": ActionConvention(control_period_s=0.02, max_step_m=0.01)},
            "checkpoint action_convention.control_period_s=0.0125 but this run expects 0.02",
        ),
        ({"expect_architecture": "state"}, "checkpoint architecture='pointnet' but this run expects 'state'"),
    ],
)
def test_mismatched_expectations_are_refused_naming_the_field(tmp_path, expect, message):
    save_pointnet(tmp_path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path, **expect)


def test_state_checkpoint_refused_where_a_point_cloud_policy_is_expected(tmp_path):
    save_state(tmp_path)
    with pytest.raises(CheckpointError, match="point_cloud_contract=None"):
        load_checkpoint(tmp_path, expect_contract=CONTRACT)


def test_truncated_or_tampered_weights_are_refused(tmp_path):
    save_pointnet(tmp_path)
    weights = tmp_path / WEIGHTS_FILE
    original = weights.read_bytes()
    weights.write_bytes(original[: len(original) // 2])
    with pytest.raises(CheckpointError, match="weights_sha256"):
        load_checkpoint(tmp_path)
    tampered = bytearray(original)
    tampered[-5] ^= 0x01  # one weight bit, same length
    weights.write_bytes(bytes(tampered))
    with pytest.raises(CheckpointError, match="weights_sha256"):
        load_checkpoint(tmp_path)
    # A truncated file whose hash was (wrongly) re-recorded still cannot be parsed.
    weights.write_bytes(original[: len(original) // 2])
    rewrite_sidecar(tmp_path, weights_sha256=sha256_file(weights))
    with pytest.raises(CheckpointError, match="cannot be parsed"):
        load_checkpoint(tmp_path)


def test_missing_extra_and_misshaped_tensors_are_refused(tmp_path):
    model, _ = save_pointnet(tmp_path)
    tensors = {k: v.clone().contiguous() for k, v in model.state_dict().items()}
    dropped = dict(tensors)
    dropped.pop("head.0.bias")
    write_weights_and_fix_hash(tmp_path, dropped)
    with pytest.raises(CheckpointError, match=r"missing.*head\.0\.bias"):
        load_checkpoint(tmp_path)
    write_weights_and_fix_hash(tmp_path, {**tensors, "rogue": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"unexpected tensors.*rogue"):
        load_checkpoint(tmp_path)
    write_weights_and_fix_hash(tmp_path, tensors)
    rewrite_sidecar(tmp_path, architecture_config={**POINTNET, "head_hidden": [12]})
    with pytest.raises(CheckpointError, match=r"tensor 'head\.0\.weight' has shape"):
        load_checkpoint(tmp_path)


def test_missing_or_broken_files_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    save_pointnet(tmp_path / "a")
    (tmp_path / "a" / META_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"no checkpoint\.json"):
        load_checkpoint(tmp_path / "a")
    save_pointnet(tmp_path / "b")
    (tmp_path / "b" / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match=r"no model\.safetensors"):
        load_checkpoint(tmp_path / "b")
    save_pointnet(tmp_path / "c")
    (tmp_path / "c" / META_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path / "c")
    (tmp_path / "c" / META_FILE).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="JSON object"):
        load_checkpoint(tmp_path / "c")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schema_version": 2}, "checkpoint schema_version=2 but this code reads 1"),
        ({"tasks": "reach-v3"}, "checkpoint tasks has type str"),
        ({"tasks": ["reach-v3"]}, "architecture_config.num_tasks=3"),
        ({"architecture": "transformer"}, "checkpoint architecture='transformer' is unknown"),
        ({"point_cloud_contract": None}, "point_cloud_contract=None"),
        ({"point_cloud_contract": {**CONTRACT.to_dict(), "num_points": 64}}, "num_points=32 but point_cloud"),
        ({"normalization": {"features": {}}}, r"normalization\.action has None dims"),
        ({"action_convention": {"control_period_s": -1, "max_step_m": 0.01}}, "action_convention is invalid"),
    ],
)
def test_inconsistent_sidecar_is_refused(tmp_path, changes, message):
    save_pointnet(tmp_path)
    rewrite_sidecar(tmp_path, **changes)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path)


def test_read_checkpoint_meta_validates_the_sidecar_without_weights(tmp_path):
    _, meta = save_pointnet(tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()  # the sidecar alone is enough to learn tasks/contract
    assert read_checkpoint_meta(tmp_path) == meta
    rewrite_sidecar(tmp_path, schema_version=7)
    with pytest.raises(CheckpointError, match="schema_version=7"):
        read_checkpoint_meta(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint_meta(tmp_path / "nowhere")


def test_sidecar_missing_a_field_is_refused(tmp_path):
    save_pointnet(tmp_path)
    data = json.loads((tmp_path / META_FILE).read_text())
    del data["tasks"]
    (tmp_path / META_FILE).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"lacks fields \['tasks'\]"):
        load_checkpoint(tmp_path)


# --------------------------------------------------------------------------- StudentPolicy


def test_policy_returns_denormalised_convention_action(tmp_path):
    model, meta = save_pointnet(tmp_path)
    policy = StudentPolicy.from_checkpoint(tmp_path, expect_tasks=TASKS, expect_contract=CONTRACT)
    assert policy.tasks == TASKS and policy.contract == CONTRACT and policy.action_convention == ACTION
    assert policy.checkpoint_id == checkpoint_id(meta)
    obs = cloud_obs("push-v3")
    action = policy(obs)
    assert action.shape == (4,) and action.dtype == np.float32
    stats = make_stats()
    with torch.no_grad():
        raw = model.eval()(
            torch.from_numpy(obs[keys.POINT_CLOUD])[None],
            torch.from_numpy(stats.normalize("state", obs[keys.STATE]))[None],
            torch.tensor([1]),
        )[0].numpy()
    expected = stats.denormalize("action", raw)
    expected[3] = np.clip(expected[3], -1, 1)
    np.testing.assert_allclose(action, expected, rtol=1e-5, atol=1e-7)
    # The task name alone selects the same task; a different task gives a different action.
    by_name = {k: v for k, v in obs.items() if k != keys.TASK_INDEX}
    np.testing.assert_array_equal(policy(by_name), action)
    assert not np.allclose(policy(cloud_obs("reach-v3")), action)


def test_policy_clamps_the_gripper_only(tmp_path):
    model, meta = save_pointnet(tmp_path)
    with torch.no_grad():
        model.head[-1].bias.copy_(torch.tensor([300.0, 0.0, 0.0, 300.0]))
    policy = StudentPolicy(model, meta)
    action = policy(cloud_obs())
    assert action[3] == 1.0
    assert action[0] > 1.0  # displacement is not clamped here; the safety filter limits it


def test_policy_rejects_bad_observations(tmp_path):
    save_pointnet(tmp_path)
    policy = StudentPolicy.from_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="not one of this checkpoint's tasks"):
        policy({**cloud_obs(), keys.TASK_NAME: "hammer-v3"})
    with pytest.raises(ValueError, match=r"task\.index=0 but task\.name='push-v3' is index 1"):
        policy({**cloud_obs(), keys.TASK_INDEX: 0})
    with pytest.raises(ValueError, match=r"observation\.point_cloud.*\(32, 3\)"):
        policy({**cloud_obs(), keys.POINT_CLOUD: np.zeros((16, 3), np.float32)})
    nan_state = cloud_obs()
    nan_state[keys.STATE][0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        policy(nan_state)
    with pytest.raises(KeyError, match=r"observation\.state"):
        policy({k: v for k, v in cloud_obs().items() if k != keys.STATE})


def test_non_finite_model_output_raises(tmp_path):
    model, meta = save_pointnet(tmp_path)
    with torch.no_grad():
        model.head[-1].bias[0] = float("nan")
    with pytest.raises(NonFiniteActionError, match="non-finite action"):
        StudentPolicy(model, meta)(cloud_obs())


def test_state_policy_reads_privileged_state(tmp_path):
    save_state(tmp_path)
    policy = StudentPolicy.from_checkpoint(tmp_path)
    assert policy.contract is None
    obs = {keys.PRIVILEGED: np.ones(6, np.float32), keys.TASK_INDEX: 2}
    action = policy(obs)
    assert action.shape == (4,) and np.isfinite(action).all()
    assert not np.allclose(policy({**obs, keys.PRIVILEGED: -np.ones(6, np.float32)}), action)


def test_predict_batch_is_the_differentiable_normalised_forward(tmp_path):
    model, meta = save_pointnet(tmp_path)
    policy = StudentPolicy(model, meta)
    batch = {
        "point_cloud": torch.randn(3, 32, 3),
        "state": torch.randn(3, 4),
        "task_index": torch.tensor([0, 1, 2]),
        "action": torch.randn(3, 4),
    }
    out = policy.predict_batch(batch)
    assert out.requires_grad and out.shape == (3, 4)
    torch.testing.assert_close(out, model(batch["point_cloud"], batch["state"], batch["task_index"]))


def test_factory_is_picklable_and_builds_the_same_policy(tmp_path):
    save_pointnet(tmp_path)
    factory = pickle.loads(pickle.dumps(CheckpointStudentFactory(str(tmp_path), expect_tasks=TASKS)))
    threads = torch.get_num_threads()
    try:
        policy = factory.build()
        # Building leaves the caller's thread count alone (issue 21: it set 1 for the whole training
        # process, so BC results depended on --workers); rollouts set one thread themselves.
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(threads)
    obs = cloud_obs()
    np.testing.assert_array_equal(policy(obs), StudentPolicy.from_checkpoint(tmp_path)(obs))
    with pytest.raises(CheckpointError, match="tasks="):
        CheckpointStudentFactory(str(tmp_path), expect_tasks=["reach-v3"]).build()


# --------------------------------------------------------------------------- provenance helpers


def test_provenance_helpers(tmp_path):
    assert git_commit(tmp_path) == "unknown"  # not a checkout: no crash
    assert git_commit(tmp_path / "missing") == "unknown"
    commit = git_commit()
    repo_root = Path(__file__).resolve().parents[1]
    if (repo_root / ".git").exists():
        assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit)
    payload = b"mtdagger" * 1000
    (tmp_path / "f.bin").write_bytes(payload)
    assert sha256_file(tmp_path / "f.bin") == sha256_bytes(payload) == hashlib.sha256(payload).hexdigest()
    provenance = training_provenance(dataset_hash="d" * 64, round=3, scheduler="hybrid", run_id="r1")
    assert provenance["round"] == 3 and provenance["git_commit"] == commit
    assert {"dataset_hash", "scheduler", "run_id", "created_at", "git_dirty"} <= set(provenance)
    json.dumps(provenance)  # it goes into the JSON sidecar

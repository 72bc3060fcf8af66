"""ROS tier: the policy node refuses a mismatched checkpoint and rejects unknown tasks at run time."""

import pytest

rclpy = pytest.importorskip("rclpy")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from rclpy.parameter import Parameter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_checkpoint import save_tiny_checkpoint  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture
def checkpoint(tmp_path):
    return save_tiny_checkpoint(tmp_path / "ckpt", tasks=("reach-v3", "drawer-open-v3"), num_points=64)


def _start(args):
    from policy_node.policy import PolicyNode

    rclpy.init(args=["--ros-args", *[item for pair in args for item in ("-p", pair)]])
    try:
        return PolicyNode()
    except Exception:
        rclpy.shutdown()
        raise


def test_contract_mismatch_is_refused_with_the_field(checkpoint):
    from policy_node.ros_support import StartupError

    with pytest.raises(StartupError, match="num_points"):
        _start([
            f"checkpoint:={checkpoint}", "task:=reach-v3", "robot_config:=metaworld_sawyer",
            "contract_source:=parameters", "contract.num_points:=128",
        ])  # fmt: skip


# The tiny checkpoint's contract is not the node config's: this test is about tasks, so the node
# takes the checkpoint's contract (no longer the default since the execution contract, issue 20).
_TRUSTING_ITS_CONTRACT = ("robot_config:=metaworld_sawyer", "contract_source:=checkpoint")


def test_unknown_task_is_refused_at_start_and_at_run_time(checkpoint):
    from policy_node.ros_support import StartupError

    with pytest.raises(StartupError, match="push-v3"):
        _start([f"checkpoint:={checkpoint}", "task:=push-v3", *_TRUSTING_ITS_CONTRACT])
    node = _start([f"checkpoint:={checkpoint}", "task:=reach-v3", *_TRUSTING_ITS_CONTRACT])
    try:
        result = node.set_parameters([Parameter("task", Parameter.Type.STRING, "push-v3")])[0]
        assert not result.successful and "drawer-open-v3" in result.reason
        assert node.set_parameters([Parameter("task", Parameter.Type.STRING, "drawer-open-v3")])[0].successful
    finally:
        node.destroy_node()
        rclpy.shutdown()

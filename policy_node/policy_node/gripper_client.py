"""The arm controller's GripperCommand client, as franka_gripper needs it (issue 20, item 6).

franka_ros2's `franka_gripper_node` serves `gripper_action` (control_msgs/GripperCommand) with a
move when the target width (2 x position) is at or above the current one, and a grasp with
`command.max_effort` and its default epsilon (0.005 m) when below; it accepts every goal and runs
each in its own thread, never preempting the running one (franka_gripper/src/
gripper_action_server.cpp). So this client:
- sends goals only when the core has one (a change past `gripper_change_threshold`: a state
  change, never a stream);
- sends nothing while a goal runs: the goal is forgotten by the core, so the next command sends
  the latest one once the running goal has ended;
- re-sends a goal that was rejected, not delivered, or that failed, except a closing goal that
  ends ABORTED: franka_gripper aborts a grasp that ends outside its epsilon, i.e. one holding an
  object wider than the target; re-sending it would re-grasp at every step.
Unverified on a real Franka Hand: that ABORTED grasps keep squeezing (libfranka's documented
grasp semantics), and the timing of results under load.
"""

from __future__ import annotations

from mtdagger.messages.convert import gripper_command_msg


class GripperClient:
    def __init__(self, node, action_module, action_name: str, core, gripper, factory) -> None:
        from rclpy.action import ActionClient

        self._node, self._action, self._core = node, action_module, core
        self._gripper, self._factory = gripper, factory
        self._client = ActionClient(node, action_module.GripperCommand, action_name)
        self._in_flight = False
        self._closing = False
        self._last_goal_m: float | None = None

    def send(self, position_m: float) -> None:
        if not self._client.server_is_ready():
            self._node.get_logger().warn(
                "gripper action server not available: goal dropped", throttle_duration_sec=5.0
            )
            self._core.forget_gripper_goal()
            return
        if self._in_flight:  # franka_gripper never preempts: the latest goal follows this one
            self._core.forget_gripper_goal()
            return
        last, hand = self._last_goal_m, self._gripper
        toward_closed = hand.closed_position_m - hand.open_position_m
        self._closing = last is not None and (position_m - last) * toward_closed > 0
        self._in_flight, self._last_goal_m = True, position_m
        goal = self._action.GripperCommand.Goal()
        goal.command = gripper_command_msg(self._factory, position_m, hand.max_effort_n)
        self._client.send_goal_async(goal).add_done_callback(self._on_goal_response)

    def _on_goal_response(self, future) -> None:
        """A goal the server rejected (or could not take) is not the gripper's state: forget it,
        so the next command sends the goal again instead of believing it was applied."""
        handle = None if future.exception() is not None else future.result()
        if handle is None or not handle.accepted:
            self._in_flight = False
            self._node.get_logger().warn(
                "gripper goal rejected: it will be sent again", throttle_duration_sec=2.0
            )
            self._core.forget_gripper_goal()
            return
        handle.get_result_async().add_done_callback(self._on_result)

    def _on_result(self, future) -> None:
        from action_msgs.msg import GoalStatus

        result = None if future.exception() is not None else future.result()
        self._in_flight = False
        status = None if result is None else result.status
        held = status == GoalStatus.STATUS_ABORTED and self._closing  # a grasp on an object
        if status != GoalStatus.STATUS_SUCCEEDED and not held:
            self._node.get_logger().warn(
                "gripper goal did not succeed: it will be sent again", throttle_duration_sec=2.0
            )
            self._core.forget_gripper_goal()

"""The messages of one recorded control step, built but not written (`EvaluationBagWriter.write_step`).

Split from `bag_writer` by idea: this module says WHAT a step is on the bag's topics (see `layout`
for the topic map) and how values become messages; the writer says HOW they reach the disk (whole
steps, early chunk closing, stamps in order). Bad values follow the writer's module doc: a
non-finite action is recorded as given, a depth frame that cannot be an image is left out of the
step, and only wrong vector sizes raise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from mtdagger.messages import topics
from mtdagger.messages.convert import (
    camera_info_msg,
    depth_image_msg,
    float64_msg,
    joint_state_msg,
    point_cloud2_msg,
    pose_stamped_msg,
    string_msg,
    twist_stamped_msg,
)
from mtdagger.messages.factory import MessageFactory
from mtdagger.perception.camera_model import CameraModel
from mtdagger.recording import layout

_IDENTITY_QUATERNION = (0.0, 0.0, 0.0, 1.0)  # x, y, z, w


def step_messages(
    factory: MessageFactory,
    stamp: int,
    *,
    depth_m: np.ndarray | None,
    camera: CameraModel | None,
    points: np.ndarray | None,
    ee_position: np.ndarray,
    gripper: float,
    action: np.ndarray,
    applied: np.ndarray,
    safety_status: str,
    safety_reasons: Iterable[str],
    latencies_ms: Mapping[str, float] | None,
    period_s: float,
    camera_frame: str,
    base_frame: str,
) -> list[tuple[str, Any]]:
    """(topic, message) pairs of one control step, all stamped `stamp`, sensors first.

    Raises ValueError for wrong vector sizes (before any message is built); actions are stored as
    velocities (displacement / `period_s`), the unit of a Twist.
    """
    action_v = _vector(action, 4, "action")
    applied_v = _vector(applied, 4, "applied")
    ee_v = _vector(ee_position, 3, "ee_position")
    messages = _sensor_messages(factory, stamp, depth_m, camera, points, camera_frame, base_frame)
    messages += [
        (topics.EE_STATE_TOPIC, _pose(factory, ee_v, stamp, base_frame)),
        (topics.JOINT_STATES_TOPIC, _joint_state(factory, _float(gripper), stamp)),
        (topics.ACTION_TOPIC, _twist(factory, action_v[:3] / period_s, stamp, base_frame)),
        (topics.ACTION_GRIPPER_TOPIC, float64_msg(factory, action_v[3])),
        (topics.APPLIED_COMMAND_TOPIC, _twist(factory, applied_v[:3] / period_s, stamp, base_frame)),
        (topics.APPLIED_GRIPPER_TOPIC, float64_msg(factory, applied_v[3])),
        (topics.SAFETY_TOPIC, string_msg(factory, _safety_json(safety_status, safety_reasons))),
        (topics.LATENCY_TOPIC, string_msg(factory, _latency_json(latencies_ms or {}))),
    ]
    return messages


def _sensor_messages(
    factory: MessageFactory,
    stamp: int,
    depth_m: np.ndarray | None,
    camera: CameraModel | None,
    points: np.ndarray | None,
    camera_frame: str,
    base_frame: str,
) -> list[tuple[str, Any]]:
    """The optional sensor part of a step: depth image, camera info, cloud (each when given). A
    depth frame that is not an image at all is dropped, not raised: it is evidence of a sensor
    fault, and the rest of the step (the safety reasons for the hold) must still be recorded."""
    messages: list[tuple[str, Any]] = []
    if depth_m is not None:
        try:
            depth = depth_image_msg(factory, depth_m, stamp, camera_frame)
            messages.append((topics.ALIGNED_DEPTH_TOPIC, depth))
        except (ValueError, TypeError):
            pass  # not an image (see the module doc): the rest of the step is still recorded
    if camera is not None:
        info = camera_info_msg(factory, camera, stamp, camera_frame)
        messages.append((topics.ALIGNED_DEPTH_INFO_TOPIC, info))
    if points is not None:
        messages.append((topics.POINT_CLOUD_TOPIC, point_cloud2_msg(factory, points, stamp, base_frame)))
    return messages


def _twist(factory: MessageFactory, linear_m_s: np.ndarray, stamp: int, frame_id: str) -> Any:
    return twist_stamped_msg(factory, linear_m_s, np.zeros(3), stamp, frame_id)


def _pose(factory: MessageFactory, position: np.ndarray, stamp: int, frame_id: str) -> Any:
    # The action convention has no rotation, so the orientation is not tracked: identity.
    return pose_stamped_msg(factory, position, _IDENTITY_QUATERNION, stamp, frame_id)


def _joint_state(factory: MessageFactory, gripper: float, stamp: int) -> Any:
    return joint_state_msg(factory, [layout.GRIPPER_JOINT_NAME], [gripper], stamp)


def _vector(value: Any, size: int, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be {size} numbers, got {value!r}") from error
    if array.shape != (size,):
        raise ValueError(f"{name} must have {size} elements, got {array.size}")
    return array


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"gripper must be a number, got {value!r}") from error


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _safety_json(status: str, reasons: Iterable[str] | str) -> str:
    if isinstance(reasons, str):  # one reason given bare: not a sequence of characters
        reasons = (reasons,)
    return json.dumps({"status": str(status), "reasons": [str(r) for r in reasons]})


def _latency_json(latencies_ms: Mapping[str, float]) -> str:
    # Strict JSON has no NaN: a non-finite or missing latency (a stage that never ran) is null.
    return json.dumps({str(stage): _finite_or_none(ms) for stage, ms in latencies_ms.items()})

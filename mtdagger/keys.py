"""Observation keys shared by the simulator, training and deployment (DESIGN.md §4).

One place for the strings so a typo is an import error, not a silent missing key.
"""

POINT_CLOUD = "observation.point_cloud"  # (N, 3) float32, robot base frame, metres
STATE = "observation.state"  # (4,) float32: end-effector xyz in base frame (m) + gripper opening
PRIVILEGED = "observation.privileged"  # full simulator state, for experts only
DEPTH = "observation.depth"  # (H, W) float32 metres; only when the camera is rendered
TASK_INDEX = "task.index"
TASK_NAME = "task.name"
# (3,) float64, robot base frame (m), at reset; optional: recorded in the episode marker so a
# report can show where the episode had to go (simulators that know it provide it).
GOAL_POSITION = "task.goal_position"
OBJECT_POSITION = "task.object_position"

STATE_DIM = 4

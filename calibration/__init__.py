"""Camera-to-robot extrinsics: the calibration YAML, its tf2 form, and the hand-eye solver.

The YAML (see `calibration.extrinsics`) is the single source of `T_base_camera` for the real
robot: the in-process runtime reads it directly, and ROS launch files publish it on /tf_static.
"""

from calibration.extrinsics import (
    Extrinsics,
    ExtrinsicsError,
    load_extrinsics,
    matrix_to_quaternion_xyzw,
    quaternion_xyzw_to_matrix,
    save_extrinsics,
    static_transform_args,
)

__all__ = [
    "Extrinsics",
    "ExtrinsicsError",
    "load_extrinsics",
    "matrix_to_quaternion_xyzw",
    "quaternion_xyzw_to_matrix",
    "save_extrinsics",
    "static_transform_args",
]

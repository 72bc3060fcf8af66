"""A minimal MuJoCo calibration cell: a fixed colour camera with a known pose and a ChArUco board
(a textured plane) on a mocap-driven "gripper", plus a table whose height the base frame knows.

Why our own scene rather than MetaWorld's: the check needs a camera pose we set (the truth), a board
we can move freely through poses a real arm would reach, and nothing else; MetaWorld's Sawyer adds
nothing the hand-eye maths can see. The camera is the project's `CameraModel` rendered by
`mtdagger.perception.mujoco_camera.MujocoDepthCamera`, so the colour images and the depth images come from
exactly the intrinsics and optical-frame pose the point-cloud pipeline uses.

Noise (`SimNoise`) is what a real capture has: sensor noise on the pixels, defocus/motion blur,
and jitter of the robot's reported TF (encoder noise, a pose read a little late).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from calibration.board import BoardSpec, render_board
from mtdagger.perception.camera_model import CameraModel, look_at_rotation
from mtdagger.perception.mujoco_camera import MujocoDepthCamera


@dataclass(frozen=True)
class SimNoise:
    pixel_sigma: float = 0.0  # grey levels (of 255), Gaussian per pixel
    blur_sigma_px: float = 0.0  # Gaussian blur of the rendered image
    tf_translation_m: float = 0.0  # per-axis Gaussian jitter of the reported gripper position
    tf_rotation_deg: float = 0.0  # Gaussian jitter angle of the reported gripper orientation

    @classmethod
    def realistic(cls) -> SimNoise:
        """A D435 colour stream at 0.7 m and an arm's reported TF: sigma 2 grey levels, 0.8 px blur,
        0.5 mm / 0.05 deg pose jitter (a Franka's repeatability is about 0.1 mm)."""
        return cls(pixel_sigma=2.0, blur_sigma_px=0.8, tf_translation_m=0.0005, tf_rotation_deg=0.05)


@dataclass(frozen=True)
class SimCellConfig:
    width: int = 640
    height: int = 480
    fovy_deg: float = 42.0  # a D435's colour stream at 640x480
    camera_position: tuple[float, float, float] = (1.15, 0.1, 0.65)  # in the robot base frame
    camera_target: tuple[float, float, float] = (0.5, 0.0, 0.2)
    # Optical-frame orientation (x, y, z, w) in the base frame; None: look at camera_target, image up = +z.
    camera_rotation_xyzw: tuple[float, float, float, float] | None = None
    base_frame: str = "base_link"
    base_in_world: tuple[float, ...] = (0.1, -0.05, 0.02, 0.3)  # x, y, z, yaw (rad): base != world
    table_top_world_z: float = 0.0
    board: BoardSpec = field(
        default_factory=lambda: BoardSpec(7, 5, square_length_m=0.04, marker_length_m=0.03)
    )
    # The board plane's pose on the gripper (what the solver recovers as a by-product).
    board_on_gripper: tuple[float, ...] = (0.02, -0.01, 0.07, 0.2, -0.1, 0.0)  # x, y, z, rotvec
    # Eye-in-hand: the camera's optical frame on the gripper, and the board lying on the table.
    camera_on_gripper: tuple[float, ...] = (0.06, -0.02, 0.04, 0.05, -0.1, 1.5708)  # x, y, z, rotvec
    board_on_table: tuple[float, float] = (0.5, 0.05)  # board centre x, y in the base frame
    num_poses: int = 20
    pixels_per_square: int = 80

    @property
    def T_world_base(self) -> np.ndarray:
        x, y, z, yaw = self.base_in_world
        T = np.eye(4)
        T[:3, :3] = Rotation.from_euler("z", yaw).as_matrix()
        T[:3, 3] = (x, y, z)
        return T

    @property
    def T_base_optical(self) -> np.ndarray:
        """The truth the calibration must recover."""
        T = np.eye(4)
        position = np.asarray(self.camera_position, dtype=float)
        if self.camera_rotation_xyzw is not None:
            T[:3, :3] = Rotation.from_quat(self.camera_rotation_xyzw).as_matrix()
        else:
            target = np.asarray(self.camera_target, dtype=float)
            T[:3, :3] = look_at_rotation(position, target, np.array([0, 0, 1.0]))
        T[:3, 3] = position
        return T

    @classmethod
    def at_camera(
        cls, T_base_optical: np.ndarray, base_frame: str, distance_m: float = 0.75
    ) -> SimCellConfig:
        """The cell with its camera where a calibration YAML puts it (e.g. the FR3 cell's nominal
        mounting); the board poses gather `distance_m` along the optical axis."""
        position = T_base_optical[:3, 3]
        target = position + distance_m * T_base_optical[:3, 2]
        quaternion = Rotation.from_matrix(T_base_optical[:3, :3]).as_quat()
        return cls(
            camera_position=tuple(float(v) for v in position),
            camera_target=tuple(float(v) for v in target),
            camera_rotation_xyzw=tuple(float(v) for v in quaternion),
            base_frame=base_frame,
        )

    @property
    def T_gripper_plane(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(self.board_on_gripper[3:]).as_matrix()
        T[:3, 3] = self.board_on_gripper[:3]
        return T

    @property
    def T_gripper_optical(self) -> np.ndarray:
        """The eye-in-hand truth."""
        T = np.eye(4)
        T[:3, :3] = Rotation.from_rotvec(self.camera_on_gripper[3:]).as_matrix()
        T[:3, 3] = self.camera_on_gripper[:3]
        return T

    @property
    def T_base_table_board(self) -> np.ndarray:
        """The board plane lying face up on the table (eye-in-hand), 1 mm above it."""
        T = np.eye(4)
        T[:3, 3] = (*self.board_on_table, self.table_height_in_base + 0.001)
        return T

    @property
    def table_height_in_base(self) -> float:
        """Table top height in the base frame (the base is only yawed, so the plane stays level)."""
        return self.table_top_world_z - self.base_in_world[2]

    def camera(self, T_base_optical: np.ndarray | None = None) -> CameraModel:
        pose = self.T_base_optical if T_base_optical is None else T_base_optical
        return CameraModel.from_fov(self.width, self.height, self.fovy_deg, pose)


class SimCalibrationCell:
    """The scene, its renderer, and a generator of board poses facing the camera."""

    def __init__(self, config: SimCellConfig | None = None) -> None:
        import cv2
        import mujoco

        self.config = config or SimCellConfig()
        self._mujoco = mujoco
        board = self.config.board
        image = render_board(board, self.config.pixels_per_square, margin_squares=0.5)
        ok, png = cv2.imencode(".png", image)
        assert ok
        half_w = (board.squares_x + 1) * board.square_length_m / 2  # half a square of margin per side
        half_h = (board.squares_y + 1) * board.square_length_m / 2
        xml = f"""<mujoco model="calibration_cell">
  <visual><headlight ambient="1 1 1" diffuse="0 0 0" specular="0 0 0"/>
    <global offwidth="{self.config.width}" offheight="{self.config.height}"/></visual>
  <asset><texture name="board" type="2d" file="board.png"/>
    <material name="board" texture="board" texrepeat="1 1" specular="0" shininess="0"/></asset>
  <worldbody>
    <geom name="table" type="box" pos="0.5 0 {self.config.table_top_world_z - 0.02}" size="0.8 0.8 0.02"
          rgba="0.55 0.45 0.35 1"/>
    <body name="gripper" mocap="true" pos="0 0 -5">
      <geom name="board" type="plane" size="{half_w} {half_h} 0.01" material="board"
            contype="0" conaffinity="0"/>
    </body>
  </worldbody>
</mujoco>"""
        self.model = mujoco.MjModel.from_xml_string(xml, assets={"board.png": png.tobytes()})
        self.data = mujoco.MjData(self.model)
        self._renderer = _ColourCamera(self.model, self.config.width, self.config.height)
        # The plane's centre is the board's centre; the ChArUco frame has y and z flipped (y down
        # the printed page, z into the board) and its origin at the top-left chessboard corner.
        self.T_plane_board = np.diag([1.0, -1.0, -1.0, 1.0])
        self.T_plane_board[:3, 3] = (-board.squares_x * board.square_length_m / 2,
                                     board.squares_y * board.square_length_m / 2, 0.0)  # fmt: skip

    def close(self) -> None:
        self._renderer.close()

    def board_plane_poses(self, rng: np.random.Generator, count: int) -> list[np.ndarray]:
        """Plane poses in the base frame, facing the camera, tilted up to ~35 deg about varied axes."""
        cfg = self.config
        camera_position = np.asarray(cfg.camera_position)
        poses = []
        for _ in range(count):
            centre = np.asarray(cfg.camera_target) + rng.uniform([-0.08, -0.1, -0.05], [0.08, 0.1, 0.1])
            normal = camera_position - centre
            facing = look_at_rotation(centre, centre - normal, np.array([0, 0, 1.0]))  # z away from camera
            facing = facing @ np.diag([1.0, -1.0, -1.0])  # plane z (its visible side) toward the camera
            axis = rng.normal(size=3)
            axis[2] = 0.0
            tilt = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.deg2rad(rng.uniform(10, 35)))
            spin = Rotation.from_euler("z", rng.uniform(-40, 40), degrees=True)
            T = np.eye(4)
            T[:3, :3] = facing @ (tilt * spin).as_matrix()
            T[:3, 3] = centre
            poses.append(T)
        return poses

    def gripper_poses(self, rng: np.random.Generator, count: int) -> list[np.ndarray]:
        """T_base_gripper for `count` board views (the arm poses a capture would visit)."""
        inverse_mount = np.linalg.inv(self.config.T_gripper_plane)
        return [plane @ inverse_mount for plane in self.board_plane_poses(rng, count)]

    def eye_in_hand_gripper_poses(self, rng: np.random.Generator, count: int) -> list[np.ndarray]:
        """T_base_gripper for `count` views of the table board by the gripper-mounted camera:
        0.4-0.55 m away, 55-80 deg above the table, any azimuth, varied roll."""
        centre = self.config.T_base_table_board[:3, 3]
        inverse_mount = np.linalg.inv(self.config.T_gripper_optical)
        poses = []
        for _ in range(count):
            azimuth, elevation = rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(55, 80))
            direction = [
                np.cos(elevation) * np.cos(azimuth),
                np.cos(elevation) * np.sin(azimuth),
                np.sin(elevation),
            ]
            position = centre + rng.uniform(0.4, 0.55) * np.asarray(direction)
            up = rng.normal(size=3)
            up[2] = 0.0
            T = np.eye(4)
            T[:3, :3] = look_at_rotation(position, centre + rng.uniform(-0.03, 0.03, 3) * [1, 1, 0], up)
            T[:3, 3] = position
            poses.append(T @ inverse_mount)
        return poses

    def render(
        self,
        T_base_gripper: np.ndarray | None,
        noise: SimNoise,
        rng: np.random.Generator,
        setup: str = "eye_to_hand",
    ) -> np.ndarray:
        """RGB uint8 image: eye-to-hand, the fixed camera sees the board held at T_base_gripper
        (None: board out of view); eye-in-hand, the camera on the gripper sees the table board."""
        import cv2

        if setup == "eye_in_hand":
            self._place_plane(self.config.T_base_table_board)
            camera = self.config.camera(T_base_gripper @ self.config.T_gripper_optical)
        else:
            self._place(T_base_gripper)
            camera = self.config.camera()
        rgb = self._renderer.render_rgb(self.data, camera, self.config.T_world_base)
        image = rgb.astype(np.float32)
        if noise.blur_sigma_px > 0:
            image = cv2.GaussianBlur(image, (0, 0), noise.blur_sigma_px)
        if noise.pixel_sigma > 0:
            image = image + rng.normal(scale=noise.pixel_sigma, size=image.shape)
        return np.clip(np.rint(image), 0, 255).astype(np.uint8)

    def render_depth(self, T_base_gripper: np.ndarray | None = None) -> np.ndarray:
        self._place(T_base_gripper)
        return self._renderer.render_depth(self.data, self.config.camera(), self.config.T_world_base)

    def _place(self, T_base_gripper: np.ndarray | None) -> None:
        self._place_plane(None if T_base_gripper is None else T_base_gripper @ self.config.T_gripper_plane)

    def _place_plane(self, T_base_plane: np.ndarray | None) -> None:
        if T_base_plane is None:
            self.data.mocap_pos[0] = (0.0, 0.0, -5.0)
        else:
            T_world_plane = self.config.T_world_base @ T_base_plane
            self.data.mocap_pos[0] = T_world_plane[:3, 3]
            quat = Rotation.from_matrix(T_world_plane[:3, :3]).as_quat()  # x, y, z, w
            self.data.mocap_quat[0] = np.roll(quat, 1)  # MuJoCo order: w, x, y, z
        self._mujoco.mj_forward(self.model, self.data)


def jitter_pose(T: np.ndarray, noise: SimNoise, rng: np.random.Generator) -> np.ndarray:
    """The gripper pose as the robot would report it: the true pose with TF noise."""
    if noise.tf_translation_m == 0 and noise.tf_rotation_deg == 0:
        return T.copy()
    out = T.copy()
    axis = rng.normal(size=3)
    angle = np.deg2rad(abs(rng.normal(scale=noise.tf_rotation_deg)))
    out[:3, :3] = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix() @ T[:3, :3]
    out[:3, 3] += rng.normal(scale=noise.tf_translation_m, size=3)
    return out


class _ColourCamera(MujocoDepthCamera):
    """The depth camera's renderer and pose convention, rendering colour as well."""

    def render_rgb(self, data, camera: CameraModel, T_world_base: np.ndarray) -> np.ndarray:
        self._renderer.disable_depth_rendering()
        self._renderer.disable_segmentation_rendering()
        self._prepare(data, camera, T_world_base)
        return self._renderer.render()

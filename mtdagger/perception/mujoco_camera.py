"""`MujocoDepthCamera`: a CameraModel rendered by `mujoco.Renderer`, metric planar depth out.

The simulated half of the point-cloud contract (DESIGN.md section 3): the numbers used to RENDER
sim depth are the numbers used to BACK-PROJECT it. Shared by the simulator backends
(sim_bridge) and the calibration cell; MuJoCo is imported when a renderer is built, so this module
imports without it.

* pose: after `mjv_updateScene`, the scene's OpenGL camera is overwritten with the optical frame
  (OpenGL looks along -z with y up, so forward = optical +z and up = optical -y). No MuJoCo
  model camera is touched and no Euler/quaternion convention of MuJoCo's is involved;
* intrinsics: the OpenGL frustum on the near plane is set from fx, fy, cx, cy, using
  `frustum_width` for the horizontal half-width, so fx != fy and an off-centre principal point
  render exactly too. Pixel convention (the one OpenCV and depth_image_proc use): pixel (u, v) has
  its centre at integer coordinates, the image spans [-0.5, W-0.5] x [-0.5, H-0.5], so the ray of
  pixel (u, v) is ((u-cx)/fx, (v-cy)/fy, 1) in the optical frame. MuJoCo's own cameras put the
  principal point at the image centre, cx = (W-1)/2, cy = (H-1)/2 in this convention, with square
  pixels (fx = fy = H / (2 tan(fovy/2))); the default D435 config follows that, so it is also what
  a MuJoCo fixed camera with `fovy = 2 atan(H / (2 fy))` would render.

`mujoco.Renderer` depth is already metric PLANAR depth (distance along the optical axis, what a
RealSense reports), linearised from the reverse-Z float depth buffer with the scene's near/far
planes, which we leave as MuJoCo sets them (znear, zfar x extent). NOT gymnasium's `depth_array`,
which is the raw [0, 1] buffer. Pixels that hit nothing (the far plane) become 0.0, "no return".
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from mtdagger.perception.camera_model import CameraModel


class MujocoDepthCamera:
    """Renders metric depth and geom segmentation of one MuJoCo model from any CameraModel.

    One instance per model; it owns one OpenGL context. Several live contexts in one process are
    where MetaWorld's rendering corruption (#448) comes from, so the backend keeps only one alive
    and `close()` frees it deliberately (with its own context current) instead of leaving it to
    the garbage collector.
    """

    def __init__(self, model: Any, width: int, height: int, show_sites: bool = True) -> None:
        import mujoco  # imported here: MUJOCO_GL must be set before the first import

        self._mujoco = mujoco
        self.model = model
        self.width = width
        self.height = height
        if width > model.vis.global_.offwidth or height > model.vis.global_.offheight:
            raise ValueError(
                f"camera {width}x{height} exceeds the model's offscreen buffer "
                f"{model.vis.global_.offwidth}x{model.vis.global_.offheight}"
            )
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        self._scene_option = mujoco.MjvOption()
        # Sites are markers, not matter; MetaWorld's goal sites are kept visible by default because
        # for reach/push/pick-place they are the only way a cloud can show where the goal is.
        if not show_sites:
            self._scene_option.sitegroup[:] = 0
        self._free_camera = mujoco.MjvCamera()
        mujoco.mjv_defaultFreeCamera(model, self._free_camera)
        self._finalizer = weakref.finalize(self, _close_renderer, self._renderer)

    def render_depth(self, data: Any, camera: CameraModel, T_world_base: np.ndarray) -> np.ndarray:
        """(H, W) float32 planar depth in metres; 0.0 where the ray hits nothing."""
        self._renderer.enable_depth_rendering()
        self._prepare(data, camera, T_world_base)
        depth = self._renderer.render()
        far = self.model.vis.map.zfar * self.model.stat.extent
        depth[~(depth < 0.999 * far)] = 0.0
        return depth

    def render_geom_ids(self, data: Any, camera: CameraModel, T_world_base: np.ndarray) -> np.ndarray:
        """(H, W) int32: the geom id seen at each pixel, -1 for background or a non-geom (site)."""
        self._renderer.enable_segmentation_rendering()
        self._prepare(data, camera, T_world_base)
        segmentation = self._renderer.render()
        is_geom = segmentation[..., 1] == int(self._mujoco.mjtObj.mjOBJ_GEOM)
        return np.where(is_geom, segmentation[..., 0], -1).astype(np.int32)

    def close(self) -> None:
        self._finalizer()

    def _prepare(self, data: Any, camera: CameraModel, T_world_base: np.ndarray) -> None:
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(
                f"camera is {camera.width}x{camera.height} but this renderer "
                f"was built for {self.width}x{self.height}"
            )
        self._renderer.update_scene(data, camera=self._free_camera, scene_option=self._scene_option)
        T_world_camera = np.asarray(T_world_base, dtype=np.float64) @ camera.T_base_camera
        rotation, origin = T_world_camera[:3, :3], T_world_camera[:3, 3]
        scene = self._renderer.scene
        for gl_camera in (scene.camera[0], scene.camera[1]):  # both eyes: mono rendering averages them
            near = float(gl_camera.frustum_near)  # keep MuJoCo's near/far: the depth linearisation uses them
            gl_camera.pos[:] = origin
            gl_camera.forward[:] = rotation[:, 2]
            gl_camera.up[:] = -rotation[:, 1]
            gl_camera.orthographic = 0
            gl_camera.frustum_width = near * camera.width / (2.0 * camera.fx)
            gl_camera.frustum_center = near * (camera.width - 1 - 2.0 * camera.cx) / (2.0 * camera.fx)
            gl_camera.frustum_top = near * (camera.cy + 0.5) / camera.fy
            gl_camera.frustum_bottom = -near * (camera.height - 0.5 - camera.cy) / camera.fy


def _close_renderer(renderer: Any) -> None:
    # mujoco.Renderer.close frees the GL objects on whatever context is current; make its own
    # context current first so closing one renderer can never corrupt another's framebuffer.
    context = getattr(renderer, "_gl_context", None)
    try:
        if context is not None:
            context.make_current()
        renderer.close()
    except Exception:  # at interpreter exit EGL may already be gone: nothing left to free
        pass

"""`mtdagger calibrate ...` arguments (hand-eye calibration), kept beside the command so
mtdagger/cli.py stays one screen per command; the work is in mtdagger/commands/calibrate.py."""

from __future__ import annotations

import argparse

from mtdagger.cli_types import count_type


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="hand-eye calibration: board, solve a capture, verify in sim")
    cal = p.add_subparsers(dest="action", required=True)
    b = cal.add_parser("board", help="write board.png, a true-scale board.pdf and board.yaml")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument("--squares-x", type=int, default=7, help="chessboard squares across")
    b.add_argument("--squares-y", type=int, default=5, help="chessboard squares down")
    b.add_argument("--square-length", type=float, default=0.04, help="square side in metres")
    b.add_argument("--marker-length", type=float, default=0.03, help="ArUco marker side in metres")
    b.add_argument("--dictionary", default="DICT_5X5_100", help="cv2.aruco dictionary name")
    b.add_argument("--dpi", type=int, default=300, help="print resolution of the PNG/PDF")
    s = cal.add_parser("solve", help="solve a capture folder and write the calibration YAML")
    s.add_argument("capture_dir", help="folder written by the calibration_capture node")
    s.add_argument("--out", default=None, help="calibration YAML (default: CAPTURE_DIR/calibration.yaml)")
    s.add_argument("--board", default=None, help="board.yaml (default: the board stored in the capture)")
    s.add_argument("--method", default=None, help="force a hand-eye method (default: lowest residual)")
    s.add_argument("--id", default=None, help="calibration_id (default: the capture folder's name)")
    s.add_argument("--min-views", type=count_type(3), default=5, help="fewest usable views to accept (>= 3)")
    s.add_argument("--max-reprojection-px", type=float, default=1.0, help="reject views fitting worse")
    s.add_argument(
        "--max-residual-mm", type=float, default=10.0,
        help="refuse a solution whose board mount spreads more than this (rms) across the views",
    )  # fmt: skip
    s.add_argument(
        "--max-residual-deg", type=float, default=1.0, help="the same limit for the mount's rotation (rms)"
    )
    s.add_argument(
        "--child",
        choices=["link", "optical"],
        default="link",
        help="YAML child frame: the camera link (the driver publishes link -> optical) or the optical "
        "frame itself (a graph without the driver's TF, e.g. real.launch.py's publish_tf:=false)",
    )
    g = cal.add_parser("bag", help="capture folder from a rosbag2 recording: one sample per pause of the arm")
    g.add_argument("bag", help="rosbag2 directory")
    g.add_argument("--out", required=True, help="capture folder to write")
    g.add_argument("--board", required=True, help="board.yaml")
    g.add_argument("--image-topic", default="/camera/camera/color/image_raw", help="colour image topic")
    g.add_argument("--camera-info-topic", default="/camera/camera/color/camera_info", help="its CameraInfo")
    g.add_argument("--pose-topic", default="/mtdagger/ee_state", help="gripper PoseStamped in the base frame")
    g.add_argument("--base-frame", default="base_link", help="robot base frame (the poses' frame_id)")
    g.add_argument("--gripper-frame", default="tool0", help="gripper frame (eye-in-hand YAML parent)")
    g.add_argument("--camera-frame", default="camera_link", help="camera link frame (the YAML child)")
    g.add_argument("--setup", default="eye_to_hand", help="eye_to_hand or eye_in_hand")
    g.add_argument("--camera-serial", default="", help="recorded in the calibration YAML")
    g.add_argument("--still-s", type=float, default=0.5, help="shortest pause that makes a sample")
    v = cal.add_parser("verify", help="simulated capture with a known camera pose: error per method")
    v.add_argument("--out", default="runs/calibrate-verify", help="work directory (captures, YAML, table)")
    v.add_argument("--poses", type=int, default=20, help="board poses per capture")
    v.add_argument("--seed", type=int, default=0, help="pose and noise seed")
    v.add_argument("--setups", default="eye_to_hand,eye_in_hand", help="comma-separated set-ups to verify")
    v.add_argument(
        "--camera-calibration",
        default=None,
        help="place the simulated camera where this calibration YAML does (e.g. the FR3 cell's)",
    )
    p.set_defaults(module="mtdagger.commands.calibrate")

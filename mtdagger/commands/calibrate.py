"""`mtdagger calibrate board|solve|verify`: print a board, solve a capture folder, verify in sim.

- `board --out DIR`: board.png, board.pdf (true scale) and board.yaml for the capture and solve;
- `solve CAPTURE_DIR --out cal.yaml`: detect the board in every sample, solve with every hand-eye
  method, print the per-view and per-method table, write the calibration YAML that
  `real.launch.py` publishes (parent = robot base, child = camera link);
- `bag BAG --out CAPTURE_DIR --board board.yaml`: a capture folder from a recording, one sample
  per pause of the arm;
- `verify --out DIR`: render a simulated capture with a known camera pose, solve it, and print the
  error per method with noise off and on, plus the table-plane check.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from calibration.board import BoardError
    from calibration.capture import CaptureError
    from calibration.extrinsics import ExtrinsicsError
    from calibration.handeye import HandEyeError

    action = {"board": _board, "solve": _solve, "verify": _verify, "bag": _bag}[args.action]
    try:
        return action(args)
    except (BoardError, CaptureError, HandEyeError, ExtrinsicsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _board(args: argparse.Namespace) -> int:
    from calibration.board import BoardSpec, write_board

    spec = BoardSpec(args.squares_x, args.squares_y, args.square_length, args.marker_length, args.dictionary)
    paths = write_board(spec, args.out, dpi=args.dpi)
    width, height = spec.size_m
    print(f"{spec.squares_x}x{spec.squares_y} board, {width * 1e3:.0f} x {height * 1e3:.0f} mm of squares")
    for path in paths.values():
        print(path)
    print("print the PDF at 100 % (actual size) and measure one square")
    return 0


def _solve(args: argparse.Namespace) -> int:
    from calibration.capture import solve_capture
    from calibration.extrinsics import save_extrinsics

    solution = solve_capture(
        args.capture_dir,
        calibration_id=args.id,
        board=args.board,
        method=args.method,
        min_views=args.min_views,
        max_reprojection_px=args.max_reprojection_px,
        max_residual_m=args.max_residual_mm / 1e3,
        max_residual_deg=args.max_residual_deg,
    )
    removed = solution.removed_views()
    for name, view in solution.views.items():
        if isinstance(view, str):
            print(f"view {name}: rejected: {view}")
        elif not view.accepted:
            print(f"view {name}: rejected: {view.reason}")
        elif name in removed:
            print(f"view {name}: removed: {removed[name]}")
        else:
            print(f"view {name}: {view.num_corners} corners, reprojection {view.reprojection_px:.3f} px")
    print(solution.report.table())
    out = Path(args.out) if args.out else Path(args.capture_dir) / "calibration.yaml"
    extrinsics = solution.extrinsics if args.child == "link" else solution.extrinsics.as_optical()
    save_extrinsics(out, extrinsics)
    print(f"wrote {out}: {extrinsics.base_frame} -> {extrinsics.camera_frame} ({extrinsics.method})")
    return 0


def _bag(args: argparse.Namespace) -> int:
    from calibration.bag_capture import BagTopics, capture_from_bag
    from calibration.board import load_board
    from calibration.capture import CaptureSettings

    settings = CaptureSettings(
        base_frame=args.base_frame,
        gripper_frame=args.gripper_frame,
        camera_frame=args.camera_frame,
        setup=args.setup,
        camera_serial=args.camera_serial,
    )
    topics = BagTopics(args.image_topic, args.camera_info_topic, args.pose_topic)
    board = load_board(args.board)
    names = capture_from_bag(args.bag, args.out, board, settings, topics, still_s=args.still_s)
    print(f"{len(names)} samples written to {args.out}; next: mtdagger calibrate solve {args.out}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from calibration.sim_cell import SimCellConfig
    from calibration.verify import format_table, verify_methods

    config = SimCellConfig(num_poses=args.poses)
    if args.camera_calibration:
        from calibration.extrinsics import load_extrinsics

        extrinsics = load_extrinsics(args.camera_calibration)
        placed = SimCellConfig.at_camera(extrinsics.T_base_optical, extrinsics.base_frame)
        config = dataclasses.replace(placed, num_poses=args.poses)
    from calibration.solve import SETUPS

    setups = tuple(part.strip() for part in args.setups.split(",") if part.strip())
    unknown = [setup for setup in setups if setup not in SETUPS]
    if unknown or not setups:
        print(f"error: --setups takes {', '.join(SETUPS)}; got {args.setups!r}", file=sys.stderr)
        return 2
    rows, planes = verify_methods(args.out, config, seed=args.seed, setups=setups)
    table = format_table(rows, planes)
    print(table)
    Path(args.out, "verification.md").write_text(table + "\n", encoding="utf-8")
    return 0

"""`mtdagger bag repair BAG`: make a killed evaluation bag readable by rosbags and `ros2 bag`.

The work is in `mtdagger.recording.repair`; this only prints what was done, or one line naming
the problem (exit 2) for a bag that cannot be repaired.
"""

from __future__ import annotations

import sys


def run(args) -> int:
    from mtdagger.recording.bag_reader import BagError
    from mtdagger.recording.repair import repair_bag

    try:
        result = repair_bag(args.bag, args.out, distro=args.distro)
    except (BagError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not result.repaired:
        print(f"{result.bag}: already complete (metadata.yaml and MCAP summary present); nothing to do")
        return 0
    for warning in result.warnings:
        print(f"note: {warning}")
    print(f"repaired {result.bag}: {result.messages} messages on {len(result.topics)} topics")
    if result.backup is not None:
        print(f"the killed recording is kept as {result.backup}")
    return 0

"""mtdagger: multitask DAgger for point-cloud manipulation policies, and the stack that deploys them.

The package is ROS-free: training, the simulator bridge, the ROS 2 nodes and the tools all import it.
"""

__version__ = "0.1.0"

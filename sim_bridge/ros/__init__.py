"""The rclpy simulator nodes (the sim bridge, the FR3 cell), their ROS-free cores and the lockstep loop.

No module here imports rclpy at module level: the nodes import it when they are built.
"""

"""ROS 2 nodes deploying mtdagger policies (thin rclpy wrappers around the mtdagger core).

Importing the package does not import rclpy: `launch_support` is ROS-free, used by the launch
files and tested without ROS. The nodes' logic lives in `mtdagger` (e.g. mtdagger.control).
"""

"""Rehearsal of a real FR3 trial without hardware: the real graph's nodes over real rclpy, the arm
played by the FR3 backend (sim_bridge/ros/fr3_cell_node.py), the evaluation bag recorded from the
ROS topics. See docs in mtdagger/rehearsal/graph.py and `mtdagger rehearse --help`."""

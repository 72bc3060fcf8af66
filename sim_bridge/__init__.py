"""Simulator backends behind one interface, simulated depth cameras, per-task experts, ROS bridge node."""

"""A real trial, guided: the plan, the operator console's logic, progress on disk, the episode
request the console sends the policy node. ROS-free except `ros_client` (rclpy, imported lazily)
and `tui` (Textual): the console's decisions are tested without either."""

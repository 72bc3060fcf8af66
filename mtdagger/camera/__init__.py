"""The RealSense depth camera driver (pyrealsense2): config, live/recorded camera, recording files."""

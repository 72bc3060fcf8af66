"""The simulated depth camera (config, MuJoCo rendering of a CameraModel) and its noise models."""

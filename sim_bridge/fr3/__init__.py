"""The Franka FR3 drawer cell: MJCF/URDF model, drawer suite, backend and config, the cell core, experts."""

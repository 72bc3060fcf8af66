"""What a deployment launch starts, decided without ROS: the launch-argument table
(`launch_args`), node parameter files (`node_config`), camera and calibration (`camera`), the
evaluation bag (`bags`) and the plan that turns argument values into each node's parameters
(`plan.deployment_plan`). The launch files, `mtdagger rehearse` and the in-process runtime all
take their settings from here, so they cannot drift apart."""

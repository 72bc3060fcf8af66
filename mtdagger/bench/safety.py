"""`mtdagger bench safety`: fuzz the safety filter and the arm command conversion (issue 11).

Not a test: a count over many inputs that must come out 0, plus the filter's latency. Every action
goes through `ArmControlCore` (twist interface: the filter, then the command shaping that leaves
for the robot), episode by episode, with the arm following each applied command (plus, in one
scenario, perturbations that throw it around). Scenarios, each a share of `--actions`:

- random: uniform displacements up to 5x the speed limit, gripper in [-3, 3];
- extreme values: components drawn from NaN, ±inf, ±1e308, ±max float, subnormals, 0 and normal
  values (so both finite overflows and non-finite input are hit);
- stale stamps: observation ages drawn from fresh, just stale, very stale, in the future, NaN, inf;
- wall-driving: a constant push at 5x the speed limit toward a random wall;
- oscillation: a full-speed push whose sign flips every 1-3 steps on random axes;
- perturbed arm: the measured position jumps (up to 20 cm, also out of the box) or turns NaN.

The inputs are generated vectorised (numpy) up front; the 10^6 calls themselves are Python calls
(about 150-250 us each on a laptop core, so the default run takes minutes; `--actions` scales
it). Outputs are checked vectorised after each scenario. Unsafe means any of: a non-finite
command, velocity or target; a gripper outside its bounds; speed above the limit; a velocity
change above max_accel * T (except when the filter reports 'accel_overridden_by_workspace', the
documented case of an arm found beyond the braking distance); a target further outside the
workspace than the measured position; a moving command for bad input (non-finite action or
position, stale or future stamp); a linear velocity that is not the applied displacement / T.

A joint-limit approach scenario drives a synthetic 3-joint arm (joint_trajectory interface, IK
per step, a few ms each, hence `--joint-steps`, not 10^6) toward a yaw limit; unsafe there is a
joint command within `joint_limit_margin_rad` of a hard limit. A joint-dynamics scenario (robots
with `joint_limits`; the FR3's URDF) sends random and adversarial actions (5x the step, reversals
every step, NaN) through the core in joint_trajectory mode and executes every trajectory it sends
with the trajectory-execution model at 1 kHz (perfect tracking); unsafe there is a control period
whose executed motion is beyond a joint position, velocity, acceleration or jerk limit.

Latency: `--timed` filter calls (random scenario inputs) timed one by one with perf_counter_ns.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace

import numpy as np

from mtdagger.bench.table import print_table

SCENARIOS = ("random", "extreme values", "stale stamps", "wall-driving", "oscillation", "perturbed arm")
EPISODE_STEPS = 200
_EXTREMES = np.array([np.nan, np.inf, -np.inf, 1e308, -1e308, np.finfo(np.float64).max,
                      -np.finfo(np.float64).max, 5e-324, -5e-324, 0.0, 0.004, -0.004, 1e-3])


def generate(scenario: str, n: int, limits, rng: np.random.Generator):
    """(actions (n,4), observation ages (n,), position jumps (n,3) or None) for one scenario."""
    step = limits.max_speed_m_s * limits.control_period_s  # the largest displacement per step
    ages = np.zeros(n)
    jumps = None
    if scenario == "random":
        actions = rng.uniform(-5 * step, 5 * step, size=(n, 4))
        actions[:, 3] = rng.uniform(-3, 3, size=n)
    elif scenario == "extreme values":
        actions = rng.choice(_EXTREMES, size=(n, 4))
    elif scenario == "stale stamps":
        actions = rng.uniform(-step, step, size=(n, 4))
        choices = np.array([0.0, 0.0, limits.max_observation_age_s * 1.01, 5.0, -0.5, np.nan, np.inf])
        ages = rng.choice(choices, size=n)
    elif scenario == "wall-driving":
        episodes = -(-n // EPISODE_STEPS)
        direction = np.zeros((episodes, 4))
        direction[np.arange(episodes), rng.integers(0, 3, episodes)] = rng.choice([-1.0, 1.0], episodes)
        actions = np.repeat(direction * 5 * step, EPISODE_STEPS, axis=0)[:n]
    elif scenario == "oscillation":
        period = rng.integers(1, 4, size=-(-n // EPISODE_STEPS))
        sign = np.concatenate([np.where((np.arange(EPISODE_STEPS) // p) % 2 == 0, 1.0, -1.0) for p in period])
        axes = rng.choice([0.0, 1.0], size=(n, 4))
        axes[:, 3] = 1.0
        actions = sign[:n, None] * axes * step
    elif scenario == "perturbed arm":
        actions = rng.uniform(-step, step, size=(n, 4))
        jumps = np.where(rng.random((n, 1)) < 0.05, rng.uniform(-0.2, 0.2, size=(n, 3)), 0.0)
        jumps[rng.random(n) < 0.01] = np.nan
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    return actions, ages, jumps


def run_scenario(core, actions, ages, jumps, rng):
    """Run the actions through `core` (episodes of EPISODE_STEPS); return per-step records."""
    limits = core.limits
    lo, hi = np.asarray(limits.workspace_min), np.asarray(limits.workspace_max)
    n = len(actions)
    applied = np.empty((n, 4))
    velocity = np.empty((n, 3))
    target = np.empty((n, 3))
    measured = np.empty((n, 3))
    moved = np.zeros(n, dtype=bool)
    new_episode = np.zeros(n, dtype=bool)
    overridden = np.zeros(n, dtype=bool)
    period = limits.control_period_s
    position = None
    for i in range(n):
        now = i * period
        if i % EPISODE_STEPS == 0:
            position = rng.uniform(lo, hi)
            core.on_ee_pose(position, now, (0.0, 0.0, 0.0, 1.0))
            core.start_episode()
            new_episode[i] = True
            seen = position
        observed = position if jumps is None else position + jumps[i]
        if np.all(np.isfinite(observed)):
            seen = observed  # the core keeps the last finite pose: the filter's position
        core.on_ee_pose(observed, now, (0.0, 0.0, 0.0, 1.0))
        command = core.on_action(actions[i], observation_stamp_s=now - ages[i], now_s=now)
        applied[i] = command.applied.action
        velocity[i] = command.linear_velocity_m_s
        target[i] = command.target_position
        measured[i] = seen
        moved[i] = command.applied.moved
        overridden[i] = "accel_overridden_by_workspace" in command.applied.reasons
        if np.all(np.isfinite(observed)):
            position = observed
        if moved[i]:
            position = command.target_position.copy()  # the arm follows its command
    return dict(applied=applied, velocity=velocity, target=target, measured=measured, moved=moved,
                new_episode=new_episode, overridden=overridden)


def count_unsafe(records, actions, ages, jumps, limits) -> dict[str, int]:
    """Vectorised checks of every output; each key counts the steps breaking that rule."""
    applied, velocity, target, measured = (records[k] for k in ("applied", "velocity", "target", "measured"))
    moved, period = records["moved"], limits.control_period_s
    lo, hi = np.asarray(limits.workspace_min), np.asarray(limits.workspace_max)
    speed_tol = 1e-6 * limits.max_speed_m_s
    finite = np.isfinite(applied).all(1) & np.isfinite(velocity).all(1) & np.isfinite(target).all(1)
    v = np.where(moved[:, None], applied[:, :3] / period, 0.0)
    previous = np.vstack([np.zeros((1, 3)), v[:-1]])
    previous[records["new_episode"]] = 0.0
    dv = np.linalg.norm(v - previous, axis=1)
    # A hold stops at once (safety.py rule 2): the bound applies to commands that move.
    accel_bad = (dv > limits.max_delta_v_m_s * (1 + 1e-6) + speed_tol) & ~records["overridden"] & moved
    above = target > np.maximum(hi, measured) + 1e-9
    further_out = (above | (target < np.minimum(lo, measured) - 1e-9)).any(1)
    with np.errstate(invalid="ignore"):
        bad_input = (~np.isfinite(actions).all(1) | ~np.isfinite(ages) | (ages > limits.max_observation_age_s)
                     | (ages < -limits.future_stamp_tolerance_s))
    # A NaN position is not bad input for the core: it keeps the last finite pose and its stamp,
    # so the age rules decide (12.5 ms later the pose is still fresh; 0.1 s later it is stale).
    twist_ok = np.isclose(velocity, applied[:, :3] / period, rtol=1e-6, atol=1e-12)
    return {
        "non_finite": int((~finite).sum()),
        "gripper": int(((applied[:, 3] < limits.gripper_min) | (applied[:, 3] > limits.gripper_max)).sum()),
        "speed": int((np.linalg.norm(v, axis=1) > limits.max_speed_m_s + speed_tol).sum()),
        "accel": int(accel_bad.sum()),
        "workspace": int(further_out.sum()),
        "moved_on_bad_input": int((moved & bad_input).sum()),
        "twist_mismatch": int((~twist_ok).any(1).sum()),
    }


def time_filter(limits, actions, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-call latency (microseconds) of the bare filter, `count` calls: (wall clock, thread CPU).

    Both, because on a shared machine the wall-clock tail is the scheduler preempting the process
    (milliseconds), not the filter; the thread's CPU time shows what the filter itself costs."""
    from mtdagger.control.safety import SafetyFilter

    safety = SafetyFilter(limits)
    position = (np.asarray(limits.workspace_min) + np.asarray(limits.workspace_max)) / 2
    safety.reset(position)
    wall, cpu = np.empty(count), np.empty(count)
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for i in range(count):
        action = actions[i % len(actions)]
        start, cpu_start = clock(), cpu_clock()
        command = safety.filter(action, ee_position=position, now_s=1.0, observation_stamp_s=1.0,
                                action_stamp_s=1.0)
        cpu[i] = (cpu_clock() - cpu_start) / 1000.0
        wall[i] = (clock() - start) / 1000.0
        position = command.target_position
        if i % EPISODE_STEPS == 0:
            safety.reset(position)
    return wall, cpu


_ARM_URDF = """<robot name="bench_arm">
<link name="base"/><link name="a"/><link name="b"/><link name="c"/><link name="tip"/>
<joint name="yaw" type="revolute"><parent link="base"/><child link="a"/><origin xyz="0 0 0.2"/>
<axis xyz="0 0 1"/><limit lower="-0.5" upper="0.5" effort="1" velocity="1"/></joint>
<joint name="shoulder" type="revolute"><parent link="a"/><child link="b"/><origin xyz="0 0 0"/>
<axis xyz="0 1 0"/><limit lower="-2.8" upper="2.8" effort="1" velocity="1"/></joint>
<joint name="elbow" type="revolute"><parent link="b"/><child link="c"/><origin xyz="0 0 0.4"/>
<axis xyz="0 1 0"/><limit lower="-2.8" upper="2.8" effort="1" velocity="1"/></joint>
<joint name="tip_joint" type="fixed"><parent link="c"/><child link="tip"/><origin xyz="0 0 0.3"/></joint>
</robot>"""


def joint_limit_approach(robot, steps: int, rng) -> tuple[int, int, int]:
    """(steps, joint commands inside a margin, holds for 'joint_limit_margin') driving yaw to ±0.5."""
    from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
    from mtdagger.control.kinematics import ArmKinematics, IkSettings
    from mtdagger.control.robot_config import ControllerTopics

    limits = replace(robot.safety, workspace_min=(-1.0, -1.0, 0.0), workspace_max=(1.0, 1.0, 1.0),
                     joint_limit_margin_rad={"yaw": 0.1})
    robot = replace(robot, joint_names=("yaw", "shoulder", "elbow"), safety=limits, joint_limits=None,
                    controllers=ControllerTopics(joint_trajectory_topic="/bench/joint_trajectory"))
    kinematics = ArmKinematics(_ARM_URDF, "base", "tip", IkSettings(hold_orientation=False))
    core = ArmControlCore(robot, ArmControlSettings("joint_trajectory"))
    core.set_kinematics(kinematics)
    inside = holds = 0
    margins = np.array([limits.margin_for(name) for name in kinematics.joint_names])  # the config's
    period = limits.control_period_s
    step = 0.5 * limits.max_speed_m_s * period
    joints = np.array([0.0, 0.6, 1.0])
    for i in range(steps):
        if i % 100 == 0:
            joints = np.array([rng.uniform(-0.3, 0.3), 0.6, 1.0])
            sign = rng.choice([-1.0, 1.0])
            core.on_joint_state(kinematics.joint_names, joints)
            core.on_ee_pose(kinematics.forward(joints)[:3, 3], i * period)
            core.start_episode()
        core.on_joint_state(kinematics.joint_names, joints)
        core.on_ee_pose(kinematics.forward(joints)[:3, 3], i * period)
        x, y, _ = kinematics.forward(joints)[:3, 3]
        tangent = np.array([-y, x]) / math.hypot(x, y) * sign  # drives the yaw toward its limit
        action = np.array([tangent[0] * step, tangent[1] * step, 0.0, 0.0])
        command = core.on_action(action, observation_stamp_s=i * period, now_s=i * period)
        if command.joint_positions is not None:
            # Checked from the limits directly (not with the IK's own rule): every episode starts
            # clear of the margins, so no joint command may ever enter one.
            q = np.asarray(command.joint_positions, dtype=np.float64)
            low = kinematics.joint_limits[:, 0] + margins
            high = kinematics.joint_limits[:, 1] - margins
            inside += bool(np.any((q < low - 1e-9) | (q > high + 1e-9)) or not np.all(np.isfinite(q)))
            joints = np.asarray(command.joint_positions, dtype=np.float64)
        holds += "joint_limit_margin" in command.applied.reasons
    return steps, inside, holds


def joint_dynamics(robot, steps: int, rng) -> tuple[int, int, int, str]:
    """(steps, periods beyond a joint limit, steps scaled or held by the limits, peak use of each
    limit) for random/adversarial actions through the FR3 core, executed at 1 kHz."""
    from scipy.spatial.transform import Rotation

    from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
    from mtdagger.control.joint_limits import peaks, violations
    from mtdagger.control.kinematics import ArmKinematics
    from mtdagger.control.trajectory_execution import TrajectoryExecution
    from sim_bridge.fr3.model import BASE_LINK, HOME_Q, TCP_LINK, fr3_urdf

    kinematics = ArmKinematics(fr3_urdf(), BASE_LINK, TCP_LINK)
    names, law = list(robot.joint_names), robot.execution_law()
    beyond = limited = 0
    use = dict.fromkeys(("velocity", "acceleration", "jerk"), 0.0)
    for i in range(steps):
        if i % 200 == 0:  # a new episode at rest
            core = ArmControlCore(robot, ArmControlSettings("joint_trajectory", 1.0))
            core.set_kinematics(kinematics)
            controller, previous = TrajectoryExecution(law, np.asarray(HOME_Q, float)), np.zeros(len(names))
        now, q = i * robot.safety.control_period_s, controller.desired[0]
        T = kinematics.forward(q)
        core.on_ee_pose(T[:3, 3], now, Rotation.from_matrix(T[:3, :3]).as_quat())
        core.on_joint_state(names, q)
        action = rng.uniform(-1, 1, 4) * 5 * robot.safety.max_speed_m_s * robot.safety.control_period_s
        action[:3] *= (-1) ** i  # a reversal every step
        if rng.random() < 0.02:
            action[rng.integers(3)] = np.nan
        command = core.on_action(action, now, now)
        if command.joint_positions is not None:
            controller.receive(core.trajectory_points(command.joint_positions))
        limited += any(r in command.applied.reasons for r in ("joint_limit_scaled", "joint_dynamics_hold"))
        samples = controller.advance(robot.safety.control_period_s)
        peak = peaks(samples, previous, law.update_period_s)
        previous = samples.accelerations[-1]
        beyond += bool(violations(peak, robot.joint_limits, names, tolerance=1e-6))
        for key in use:
            use[key] = max(use[key], float(np.max(peak[key] / robot.joint_limits.array(key, names))))
    return steps, beyond, limited, ", ".join(f"{k} {v:.0%}" for k, v in use.items())


def run(args) -> int:
    from mtdagger.control.arm_command import ArmControlCore, ArmControlSettings
    from mtdagger.control.robot_config import load_robot_config

    if args.actions < len(SCENARIOS) or args.timed < 1 or args.joint_steps < 0:
        print("error: --actions must be >= 6, --timed >= 1 and --joint-steps >= 0", file=sys.stderr)
        return 2
    try:
        robot = load_robot_config(args.robot)
    except (OSError, ValueError) as error:
        print(f"error: --robot: {error}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    limits = robot.safety
    rows, total_unsafe, started = [], 0, time.perf_counter()
    per_scenario = -(-args.actions // len(SCENARIOS))  # at least --actions in total
    for scenario in SCENARIOS:
        actions, ages, jumps = generate(scenario, per_scenario, limits, rng)
        core = ArmControlCore(robot, ArmControlSettings("twist"))
        records = run_scenario(core, actions, ages, jumps, rng)
        unsafe = count_unsafe(records, actions, ages, jumps, limits)
        total_unsafe += sum(unsafe.values())
        held = int((~records["moved"]).sum())
        broken = ", ".join(f"{k}={v}" for k, v in unsafe.items() if v) or "-"
        rows.append([scenario, per_scenario, held, sum(unsafe.values()), broken])
    if args.joint_steps:
        steps, inside, holds = joint_limit_approach(robot, args.joint_steps, rng)
        total_unsafe += inside
        rows.append(["joint-limit approach (IK)", steps, holds, inside, "inside margin" if inside else "-"])
        if robot.joint_limits is not None and robot.name == "franka_fr3":
            steps, beyond, limited, use = joint_dynamics(robot, args.joint_steps, rng)
            total_unsafe += beyond
            rows.append(["joint dynamics (FR3 IK, 1 kHz)", steps, limited, beyond,
                         "beyond a joint limit" if beyond else f"- (peak use: {use})"])
    wall, cpu = time_filter(limits, generate("random", 10_000, limits, rng)[0], args.timed)
    print_table(
        f"safety fuzz: {robot.name}, {per_scenario * len(SCENARIOS)} actions through ArmControlCore (twist), "
        f"seed {args.seed}, {time.perf_counter() - started:.0f} s",
        ["scenario", "steps", "held", "unsafe outputs", "rules broken"],
        rows,
    )
    for name, latency in (("wall clock", wall), ("thread CPU", cpu)):
        p50, p99, worst = np.percentile(latency, [50, 99, 100])
        print(f"filter latency ({name}) over {args.timed} calls: p50 {p50:.1f} us, p99 {p99:.1f} us, "
              f"max {worst:.1f} us (control period {limits.control_period_s * 1e3:.1f} ms)")
    print(f"unsafe outputs in total: {total_unsafe} (must be 0)")
    return 0 if total_unsafe == 0 else 1

"""Record a rehearsed trial driven through the operator console, in tmux (docs/results/trial.md).

The top pane runs the rehearsal graph (`mtdagger trial rehearse`: the real nodes, the MuJoCo FR3
cell playing the arm), the bottom pane the console (`mtdagger trial run`). A scripted operator
stands in for the person and only uses the console's keys: it confirms each scene when the
console says READY, waits for the cell's judge in the graph's log, presses s or f as the judge
said and types a note. Each screen is `tmux capture-pane -p` of the console pane.

    python scripts/record_trial_session.py PLAN --out DIR [--max-steps 120]

DIR gets graph.log, bag/ and screens.md; then `mtdagger report DIR/bag --out DIR/report`.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

SESSION = "mtdagger-trial"
JUDGE = re.compile(r"judge: plan episode (\d+) .*: (success|failure) in (\d+) steps")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def screen(pane: str) -> str:
    return "\n".join(line.rstrip() for line in tmux("capture-pane", "-p", "-t", pane).splitlines()).strip()


def wait_for(probe, what: str, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise SystemExit(f"record_trial_session: no {what} within {timeout_s:.0f} s")


def judged(log: Path, plan_episode: int) -> re.Match | None:
    """The cell's judge line for one plan episode, once the graph has logged it."""
    return next((m for m in JUDGE.finditer(log.read_text()) if int(m.group(1)) == plan_episode), None)


def operate_episode(console: str, log: Path, i: int, total: int, plan_episode: int, timeout_s: float) -> list:
    """What the operator does for one episode: confirm, watch, verdict from the judge, a note."""
    shots = []
    ready = f"{i - 1}/{total} episodes done"
    wait_for(lambda: "scene is ready" in screen(console) and ready in screen(console), f"READY of {i}",
             timeout_s)  # fmt: skip
    shots.append((f"episode {i}: READY, the next episode and its reset", screen(console)))
    tmux("send-keys", "-t", console, "Enter")
    wait_for(lambda: "RUNNING" in screen(console), f"RUNNING of episode {i}", timeout_s)
    time.sleep(4.0)
    shots.append((f"episode {i}: RUNNING, live status", screen(console)))
    verdict = wait_for(lambda: judged(log, plan_episode), f"judge of episode {i}", timeout_s)
    outcome, steps = verdict.group(2), verdict.group(3)
    title = f"episode {i}: the cell's judge says {outcome}; the operator presses {outcome[0]}"
    shots.append((title, screen(console)))
    tmux("send-keys", "-t", console, outcome[0])
    wait_for(lambda: "type a note" in screen(console), f"note prompt of episode {i}", 60.0)
    tmux("send-keys", "-t", console, "-l", f"judge said {outcome} in {steps} steps")
    time.sleep(1.0)
    shots.append((f"episode {i}: NOTE", screen(console)))
    tmux("send-keys", "-t", console, "Enter")
    return shots


def start_panes(plan: Path, out: Path, max_steps: int) -> str:
    """The graph in the top pane (its output teed to out/graph.log), the console below; its pane."""
    cli = f"{shlex.quote(sys.executable)} -m mtdagger.cli"
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    tmux("new-session", "-d", "-s", SESSION, "-x", "110", "-y", "44")
    graph = f"{cli} trial rehearse {shlex.quote(str(plan))} --bag {shlex.quote(str(out / 'bag'))}"
    log = shlex.quote(str(out / "graph.log"))
    graph += f" --max-steps {max_steps} --deadman-timeout 0.5 2>&1 | tee {log}"
    tmux("send-keys", "-t", f"{SESSION}:0.0", graph, "Enter")
    tmux("split-window", "-v", "-t", f"{SESSION}:0", "-l", "24")
    console = f"{SESSION}:0.1"
    run = f"{cli} trial run {shlex.quote(str(plan))} --service-timeout 60"
    tmux("send-keys", "-t", console, run, "Enter")
    return console


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plan", type=Path, help="plan YAML written by `mtdagger trial plan`")
    parser.add_argument("--out", type=Path, required=True, help="new folder for the log, bag and screens")
    parser.add_argument("--max-steps", type=int, default=120, help="control periods per episode at most")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for any one event")
    args = parser.parse_args()
    from mtdagger.trial.plan import load_plan

    episodes = load_plan(args.plan).episodes
    args.out.mkdir(parents=True)
    log = args.out / "graph.log"
    console = start_panes(args.plan, args.out, args.max_steps)
    shots: list[tuple[str, str]] = []
    total = len(episodes)
    for i, episode in enumerate(episodes, start=1):
        shots += operate_episode(console, log, i, total, episode.episode, args.timeout)
    wait_for(lambda: f"{total}/{total} episodes done" in screen(console), "the end of the plan", args.timeout)
    shots.append(("DONE", screen(console)))
    tmux("send-keys", "-t", console, "q")
    wait_for(lambda: "episodes ended by the console" in log.read_text(), "the graph's exit", 120.0)
    time.sleep(2.0)
    shots.append(("The graph's pane at the end", screen(f"{SESSION}:0.0")))
    tmux("kill-session", "-t", SESSION)
    text = "".join(f"#### {title}\n\n```text\n{body}\n```\n\n" for title, body in shots)
    (args.out / "screens.md").write_text(text)
    print(f"{total} episodes recorded: {args.out / 'screens.md'}")


if __name__ == "__main__":
    main()

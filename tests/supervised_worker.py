"""A stand-in chain process for tests/test_supervisor.py: heartbeats, crashes, hangs or finishes on request.

The supervisor starts it as `python -m tests.supervised_worker RUN_DIR` (from the repo root). It is
standalone on purpose (no gridscout.edge.runtime.daemon): only the bus's HeartbeatSender, and Subscriber when
asked to follow the run state. Its behaviour comes from RUN_DIR/worker.json:

    {"name": "w",              # the process name its heartbeats carry; when absent, the stem of the
                               # log file the supervisor made its stdout (<log_dir>/<name>.log)
     "mode": "ok",             # ok | crash_after_s | crash_always | hang_after_s | finish_after_s
     "after_s": 0.3,           # when to crash / hang / finish
     "exit_status": 1,         # the status of a crash
     "exit_on_stopping": false,  # exit 0 once run_control says "stopping" (as the real daemons do)
     "ignore_sigterm": false,
     "exit_delay_s": 0.0,      # on SIGTERM, work this long before exiting (a reporter's final writes), then log exit
     "by_name": {"vehicle": {"exit_on_stopping": true}}}  # per-process overrides of the above

crash_after_s and hang_after_s misbehave only on the first start (GRIDSCOUT_RESTARTS == "0"); a
restarted worker runs ok. crash_always exits after `after_s` (default 0) on every start. Started with
GRIDSCOUT_STOP_ONLY=1 (a supervisor shutting down while its vehicle process is down), it logs stop_only
and exits 0 at once.
It heartbeats every 0.1 s with ready=True and stats={"restarts": GRIDSCOUT_RESTARTS}, exits 0 on
SIGTERM (unless told to ignore it) and when its parent goes away, and appends one JSON line per
event (start, crash, hang, finish, sigterm, exit, stopping, stop_only) to RUN_DIR/worker-events.jsonl, with
`time.monotonic()` (one clock for the whole box) so the test can time restarts.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import zmq

from gridscout.edge.runtime.bus import Endpoints, HeartbeatSender, Subscriber
from gridscout.edge.runtime.messages import RunControl

EVENTS_FILE = "worker-events.jsonl"
BEAT_PERIOD_S = 0.1


def read_events(run_dir: Path) -> list[dict]:
    """The events every worker in `run_dir` logged so far, oldest first (used by the tests)."""
    path = Path(run_dir) / EVENTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _own_name(settings: dict) -> str:
    if settings.get("name"):
        return str(settings["name"])
    return Path(os.readlink("/proc/self/fd/1")).stem  # the supervisor's <log_dir>/<name>.log


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tests.supervised_worker RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    settings = json.loads((run_dir / "worker.json").read_text())
    name = _own_name(settings)
    settings = {**settings, **settings.get("by_name", {}).get(name, {})}
    mode = settings.get("mode", "ok")
    after_s = float(settings.get("after_s", 0.0))
    restarts = os.environ.get("GRIDSCOUT_RESTARTS", "0")
    first_start = restarts == "0"
    parent = os.getppid()

    def event(kind: str) -> None:
        line = json.dumps(
            {"t": time.monotonic(), "event": kind, "name": name, "pid": os.getpid(), "restarts": restarts}
        )
        with open(run_dir / EVENTS_FILE, "a") as f:
            f.write(line + "\n")

    stop = False

    def on_sigterm(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, signal.SIG_IGN if settings.get("ignore_sigterm") else on_sigterm)

    ctx = zmq.Context()
    endpoints = Endpoints("ipc", ipc_dir=run_dir)
    heartbeat = HeartbeatSender(ctx, endpoints, name, period_s=BEAT_PERIOD_S)
    run_control = Subscriber(ctx, endpoints, ["run_control"]) if settings.get("exit_on_stopping") else None
    event("start")
    if os.environ.get("GRIDSCOUT_STOP_ONLY") == "1":  # started during shutdown just to stop the vehicle
        event("stop_only")
        heartbeat.beat(ready=True, stats={"stop_only": 1.0}, force=True)
        heartbeat.close()
        ctx.destroy(linger=200)
        return 0
    started = time.monotonic()
    status = 0
    hung = False
    try:
        while True:
            if stop:
                event("sigterm")
                if settings.get("exit_delay_s"):
                    time.sleep(float(settings["exit_delay_s"]))
                    event("exit")
                break
            if os.getppid() != parent:
                break
            if run_control is not None and any(
                isinstance(r.msg, RunControl) and r.msg.state == "stopping" for r in run_control.drain()
            ):
                event("stopping")
                break
            elapsed = time.monotonic() - started
            misbehaves = mode == "crash_always" or (mode == "crash_after_s" and first_start)
            if misbehaves and elapsed >= after_s:
                status = int(settings.get("exit_status", 1))
                event("crash")
                break
            if mode == "finish_after_s" and elapsed >= after_s:
                event("finish")
                break
            if mode == "hang_after_s" and first_start and elapsed >= after_s:
                if not hung:
                    event("hang")
                    hung = True
                time.sleep(0.02)  # alive but silent: no more heartbeats
                continue
            heartbeat.beat(ready=True, stats={"restarts": float(restarts)})
            time.sleep(0.02)
    finally:
        heartbeat.close()
        if run_control is not None:
            run_control.close()
        ctx.destroy(linger=0)
    return status


if __name__ == "__main__":
    raise SystemExit(main())

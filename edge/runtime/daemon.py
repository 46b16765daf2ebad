"""What every chain process shares: its run spec, bus, heartbeat, run state and signal handling.

Processes run in their own session, so a terminal's Ctrl-C reaches only the supervisor, which
stops the vehicle first and then the rest. A process whose supervisor vanished (kill -9) exits.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import zmq

from gridscout.edge.runtime.bus import Endpoints, HeartbeatSender, Publisher, Subscriber
from gridscout.edge.runtime.messages import RunControl, check_publisher, check_subscriber
from gridscout.edge.runtime.runspec import RunSpec, read_runspec
from gridscout.edge.runtime.settings import ConfigView
from gridscout.edge.runtime.submaster import SubMaster

#: set by the supervisor when it starts the vehicle process only to stop the vehicle (see supervisor.shutdown)
STOP_ONLY_ENV = "GRIDSCOUT_STOP_ONLY"
#: how many times the supervisor has restarted a process (0 on the first start)
RESTARTS_ENV = "GRIDSCOUT_RESTARTS"


class Runtime:
    """One chain process's run spec, config, bus, heartbeat and run state. Publishing or subscribing to a
    topic the topic table does not give this process raises `TopicTableError` at once."""

    def __init__(self, process: str, argv: list[str] | None = None) -> None:
        args = sys.argv[1:] if argv is None else argv
        if len(args) != 1:
            raise SystemExit(
                f"usage: python -m {sys.modules['__main__'].__spec__.name} RUN_DIR (started by `gridscout run`)"
            )
        self.process = process
        self.spec: RunSpec = read_runspec(args[0])
        #: the config `gridscout run` validated, as plain values (no pydantic in the chain's light processes)
        self.config = ConfigView(self.spec.config)
        logging.basicConfig(
            level=logging.INFO,
            format=f"%(asctime)s {process}[%(process)d] %(levelname)s %(message)s",
        )
        self.log = logging.getLogger(process)
        self.ctx = zmq.Context()
        bus = self.config.bus
        self.endpoints = Endpoints(
            bus.transport, ipc_dir=self.spec_dir, tcp_host=bus.tcp_host, tcp_base_port=bus.tcp_base_port
        )
        self.heartbeat = HeartbeatSender(self.ctx, self.endpoints, process)
        check_subscriber(process, "run_control")
        self._run_control = Subscriber(self.ctx, self.endpoints, ["run_control"])
        self.run_state = "starting"
        self.stop_requested = False
        #: how many times the supervisor has restarted this process (0 on the first start)
        self.restarts = int(os.environ.get(RESTARTS_ENV, "0"))
        #: started only to stop the vehicle during shutdown
        self.stop_only = os.environ.get(STOP_ONLY_ENV) == "1"
        self._parent = os.getppid()
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    @property
    def spec_dir(self) -> Path:
        return Path(self.spec.run_dir)

    @property
    def mode(self) -> str:
        return self.config.run.mode

    def make_realtime(self) -> None:
        """Run this process under SCHED_FIFO (as openpilot does for its control loop), so a busy
        perception process cannot delay it; fall back to normal scheduling when not permitted."""
        priority = self.config.supervisor.realtime_priority
        if priority == 0 or not hasattr(os, "sched_setscheduler"):
            return
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            self.log.info("running with SCHED_FIFO priority %d", priority)
        except (PermissionError, OSError) as exc:
            self.log.warning("no realtime scheduling (%s); timing may suffer under load", exc)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stop_requested = True

    def publisher(self, topic: str, *, hwm: int = 100) -> Publisher:
        check_publisher(self.process, topic)
        return Publisher(self.ctx, self.endpoints, topic, hwm=hwm)

    def subscriber(self, topics: list[str], *, hwm: int = 100) -> Subscriber:
        for topic in topics:
            check_subscriber(self.process, topic)
        return Subscriber(self.ctx, self.endpoints, topics, hwm=hwm)

    def submaster(self, topics: list[str], *, hwm: int = 100) -> SubMaster:
        for topic in topics:
            check_subscriber(self.process, topic)
        return SubMaster(self.ctx, self.endpoints, topics, hwm=hwm)

    def poll(self) -> None:
        """Take in run-state changes; notice a vanished supervisor."""
        for received in self._run_control.drain():
            if isinstance(received.msg, RunControl):
                self.run_state = received.msg.state
        if os.getppid() != self._parent:
            self.log.warning("supervisor gone; exiting")
            self.stop_requested = True

    @property
    def should_stop(self) -> bool:
        return self.stop_requested or self.run_state == "stopping"

    def wait_until_running(
        self,
        beat_stats: dict[str, float] | None = None,
        timeout_s: float = 60.0,
        idle: Callable[[], object] | None = None,
    ) -> bool:
        """Heartbeat as ready until the supervisor says go (calling `idle` meanwhile). False when told to stop."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll()
            if self.should_stop:
                return False
            if self.run_state == "running":
                return True
            self.heartbeat.beat(ready=True, stats=beat_stats)
            if idle is not None:
                idle()
            else:
                time.sleep(0.02)
        self.log.error("supervisor never said go within %.0f s", timeout_s)
        return False

    def close(self) -> None:
        self.heartbeat.close()
        self._run_control.close()
        self.ctx.destroy(linger=200)


def run_daemon(
    process: str, body: Callable[[Runtime], int], argv: list[str] | None = None, *, realtime: bool = False
) -> int:
    """A daemon's `main`: its Runtime, optionally under SCHED_FIFO, `body(rt)`, and the Runtime closed after."""
    rt = Runtime(process, argv)
    if realtime:
        rt.make_realtime()
    try:
        return body(rt)
    finally:
        rt.close()

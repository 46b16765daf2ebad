"""Starts the process table, watches heartbeats, restarts with backoff, and shuts down vehicle-first.

A process that dies, or that stops heartbeating for its watchdog period, is killed and started
again after a delay that doubles with each failure in a row (reset once it has been healthy for
`HEALTHY_RESET_S`). Shutdown tells everyone `stopping`, waits for the vehicle process to stop
the vehicle and exit, then SIGTERMs the rest in waves of equal `stop_rank`, each once the wave before
has exited, and SIGKILLs stragglers. The vehicle is stopped whatever state its process is in: when it
is down (waiting for a restart) or hung, a fresh one is started just to send STOP. Children die with
the supervisor (Linux PR_SET_PDEATHSIG, and each also watches its parent), so a kill -9 of
`gridscout run` leaves no orphan.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from gridscout.edge.config import SupervisorConfig
from gridscout.edge.runtime.bus import Endpoints, HeartbeatReceiver, Publisher
from gridscout.edge.runtime.daemon import RESTARTS_ENV, STOP_ONLY_ENV
from gridscout.edge.runtime.messages import ChainStatus, ProcessState, RunControl
from gridscout.edge.runtime.process_table import ProcessSpec

log = logging.getLogger(__name__)

HEALTHY_RESET_S = 30.0


@dataclass
class Managed:
    spec: ProcessSpec
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    last_beat: float | None = None
    ready: bool = False
    stats: dict[str, float] = field(default_factory=dict)
    restarts: int = 0
    failures_in_a_row: int = 0
    restart_at: float | None = None
    #: when the supervisor found it failed, until it is ready again; the longest such outage (s)
    failed_at: float | None = None
    longest_outage_s: float = 0.0
    finished: bool = False
    #: the running process was started only to stop the vehicle (its counters are kept apart)
    stop_only: bool = False
    stop_only_stats: dict[str, float] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


class Supervisor:
    def __init__(
        self,
        specs: list[ProcessSpec],
        run_dir: Path,
        config: SupervisorConfig,
        ctx: zmq.Context,
        endpoints: Endpoints,
        log_dir: Path,
    ) -> None:
        self.run_dir = run_dir
        self.config = config
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs = {s.name: Managed(s) for s in specs}
        self._heartbeats = HeartbeatReceiver(ctx, endpoints)
        self._run_control = Publisher(ctx, endpoints, "run_control")
        self._chain_status = Publisher(ctx, endpoints, "chain_status")
        self._last_chain_pub = 0.0
        self.state = "starting"
        self._last_state_pub = 0.0
        self.events: list[str] = []

    # -- starting ---------------------------------------------------------------------------
    def start(self) -> None:
        for managed in self.procs.values():
            self._spawn(managed)

    def _spawn(self, m: Managed, *, stop_only: bool = False) -> None:
        env = {**os.environ, RESTARTS_ENV: str(m.restarts), "PYTHONUNBUFFERED": "1"}
        if stop_only:
            env[STOP_ONLY_ENV] = "1"
        with open(self.log_dir / f"{m.spec.name}.log", "ab") as logfile:
            m.proc = subprocess.Popen(
                [sys.executable, "-m", m.spec.module, str(self.run_dir)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the vehicle first
                preexec_fn=_child_setup(os.getpid(), m.spec.nice),
            )
        m.started_at = time.monotonic()
        m.last_beat, m.ready, m.restart_at, m.stop_only = None, False, None, stop_only
        log.info("started %s (pid %d)%s", m.spec.name, m.proc.pid, " to stop the vehicle" if stop_only else "")

    def set_state(self, state: str) -> None:
        self.state = state
        self._publish_state()

    def _publish_state(self) -> None:
        self._run_control.publish(RunControl(t_mono_ns=time.monotonic_ns(), state=self.state))
        self._last_state_pub = time.monotonic()

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.tick(0.05)
            if all(m.ready or m.finished for m in self.procs.values()):
                return True
        missing = [m.spec.name for m in self.procs.values() if not (m.ready or m.finished)]
        log.error("not ready after %.0f s: %s (see %s)", timeout_s, ", ".join(missing), self.log_dir)
        return False

    # -- watching ---------------------------------------------------------------------------
    def _take_heartbeats(self, timeout_s: float) -> None:
        for beat in self._heartbeats.recv_all(timeout_s):
            m = self.procs.get(beat.process)
            if m is None or m.proc is None or beat.pid != m.proc.pid:
                continue  # a late beat from a process we already replaced
            m.last_beat, m.ready = time.monotonic(), m.ready or beat.ready
            if m.ready and m.failed_at is not None:
                outage = m.last_beat - m.failed_at
                m.longest_outage_s, m.failed_at = max(m.longest_outage_s, outage), None
                log.info("%s ready again %.2f s after it failed", m.spec.name, outage)
            if beat.stats:
                if m.stop_only:
                    m.stop_only_stats = dict(beat.stats)
                else:
                    m.stats = dict(beat.stats)

    def tick(self, timeout_s: float = 0.05) -> None:
        self._take_heartbeats(timeout_s)
        now = time.monotonic()
        for m in self.procs.values():
            self._check(m, now)
        if now - self._last_state_pub > 0.5:
            self._publish_state()
        if now - self._last_chain_pub >= 1.0:
            self._publish_chain(now)

    def _publish_chain(self, now: float) -> None:
        """`chain_status`: each process, alive or not, ready or not, and its restarts (for the live page)."""
        self._last_chain_pub = now
        processes = tuple(
            ProcessState(m.spec.name, m.alive, m.ready, m.restarts, _why_down(m)) for m in self.procs.values()
        )
        self._chain_status.publish(ChainStatus(t_mono_ns=time.monotonic_ns(), state=self.state, processes=processes))

    def _check(self, m: Managed, now: float) -> None:
        if m.finished:
            return
        if m.restart_at is not None:
            if now >= m.restart_at and self.state != "stopping":
                self._spawn(m)
            return
        assert m.proc is not None
        rc = m.proc.poll()
        if rc is not None:
            if rc == 0 and m.spec.may_finish:
                m.finished = True
                log.info("%s finished", m.spec.name)
                return
            self._failed(m, f"{m.spec.name} exited with status {rc}")
            return
        if m.failures_in_a_row and now - m.started_at > HEALTHY_RESET_S:
            m.failures_in_a_row = 0
        limit = m.spec.watchdog_s
        if limit is None:
            return
        since = m.last_beat if m.last_beat is not None else m.started_at
        allowed = limit if m.last_beat is not None else max(limit, self.config.startup_grace_s)
        if now - since > allowed:
            m.proc.kill()
            m.proc.wait()
            self._failed(m, f"{m.spec.name} sent no heartbeat for {now - since:.1f} s (watchdog {allowed:.1f} s)")

    def _failed(self, m: Managed, why: str) -> None:
        m.failures_in_a_row += 1
        m.restarts += 1
        delay = min(self.config.restart_initial_s * 2 ** (m.failures_in_a_row - 1), self.config.restart_max_s)
        m.restart_at = time.monotonic() + delay
        m.ready = False
        m.failed_at = m.failed_at or time.monotonic()  # a failed restart extends the same outage
        self.events.append(why)
        log.warning("%s; restarting in %.1f s (restart %d)", why, delay, m.restarts)

    # -- stopping ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        self.set_state("stopping")
        timeout = self.config.shutdown_timeout_s
        ordered = sorted(self.procs.values(), key=lambda m: m.spec.stop_rank)
        # The vehicle process goes first and on its own: it stops the vehicle, then exits. One that is
        # down is started to do just that; one that does not exit in time (hung) is killed and replaced.
        vehicle = [m for m in ordered if m.spec.stops_vehicle]
        for attempt in range(2):
            for m in vehicle:
                if not m.alive:
                    self._spawn(m, stop_only=True)
            self._wait_exit(vehicle, time.monotonic() + timeout)
            hung = [m for m in vehicle if m.alive]
            for m in hung:
                log.warning("%s did not stop the vehicle and exit in %.1f s; killing it", m.spec.name, timeout)
                m.proc.kill()
                m.proc.wait()
            if not hung or attempt:
                break
        # Then the rest go in waves of equal stop_rank, each once the one before has exited, so that a later rank
        # hears an earlier one's last words (the recorder the reporter's final writes). Whoever in a wave is left
        # when its time is up is killed.
        for rank in sorted({m.spec.stop_rank for m in ordered}):
            wave = [m for m in ordered if m.spec.stop_rank == rank and m.alive]
            for m in wave:
                m.proc.send_signal(signal.SIGTERM)
            self._wait_exit(wave, time.monotonic() + timeout)
            for m in wave:
                if m.alive:
                    log.warning("%s did not exit in %.1f s; killing it", m.spec.name, timeout)
                    m.proc.kill()
                    m.proc.wait()
        self._take_heartbeats(0.05)  # the last words of processes that exited together
        self._heartbeats.close()
        self._run_control.close()

    def _wait_exit(self, group: list[Managed], deadline: float) -> None:
        while time.monotonic() < deadline and any(m.alive for m in group):
            self._publish_state()
            self._take_heartbeats(0.05)

    def stats(self, name: str) -> dict[str, float]:
        m = self.procs.get(name)
        return dict(m.stats) if m else {}


def _why_down(m: Managed) -> str:
    if m.alive:
        return ""
    return "finished" if m.finished else "restarting" if m.restart_at is not None else "down"


_PR_SET_PDEATHSIG = 1


def _child_setup(parent_pid: int, nice: int):
    """A Popen preexec_fn: the child gets SIGTERM when the supervisor dies (Linux), and exits at once if it
    already has (elsewhere the daemons' own parent check does the same a little later); it starts `nice`
    steps nicer than the supervisor (its process spec's)."""

    def preexec() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:
            os._exit(1)
        if nice:
            with contextlib.suppress(OSError):
                os.nice(nice)

    return preexec

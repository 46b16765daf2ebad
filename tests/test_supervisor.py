"""The supervisor with real child processes (tests/supervised_worker.py) over real ipc:// heartbeats.

Each test writes the worker's behaviour to RUN_DIR/worker.json, starts a Supervisor on it and drives
`tick()` as `gridscout run` does. The workers log their starts, crashes and exits with the box's
monotonic clock to RUN_DIR/worker-events.jsonl, which is how restart delays are measured.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import zmq

from gridscout.edge.config import SupervisorConfig
from gridscout.edge.runtime.bus import Endpoints
from gridscout.edge.runtime.process_table import BACKGROUND_NICE, PROCESSES, ProcessSpec
from gridscout.edge.runtime.supervisor import Supervisor
from tests.supervised_worker import read_events

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER = "tests.supervised_worker"

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def _from_repo_root(monkeypatch):
    # children run `python -m tests.supervised_worker` in our cwd
    monkeypatch.chdir(REPO_ROOT)


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # short: unix socket paths are limited to ~100 bytes
    path = Path(tempfile.mkdtemp(prefix="gs-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_supervisor(run_dir) -> Iterator[Callable[..., Supervisor]]:
    """Builds a supervisor on `run_dir`; whatever a test leaves running is killed afterwards."""
    ctx = zmq.Context()
    made: list[Supervisor] = []

    def make(specs: list[ProcessSpec], behaviour: dict, **config) -> Supervisor:
        (run_dir / "worker.json").write_text(json.dumps(behaviour))
        settings = {
            "startup_grace_s": 5.0,
            "restart_initial_s": 0.2,
            "restart_max_s": 2.0,
            "shutdown_timeout_s": 2.0,
            **config,
        }
        sup = Supervisor(
            specs, run_dir, SupervisorConfig(**settings), ctx, Endpoints("ipc", ipc_dir=run_dir), run_dir / "logs"
        )
        made.append(sup)
        return sup

    yield make
    for sup in made:
        for m in sup.procs.values():
            if m.proc is not None and m.proc.poll() is None:
                m.proc.kill()
                m.proc.wait()
    ctx.destroy(linger=0)


def spec(name: str = "w", **kwargs) -> ProcessSpec:
    return ProcessSpec(name, WORKER, watchdog_s=kwargs.pop("watchdog_s", 2.0), **kwargs)


def tick_until(sup: Supervisor, done: Callable[[], bool], timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        sup.tick(0.02)
        if done():
            return True
    return False


def tick_for(sup: Supervisor, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sup.tick(0.02)


def events_of(run_dir: Path, kind: str, name: str | None = None) -> list[dict]:
    return [e for e in read_events(run_dir) if e["event"] == kind and (name is None or e["name"] == name)]


def logs(sup: Supervisor) -> str:
    return "\n".join(p.read_text() for p in sorted(sup.log_dir.glob("*.log")))


def test_healthy_process_gets_ready_and_is_left_alone(make_supervisor, run_dir):
    """A worker that heartbeats is ready within a few seconds, keeps its pid and is never restarted."""
    sup = make_supervisor([spec("w")], {"name": "w", "mode": "ok"})
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    pid = sup.procs["w"].pid
    tick_for(sup, 1.0)
    m = sup.procs["w"]
    assert m.ready
    assert m.restarts == 0
    assert sup.events == []
    assert m.pid == pid and m.proc.poll() is None
    assert m.stats == {"restarts": 0.0}
    assert len(events_of(run_dir, "start")) == 1


def test_background_processes_start_nicer_than_the_critical_path(make_supervisor, run_dir):
    """The chain's reporter, recorder and API yield the CPU to the path a command waits on."""
    background = {p.name for p in PROCESSES if p.nice}
    assert background == {"reporter", "recorder", "api"}
    assert all(p.nice == BACKGROUND_NICE for p in PROCESSES if p.nice)
    sup = make_supervisor([spec("bg", nice=BACKGROUND_NICE), spec("fg")], {"mode": "ok"})
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    ours = psutil.Process().nice()
    assert psutil.Process(sup.procs["bg"].pid).nice() == min(19, ours + BACKGROUND_NICE)
    assert psutil.Process(sup.procs["fg"].pid).nice() == ours


def test_crash_is_restarted_after_the_backoff(make_supervisor, run_dir):
    """A worker exiting with status 3 is started again after restart_initial_s, with GRIDSCOUT_RESTARTS=1."""
    sup = make_supervisor(
        [spec("w")], {"name": "w", "mode": "crash_after_s", "after_s": 0.3, "exit_status": 3}, restart_initial_s=0.2
    )
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    first_pid = sup.procs["w"].pid
    m = sup.procs["w"]
    assert tick_until(sup, lambda: m.restarts == 1 and m.ready, 5.0), (sup.events, logs(sup))
    assert m.pid != first_pid
    assert any("exited with status 3" in e for e in sup.events), sup.events
    assert m.stats == {"restarts": 1.0}  # the new process was told it is a restart
    assert not psutil.pid_exists(first_pid) or psutil.Process(first_pid).status() == psutil.STATUS_ZOMBIE

    crash = events_of(run_dir, "crash")[0]
    restart = events_of(run_dir, "start")[1]
    assert restart["restarts"] == "1"
    delay = restart["t"] - crash["t"]
    assert 0.2 <= delay < 1.5, f"restarted {delay:.2f} s after the crash; restart_initial_s is 0.2"
    tick_for(sup, 0.3)
    assert m.restarts == 1  # the restarted worker runs ok


def test_hung_process_is_killed_after_its_watchdog_and_restarted(make_supervisor, run_dir):
    """A worker that stops heartbeating (but stays alive) is killed after watchdog_s and started again."""
    sup = make_supervisor(
        [spec("w", watchdog_s=0.5)], {"name": "w", "mode": "hang_after_s", "after_s": 0.2}, restart_initial_s=0.1
    )
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    m = sup.procs["w"]
    hung_proc = m.proc
    assert tick_until(sup, lambda: m.restarts == 1, 5.0), (sup.events, logs(sup))
    detected = time.monotonic()
    assert hung_proc.returncode == -9  # it was alive, so the supervisor killed it
    assert len(sup.events) == 1 and "no heartbeat" in sup.events[0], sup.events
    hang = events_of(run_dir, "hang")[0]
    assert detected - hang["t"] >= 0.5 - 0.1  # last beat is up to one period before the hang
    assert tick_until(sup, lambda: m.ready, 5.0), logs(sup)
    assert m.proc is not hung_proc and m.proc.poll() is None
    tick_for(sup, 0.6)  # longer than the watchdog: the restarted worker beats, so it stays
    assert m.restarts == 1


def test_process_that_may_finish_is_not_restarted_after_exit_0(make_supervisor, run_dir):
    """With may_finish=True, exiting 0 means done: no restart and no event (a finished file camera)."""
    sup = make_supervisor(
        [spec("cam", may_finish=True)], {"name": "cam", "mode": "finish_after_s", "after_s": 0.2}, restart_initial_s=0.1
    )
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    m = sup.procs["cam"]
    assert tick_until(sup, lambda: m.finished, 3.0), logs(sup)
    tick_for(sup, 0.35)  # several restart delays
    assert m.restarts == 0 and sup.events == []
    assert len(events_of(run_dir, "start")) == 1
    assert sup.wait_ready(0.1)  # a finished process does not hold up readiness


def test_process_that_may_not_finish_is_restarted_after_exit_0(make_supervisor, run_dir):
    """The counterpart: without may_finish, exiting 0 is a failure like any other and is restarted."""
    sup = make_supervisor([spec("w")], {"name": "w", "mode": "finish_after_s", "after_s": 0.2}, restart_initial_s=0.1)
    sup.start()
    m = sup.procs["w"]
    assert tick_until(sup, lambda: m.restarts >= 1, 5.0), logs(sup)
    assert not m.finished
    assert "exited with status 0" in sup.events[0]


def test_shutdown_stops_vehicle_first_then_sigterms_the_rest(make_supervisor, run_dir):
    """Shutdown: the vehicle (rank 0) exits on `stopping`, the rest on SIGTERM; all gone well within the timeout."""
    behaviour = {"mode": "ok", "by_name": {"vehicle": {"exit_on_stopping": True}}}
    specs = [
        spec("perception", stop_rank=3),
        spec("vehicle", stop_rank=0, stops_vehicle=True),
        spec("control", stop_rank=1),
    ]
    sup = make_supervisor(specs, behaviour, shutdown_timeout_s=3.0)
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    sup.set_state("running")
    pids = {name: m.pid for name, m in sup.procs.items()}

    start = time.monotonic()
    sup.shutdown()
    took = time.monotonic() - start

    assert took < 3.0, f"shutdown took {took:.1f} s; nobody should have needed killing"
    for name, m in sup.procs.items():
        assert m.proc.poll() is not None, f"{name} still running"
        assert m.proc.returncode == 0, f"{name} exited {m.proc.returncode} (killed?)"
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    assert not children & set(pids.values())
    assert all(not psutil.pid_exists(pid) for pid in pids.values())
    # the vehicle followed the run state; the others needed the signal, and went after it
    assert [e["name"] for e in events_of(run_dir, "stopping")] == ["vehicle"]
    sigtermed = events_of(run_dir, "sigterm")
    assert sorted(e["name"] for e in sigtermed) == ["control", "perception"]
    vehicle_exit = events_of(run_dir, "stopping")[0]["t"]
    assert all(e["t"] > vehicle_exit for e in sigtermed)
    assert sup.events == []


def test_each_stop_rank_gets_sigterm_once_the_rank_before_has_exited(make_supervisor, run_dir):
    """The recorder (a later rank) is SIGTERMed only once the reporter has made its final writes and exited: when
    both got SIGTERM together, a final write made under load after the recorder's last read was not recorded."""
    behaviour = {"mode": "ok", "by_name": {"vehicle": {"exit_on_stopping": True}, "reporter": {"exit_delay_s": 0.6}}}
    specs = [
        spec("recorder", stop_rank=9),
        spec("reporter", stop_rank=8),
        spec("perception", stop_rank=3),
        spec("vehicle", stop_rank=0, stops_vehicle=True),
    ]
    sup = make_supervisor(specs, behaviour, shutdown_timeout_s=2.0)
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    sup.shutdown()
    assert {name: m.proc.returncode for name, m in sup.procs.items()} == dict.fromkeys(sup.procs, 0)
    at = {(e["name"], e["event"]): e["t"] for e in read_events(run_dir)}
    assert at[("perception", "sigterm")] < at[("reporter", "sigterm")]
    assert at[("reporter", "exit")] < at[("recorder", "sigterm")], at


def test_the_recorder_stops_after_every_process_whose_messages_it_records():
    """In the shipped table the recorder is the only process of the last rank but the API (which publishes nothing
    it records)."""
    ranks = {p.name: p.stop_rank for p in PROCESSES}
    assert all(rank < ranks["recorder"] for name, rank in ranks.items() if name not in ("recorder", "api"))


def test_shutdown_kills_a_process_that_ignores_sigterm(make_supervisor, run_dir):
    """A process that ignores both `stopping` and SIGTERM is SIGKILLed after shutdown_timeout_s (0.3 s)."""
    sup = make_supervisor(
        [spec("vehicle", stop_rank=0, stops_vehicle=True), spec("stubborn", stop_rank=5)],
        {"mode": "ok", "by_name": {"vehicle": {"exit_on_stopping": True}, "stubborn": {"ignore_sigterm": True}}},
        shutdown_timeout_s=0.3,
    )
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    start = time.monotonic()
    sup.shutdown()
    took = time.monotonic() - start
    assert sup.procs["vehicle"].proc.returncode == 0
    assert sup.procs["stubborn"].proc.returncode == -9
    assert 0.3 <= took < 2.0
    assert not psutil.pid_exists(sup.procs["stubborn"].pid)


def test_restart_delay_doubles_for_a_process_that_keeps_crashing(make_supervisor, run_dir):
    """Each failure in a row doubles the wait (0.05, 0.1, 0.2) up to restart_max_s (0.2); not a tight loop."""
    sup = make_supervisor(
        [spec("w")], {"name": "w", "mode": "crash_always", "after_s": 0.0}, restart_initial_s=0.05, restart_max_s=0.2
    )
    sup.start()
    m = sup.procs["w"]
    # watch from the supervisor's side: the wait it scheduled after each crash, and when it spawned again
    # (no upper bound on the spawn's lateness: a busy machine may tick late, and that is not the rule)
    scheduled: list[tuple[float, float]] = []  # (noticed at, restart at)
    spawned: list[float] = [m.started_at]
    end = time.monotonic() + 6.0
    while len(spawned) < 5 and time.monotonic() < end:
        before = time.monotonic()
        sup.tick(0.01)
        if m.restarts > len(scheduled):
            scheduled.append((before, m.restart_at))
        if m.started_at != spawned[-1]:
            spawned.append(m.started_at)
    assert len(spawned) == 5, (sup.events, logs(sup))
    expected = [0.05, 0.1, 0.2, 0.2]
    waits = [round(at - noticed, 3) for noticed, at in scheduled]
    for got, want in zip(waits, expected, strict=True):
        # measured from just before the tick that noticed the crash: at least the wait, and at most one tick more
        assert want <= got <= want + 0.25, f"scheduled waits {waits}, expected {expected}"
    for (_, at), started in zip(scheduled, spawned[1:], strict=True):
        assert started >= at  # never respawned before its wait was over: not a tight loop
    assert m.restarts == 4
    assert len(sup.events) == 4 and all("exited with status 1" in e for e in sup.events), sup.events
    assert len(events_of(run_dir, "crash")) == 4  # the workers really ran and crashed each time
    assert not m.ready


def test_first_rank_processes_that_miss_stopping_still_get_sigterm(make_supervisor, run_dir):
    """Two processes tied for the first stop_rank that exit on SIGTERM only: SIGTERMed, not killed, in one timeout."""
    sup = make_supervisor([spec("a"), spec("b")], {"mode": "ok"}, shutdown_timeout_s=0.25)
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    start = time.monotonic()
    sup.shutdown()
    took = time.monotonic() - start
    assert {name: m.proc.returncode for name, m in sup.procs.items()} == {"a": 0, "b": 0}
    assert took < 2 * 0.25


def test_shutdown_while_the_vehicle_waits_for_its_restart_still_stops_the_vehicle(make_supervisor, run_dir):
    """Scenario: the vehicle process crashed and its restart is seconds away when shutdown begins. Nobody
    would send STOP; so the supervisor starts it once more, in stop-only mode, before stopping the rest."""
    behaviour = {"mode": "ok", "by_name": {"vehicle": {"mode": "crash_after_s", "after_s": 0.3}}}
    specs = [spec("vehicle", stop_rank=0, stops_vehicle=True), spec("control", stop_rank=1)]
    sup = make_supervisor(specs, behaviour, restart_initial_s=5.0)
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    vehicle = sup.procs["vehicle"]
    assert tick_until(sup, lambda: vehicle.restart_at is not None, 5.0), logs(sup)  # crashed, restart pending
    sup.shutdown()
    assert [e["name"] for e in events_of(run_dir, "stop_only")] == ["vehicle"]
    stop_only = events_of(run_dir, "stop_only")[0]["t"]
    assert all(e["t"] > stop_only for e in events_of(run_dir, "sigterm", "control"))
    assert vehicle.stop_only_stats == {"stop_only": 1.0} and vehicle.stats != vehicle.stop_only_stats


def test_a_vehicle_process_that_hangs_at_shutdown_is_killed_and_replaced_to_send_stop(make_supervisor, run_dir):
    """A vehicle process that ignores `stopping` and SIGTERM (hung in a driver call, say) is killed after the
    timeout, and a stop-only one takes its place."""
    behaviour = {"mode": "ok", "by_name": {"vehicle": {"ignore_sigterm": True}}}
    sup = make_supervisor([spec("vehicle", stop_rank=0, stops_vehicle=True)], behaviour, shutdown_timeout_s=0.4)
    sup.start()
    assert sup.wait_ready(5.0), logs(sup)
    hung = sup.procs["vehicle"].proc
    sup.shutdown()
    assert hung.returncode == -9
    assert [e["name"] for e in events_of(run_dir, "stop_only")] == ["vehicle"]

"""`gridscout run`: check the inputs, start the process chain, watch it, summarise and judge it.

Before anything starts, a child process opens the source and loads the model, and the vehicle's
serial device, the API port and the data directory are checked: bad input is one line and exit 2.
Then the supervisor starts the process table (the vehicle simulator included, for `sim-crawler`) and
waits for every process to be ready; the vehicle is ready once it has shaken hands, within
`vehicle.connect_timeout_s`. With a file source the run ends when the footage has been through the
chain; with a live source it runs until Ctrl-C or SIGTERM. Either way the vehicle is told to stop
before anything else shuts down. The summary's verdict (`RunSummary.ok`) is the exit status.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import zmq

from gridscout.edge.api.token import resolve_token
from gridscout.edge.config import Config, override
from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE
from gridscout.edge.recording.policy import recordings_dir
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.bus import Endpoints
from gridscout.edge.runtime.messages import StorageStatus, VehicleStatus, check_publisher, check_subscriber
from gridscout.edge.runtime.ports import free_port_block
from gridscout.edge.runtime.process_table import enabled_processes
from gridscout.edge.runtime.runspec import RunSpec, write_runspec
from gridscout.edge.runtime.submaster import SubMaster
from gridscout.edge.runtime.summary import HELD_PREFIX, RecordingReport, RunSummary, VehicleReport
from gridscout.edge.runtime.supervisor import Supervisor
from gridscout.hardware.secrets import redact_uri
from gridscout.hardware.vehicle.uri import parse_vehicle_uri

log = logging.getLogger(__name__)

#: after the footage ends, how long the chain may take to work through what is in flight
DRAIN_TIMEOUT_S = 15.0
#: at the end of a run, how long a vehicle that is reconnecting gets before it counts as lost
END_RECONNECT_GRACE_S = 5.0
PROCESS = "supervisor"


class ChainError(RuntimeError):
    """The run cannot start: bad input, named in the message (exit 2)."""


def _preflight(source: str, model: Path) -> None:
    """Fail early, with the source's or the model's own error, rather than in a restarting process.
    (In a child, so this long-lived supervisor never loads OpenCV or onnxruntime.)"""
    probe = subprocess.run(
        [sys.executable, "-m", "gridscout.edge.runtime.preflight", "--source", source, "--model", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        why = lines[-1] if lines else f"source {redact_uri(source)!r} or model {model} did not open"
        raise ChainError(f"cannot run: {redact_uri(why)}")


def _check_vehicle(config: Config) -> Config:
    """A serial device that does not exist is named now, not after a connect timeout, and so is a MAVLink vehicle
    without a mission to fly. Returns the config with the MAVLink simulator's port chosen (when it is 0)."""
    uri = config.vehicle.uri
    target = parse_vehicle_uri(uri)
    device = target.serial_device
    if device is not None and not Path(device).exists():
        what = "the crawler" if target.driver == "crawler" else "the autopilot"
        raise ChainError(
            f"vehicle {uri!r}: {device} does not exist (is {what} plugged in and powered? "
            "`ls /dev/serial/by-id/` lists the serial adapters present)"
        )
    if target.driver == "mavlink" and config.mission.file is None:
        raise ChainError(
            f"vehicle {uri!r}: a MAVLink vehicle needs a mission to fly (--mission FILE; "
            f"`gridscout mission here --vehicle {uri} -o mission.geojson` writes one where the vehicle is; "
            "see docs/flying.md)"
        )
    if target.simulated and target.driver == "mavlink" and config.vehicle.sim_port == 0:
        config = override(config, "vehicle.sim_port", _free_sim_port())
    return config


def _free_sim_port() -> int:
    """A free loopback port for the MAVLink simulator, which binds it again across its restarts (below the
    ephemeral range, so no outgoing connection takes it meanwhile)."""
    try:
        return free_port_block(1)
    except RuntimeError as exc:
        raise ChainError(f"no free loopback port for the vehicle simulator (set vehicle.sim_port): {exc}") from exc


def _check_api_address(host: str, port: int) -> None:
    """A busy port would leave the API process restarting forever; say so up front."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ChainError(
                f"fleet API address {host}:{port} is not available ({exc.strerror}); another `gridscout run` or "
                "`gridscout serve`? Use --api HOST:PORT or --no-api"
            ) from exc


class Watch:
    """What the supervisor process follows on the bus: camera, vehicle and storage status, as the table says."""

    def __init__(self, ctx: zmq.Context, endpoints: Endpoints, uri: str) -> None:
        topics = ["camera_status", "vehicle_status", "storage_status"]
        for topic in topics:
            check_subscriber(PROCESS, topic)
        check_publisher(PROCESS, "run_control")
        check_publisher(PROCESS, "chain_status")
        self.sm = SubMaster(ctx, endpoints, topics)
        self.vehicle = VehicleReport(uri=uri, detail="the vehicle process has not reported yet")
        self._said = ""
        self._storage_said = "ok"

    def update(self, out: Callable[[str], None]) -> None:
        self.sm.update(0.0)
        self._say_storage(out)
        status: VehicleStatus | None = self.sm["vehicle_status"]
        if status is None:
            return
        connected_once = self.vehicle.connected_once  # a restarted vehicle process starts its own count
        self.vehicle = VehicleReport.from_status(status)
        self.vehicle.connected_once |= connected_once
        if not self.sm.fresh("vehicle_status"):  # its process is down: what it last said no longer holds
            self.vehicle.link, self.vehicle.detail = "CLOSED", "the vehicle process is not reporting"
        # Say so, loudly, when a connected vehicle goes away, and when it comes back.
        if self.vehicle.connected_once:
            now = "connected" if status.link == "CONNECTED" else f"{status.link.lower()}: {status.detail}"
            if now != self._said and (self._said or now != "connected"):
                out(f"vehicle    {status.uri}: {now}")
            self._said = now

    def _say_storage(self, out: Callable[[str], None]) -> None:
        """A line when the data disk runs low or full, and when it is fine again."""
        storage: StorageStatus | None = self.sm["storage_status"]
        if storage is None or storage.state == self._storage_said:
            return
        out(f"storage    {storage.data_dir}: {storage.state}" + (f": {storage.detail}" if storage.detail else ""))
        self._storage_said = storage.state

    def close(self) -> None:
        self.sm.close()


def _wait_for_start(sup: Supervisor, watch: Watch, config: Config, out: Callable[[str], None]) -> str:
    """Tick until every process is ready. Returns '' or why the chain cannot run."""
    t0 = time.monotonic()
    grace, connect = config.supervisor.startup_grace_s, config.vehicle.connect_timeout_s
    while True:
        sup.tick(0.05)
        watch.update(out)
        waiting = [m for m in sup.procs.values() if not (m.ready or m.finished)]
        if not waiting:
            return ""
        elapsed = time.monotonic() - t0
        vehicle = [m for m in waiting if m.spec.stops_vehicle]
        if vehicle and (watch.vehicle.link == "REFUSED" or elapsed > connect):
            return ""  # the verdict names the vehicle and the reason
        others = [m.spec.name for m in waiting if not m.spec.stops_vehicle]
        if others and elapsed > grace:
            return f"the chain did not start: {', '.join(others)} not ready after {grace:.0f} s"


def _wait_for_end(sup: Supervisor, watch: Watch, out: Callable[[str], None]) -> int | None:
    """Return once the footage has ended and the chain has worked through it (None), or a signal arrives (its
    number)."""
    stop: dict = {"now": False, "signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        log.warning("%s: stopping the vehicle and shutting down", signal.Signals(signum).name)
        stop["now"], stop["signal"] = True, signum

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ended_at: float | None = None
        while not stop["now"]:
            sup.tick(0.05)
            watch.update(out)
            camera = sup.stats("camera")
            if camera.get("ended") and ended_at is None:
                ended_at = time.monotonic()
            if ended_at is not None:
                last = camera.get("frames", 0) - 1
                reporter = sup.stats("reporter").get("last_frame_id", -1)
                perception = sup.stats("perception").get("last_frame_id", -1)
                idle = time.monotonic() - ended_at > 1.5 and reporter >= perception
                if reporter >= last or idle or time.monotonic() - ended_at > DRAIN_TIMEOUT_S:
                    break
        # At the end of the footage, a vehicle reconnecting right now (its simulator just restarted, say) gets a
        # moment to come back. Not after Ctrl-C: then the crew wants it stopped now.
        deadline = time.monotonic() + (0.0 if stop["now"] else END_RECONNECT_GRACE_S)
        while watch.vehicle.connected_once and watch.vehicle.link != "CONNECTED" and time.monotonic() < deadline:
            sup.tick(0.05)
            watch.update(out)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return stop["signal"]


def summarise(sup: Supervisor, config: Config, source: str, vehicle: VehicleReport, elapsed_s: float) -> RunSummary:
    cam, per, ctl = sup.stats("camera"), sup.stats("perception"), sup.stats("control")
    veh, rep = sup.stats("vehicle"), sup.stats("reporter")
    recording = RecordingReport(enabled=False)
    if config.recorder.enabled:
        directory = recordings_dir(config.recorder.dir, config.run.data_dir)
        recording = RecordingReport.from_stats(str(directory), sup.stats("recorder"))
    return RunSummary(
        mode=config.run.mode,
        source=redact_uri(source),
        vehicle=vehicle,
        frames=int(cam.get("frames", 0)),
        processed=int(per.get("frames", 0)),
        dropped_camera=int(cam.get("dropped_frames", 0)),
        dropped_perception=int(per.get("dropped_frames", 0)),
        missing_frames=int(cam.get("missing_frames", 0)),
        store_errors=int(rep.get("store_errors", 0)),
        store_pending=int(rep.get("store_pending", 0)),
        reports_created=int(rep.get("reports_created", 0)),
        reports_updated=int(rep.get("reports_updated", 0)),
        commands=int(veh.get("commands_written", 0)),
        stops=int(veh.get("stops_written", 0)),
        control_commands=int(ctl.get("commands", 0)),
        held={k.removeprefix(HELD_PREFIX): int(v) for k, v in ctl.items() if k.startswith(HELD_PREFIX) and v},
        faults={
            "gate stops": int(ctl.get("fault_stops", 0)),
            "camera reconnects": int(cam.get("reconnects", 0)),
            "corrupt frames": int(cam.get("corrupt_frames", 0)),
            "vehicle link errors": int(veh.get("link_errors", 0)),
            "commands dropped (vehicle not connected)": int(veh.get("commands_dropped", 0)),
            "process failures": len(sup.events),
            "recording errors": recording.errors + recording.retention_errors,
        },
        restarts={name: m.restarts for name, m in sup.procs.items()},
        outages_s={name: round(m.longest_outage_s, 2) for name, m in sup.procs.items() if m.longest_outage_s},
        data_dir=config.run.data_dir,
        elapsed_s=elapsed_s,
        recording=recording,
    )


def run_chain(config: Config, *, out: Callable[[str], None] = print) -> RunSummary:
    """Run the whole chain under `config` until the footage ends or a signal; return the judged summary.
    Raises ChainError (before starting anything) for bad input."""
    source = config.run.source or str(DEMO_FOOTAGE)
    model = Path(config.perception.model or DEFAULT_MODEL)
    config = _check_vehicle(config)
    if config.api.enabled:
        _check_api_address(config.api.host, config.api.port)
    _preflight(source, model)
    data_dir = Path(config.run.data_dir)
    store = ReportStore(data_dir, device_id=config.run.device_id or None)
    device_id = store.device_id
    run_id = uuid.uuid4().hex if config.run.mode == "live" else _replay_run_id(source, model)
    tally_before = store.run_tally(run_id)  # a replay's run id repeats: count only what this run adds
    seq_before = store.latest_seq()
    store.close()
    token = ""
    if config.api.enabled:
        token, generated = resolve_token(data_dir, configured=config.api.token or None)
        if generated:
            out(f"API token (generated, kept in {data_dir / 'api_token'}; shown once): {token}")
    run_dir = Path(tempfile.mkdtemp(prefix="gs-"))  # short: unix socket paths are limited to ~100 bytes
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    _log_to(log_dir / "supervisor.log")
    ctx = zmq.Context()
    sup: Supervisor | None = None
    watch: Watch | None = None
    interrupted_by: int | None = None
    t0 = time.monotonic()
    try:
        write_runspec(
            RunSpec(
                run_id=run_id,
                run_dir=str(run_dir),
                config=config.model_dump(),
                source=source,
                model=str(model),
                data_dir=str(data_dir),
                device_id=device_id,
                api_token=token,
            )
        )
        bus = config.bus
        endpoints = Endpoints(bus.transport, ipc_dir=run_dir, tcp_host=bus.tcp_host, tcp_base_port=bus.tcp_base_port)
        watch = Watch(ctx, endpoints, config.vehicle.uri)
        sup = Supervisor(enabled_processes(config), run_dir, config.supervisor, ctx, endpoints, log_dir)
        out(f"vehicle    {config.vehicle.uri}; connecting (logs in {log_dir})")
        sup.start()
        error = _wait_for_start(sup, watch, config, out)
        if not error and all(m.ready for m in sup.procs.values() if m.spec.stops_vehicle):
            if config.api.enabled:
                scheme = "https" if config.api.tls_cert else "http"
                out(f"fleet API  {scheme}://{config.api.host}:{config.api.port}/v1/health (Bearer token required)")
            out(f"running    {config.run.mode} on {redact_uri(source)}; Ctrl-C stops the vehicle and exits")
            sup.set_state("running")
            interrupted_by = _wait_for_end(sup, watch, out)
        vehicle = watch.vehicle  # its link as the run ended, before shutdown closes it
        sup.shutdown()
        vehicle = vehicle.with_counts(sup.stats("vehicle"))
        summary = summarise(sup, config, source, vehicle, time.monotonic() - t0)
        summary = _reports_from_store(summary, data_dir, device_id, run_id, tally_before, seq_before)
        summary.error = error
        summary.interrupted_by = interrupted_by
        return summary
    finally:
        if sup is not None and sup.state != "stopping":
            sup.shutdown()
        if watch is not None:
            watch.close()
        ctx.destroy(linger=0)
        shutil.rmtree(run_dir, ignore_errors=True)


def _log_to(path: Path) -> None:
    """The supervisor's own log, in full, beside the processes' logs (the terminal shows warnings only)."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s supervisor[%(process)d] %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("gridscout")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    verbose = logging.getLogger().level <= logging.DEBUG
    for existing in logging.getLogger().handlers:
        if existing.level == logging.NOTSET and not verbose:
            existing.setLevel(logging.WARNING)


def _reports_from_store(
    summary: RunSummary, data_dir: Path, device_id: str, run_id: str, before: tuple[int, int], seq_before: int
) -> RunSummary:
    """The summary's report counts as the store has them: each insert is a report and an observation, each
    update an observation (a restarted reporter once left the summary at 0 reports while the store held 4); and
    of the reports this run wrote, those without an evidence image."""
    try:
        with ReportStore(data_dir, device_id=device_id) as store:
            reports, observations = store.run_tally(run_id)
            without_evidence = store.without_evidence(run_id, since_seq=seq_before)
    except (OSError, sqlite3.Error) as exc:  # the processes' own counts, and why
        log.warning("report counts from the reporter's memory: the store in %s did not answer (%s)", data_dir, exc)
        return summary
    created = reports - before[0]
    return replace(
        summary, reports_created=created, reports_updated=observations - before[1] - created,
        reports_without_evidence=without_evidence,
    )  # fmt: skip


def _replay_run_id(source: str, model: Path) -> str:
    """Replay: the same footage and model give the same run id, so the same report ids."""
    key = f"{Path(source).resolve() if Path(source).exists() else source}|{model}"
    return uuid.uuid5(uuid.NAMESPACE_URL, key).hex

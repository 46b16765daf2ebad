"""`gridscout run`: resolve the config, start the vehicle and the process chain, watch, summarise.

With a file source the run ends when the footage ends and the last frame has been through the
chain; with a live source it runs until Ctrl-C or SIGTERM. Either way the vehicle is told to stop
before anything else shuts down.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from gridscout.edge.api.token import resolve_token
from gridscout.edge.config import Config
from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE
from gridscout.edge.reports.store import ReportStore
from gridscout.edge.runtime.bus import Endpoints
from gridscout.edge.runtime.process_table import enabled_processes
from gridscout.edge.runtime.runspec import RunSpec, write_runspec
from gridscout.edge.runtime.supervisor import Supervisor
from gridscout.hardware.vehicle.uri import SimCrawler, parse_vehicle_uri

log = logging.getLogger(__name__)

#: after the footage ends, how long the chain may take to work through what is in flight
DRAIN_TIMEOUT_S = 15.0


@dataclass
class RunSummary:
    mode: str
    source: str
    frames: int = 0
    processed: int = 0
    dropped_camera: int = 0
    dropped_perception: int = 0
    reports_created: int = 0
    reports_updated: int = 0
    commands: int = 0
    stops: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    data_dir: str = ""
    elapsed_s: float = 0.0

    def format(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in self.faults.items() if v) or "none"
        restarts = ", ".join(f"{k} {v}" for k, v in self.restarts.items() if v) or "none"
        return "\n".join(
            [
                f"run        {self.mode} on {self.source} ({self.elapsed_s:.1f} s)",
                f"frames     {self.frames} published, {self.processed} processed; dropped: "
                f"{self.dropped_camera} by the camera, {self.dropped_perception} by perception",
                f"defects    {self.reports_created} reports ({self.reports_updated} updates)",
                f"commands   {self.commands} written to the vehicle, {self.stops} of them stops",
                f"faults     {faults}",
                f"restarts   {restarts}",
                f"reports    {self.data_dir} (gridscout reports list --data {self.data_dir})",
            ]
        )


class ChainError(RuntimeError):
    """The chain could not start or run; the message says what and where to look."""


def _check_source(uri: str) -> None:
    """Fail early, with the source's own error, rather than in a restarting camera process.
    (In a child, so this long-lived supervisor never loads OpenCV.)"""
    probe = subprocess.run(
        [sys.executable, "-m", "gridscout.hardware.camera.probe", uri], capture_output=True, text=True, timeout=60
    )
    if probe.returncode != 0:
        raise ChainError(f"cannot run: {probe.stderr.strip() or f'source {uri!r} did not open'}")


def _check_model(path: Path) -> None:
    if not path.is_file():
        raise ChainError(f"{path}: model not found (expected an .onnx file or a cascade .toml manifest)")


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


def _wait_for_end(sup: Supervisor) -> None:
    """Return once the footage has ended and the chain has worked through it (or a signal arrives)."""
    stop = {"now": False}

    def on_signal(signum: int, _frame: object) -> None:
        log.warning("%s: stopping the vehicle and shutting down", signal.Signals(signum).name)
        stop["now"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ended_at: float | None = None
        while not stop["now"]:
            sup.tick(0.05)
            camera = sup.stats("camera")
            if camera.get("ended") and ended_at is None:
                ended_at = time.monotonic()
            if ended_at is not None:
                last = camera.get("frames", 0) - 1
                reporter = sup.stats("reporter").get("last_frame_id", -1)
                perception = sup.stats("perception").get("last_frame_id", -1)
                idle = time.monotonic() - ended_at > 1.5 and reporter >= perception
                if reporter >= last or idle or time.monotonic() - ended_at > DRAIN_TIMEOUT_S:
                    return
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def summarise(sup: Supervisor, config: Config, source: str, elapsed_s: float) -> RunSummary:
    cam, per, ctl = sup.stats("camera"), sup.stats("perception"), sup.stats("control")
    veh, rep = sup.stats("vehicle"), sup.stats("reporter")
    return RunSummary(
        mode=config.run.mode,
        source=source,
        frames=int(cam.get("frames", 0)),
        processed=int(per.get("frames", 0)),
        dropped_camera=int(cam.get("dropped_frames", 0)),
        dropped_perception=int(per.get("dropped_frames", 0)),
        reports_created=int(rep.get("reports_created", 0)),
        reports_updated=int(rep.get("reports_updated", 0)),
        commands=int(veh.get("commands_written", 0)),
        stops=int(veh.get("stops_written", 0)),
        faults={
            "gate stops": int(ctl.get("fault_stops", 0)),
            "camera reconnects": int(cam.get("reconnects", 0)),
            "corrupt frames": int(cam.get("corrupt_frames", 0)),
            "link errors": int(veh.get("link_errors", 0)),
            "failed commands": int(veh.get("commands_failed", 0)),
            "process failures": len(sup.events),
        },
        restarts={name: m.restarts for name, m in sup.procs.items()},
        data_dir=config.run.data_dir,
        elapsed_s=elapsed_s,
    )


def run_chain(config: Config, *, out=print) -> RunSummary:
    """Run the whole chain under `config` until the footage ends or a signal; return the summary."""
    source = config.run.source or str(DEMO_FOOTAGE)
    _check_source(source)
    target = parse_vehicle_uri(config.vehicle.uri, config.vehicle.baud)
    model = Path(config.perception.model or DEFAULT_MODEL)
    _check_model(model)
    if config.api.enabled:
        _check_api_address(config.api.host, config.api.port)
    data_dir = Path(config.run.data_dir)
    store = ReportStore(data_dir, device_id=config.run.device_id or None)
    device_id = store.device_id
    store.close()
    token = ""
    if config.api.enabled:
        token, generated = resolve_token(data_dir, config.api.token or None)
        if generated:
            out(f"API token (generated, kept in {data_dir / 'api_token'}; shown once): {token}")
    run_dir = Path(tempfile.mkdtemp(prefix="gs-"))  # short: unix socket paths are limited to ~100 bytes
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    sim = None
    ctx = zmq.Context()
    sup: Supervisor | None = None
    t0 = time.monotonic()
    try:
        if target.simulated:
            sim = SimCrawler(
                line_length_m=config.vehicle.sim_line_length_m,
                heartbeat_timeout_s=config.vehicle.sim_heartbeat_timeout_s,
                log_path=log_dir / "crawler-sim.jsonl",
            )
            out(f"vehicle    simulated crawler on {sim.link} (log {sim.log_path})")
        spec = RunSpec(
            run_id=uuid.uuid4().hex if config.run.mode == "live" else _replay_run_id(source, model),
            run_dir=str(run_dir),
            config=config.model_dump(),
            source=source,
            model=str(model),
            data_dir=str(data_dir),
            device_id=device_id,
            vehicle_link=sim.link if sim else target.link,
            vehicle_baud=target.baud,
            api_token=token,
        )
        write_runspec(spec)
        bus = config.bus
        endpoints = Endpoints(bus.transport, ipc_dir=run_dir, tcp_host=bus.tcp_host, tcp_base_port=bus.tcp_base_port)
        sup = Supervisor(enabled_processes(config), run_dir, config.supervisor, ctx, endpoints, log_dir)
        sup.start()
        if not sup.wait_ready(config.supervisor.startup_grace_s):
            raise ChainError(f"the chain did not start; process logs are in {log_dir}")
        if config.api.enabled:
            out(f"fleet API  http://{config.api.host}:{config.api.port}/v1/health (Bearer token required)")
        out(f"running    {config.run.mode} on {source}; Ctrl-C stops the vehicle and exits")
        sup.set_state("running")
        _wait_for_end(sup)
        sup.shutdown()
        return summarise(sup, config, source, time.monotonic() - t0)
    finally:
        if sup is not None and sup.state != "stopping":
            sup.shutdown()
        if sim is not None:
            sim.close()
        ctx.destroy(linger=0)
        shutil.rmtree(run_dir, ignore_errors=True)


def _replay_run_id(source: str, model: Path) -> str:
    """Replay: the same footage and model give the same run id, so the same report ids."""
    key = f"{Path(source).resolve() if Path(source).exists() else source}|{model}"
    return uuid.uuid5(uuid.NAMESPACE_URL, key).hex

"""The vehicle simulator as a chain process (`vehicle.uri` = "sim-crawler", "sim-drone" or "sim-rover"):
supervised like the rest.

- sim-crawler: a simulated crawler on a pseudo-terminal, linked at `sim_link_path(run_dir)`, so a restarted
  simulator (after kill -9) is found at the same path by the vehicle process, which reconnects.
- sim-drone, sim-rover: the MAVLink simulator serving TCP on the loopback port `vehicle.sim_port` (chosen by
  `gridscout run`, bound again by a restarted simulator), armed at the start of the mission's flight path.

Its log goes to `data_dir/logs/` (crawler-sim.jsonl, drone-sim.jsonl or rover-sim.jsonl). It stops after the
vehicle process, so the shutdown STOP is answered.
"""

from __future__ import annotations

from pathlib import Path

from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.settings import mav_sim_config, mission, sim_config
from gridscout.hardware.sim.serving import EventLog
from gridscout.hardware.vehicle.uri import SIM_HOST, SIM_VEHICLES, sim_link_path

#: in data_dir/logs: the simulators' JSON-lines logs (commands, events, state)
SIM_LOG = "crawler-sim.jsonl"


def sim_log_name(kind: str) -> str:
    """The log file of the simulator of vehicle kind `kind`, in data_dir/logs."""
    return f"{SIM_VEHICLES[kind]}-sim.jsonl" if kind in SIM_VEHICLES else SIM_LOG


def _server(rt: Runtime, log: EventLog):
    """The simulator of the configured kind, serving; and where (for the log)."""
    cfg = rt.config.vehicle
    if cfg.uri in SIM_VEHICLES:
        from gridscout.hardware.sim.mavlink.server import MavSimServer, SimPort

        flight = mission(rt.config.mission)
        if flight is None:
            raise SystemExit(f"vehicle {cfg.uri}: no mission to start on ([mission] file; gridscout run sets one)")
        port = SimPort(tcp=(SIM_HOST, cfg.sim_port))
        return MavSimServer(port, mav_sim_config(cfg, flight), log), port.url
    from gridscout.hardware.sim.crawler.server import PtyLink, SimServer

    link = PtyLink(sim_link_path(rt.spec_dir))
    return SimServer(link, sim_config(cfg), log), link.url


def run(rt: Runtime) -> int:
    kind = rt.config.vehicle.uri
    log_path = Path(rt.spec.data_dir) / "logs" / sim_log_name(kind)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = EventLog(log_path, name=f"{SIM_VEHICLES.get(kind, 'crawler')}-sim")  # notable events also go to stderr
    server, url = _server(rt, log)
    rt.log.info("simulated %s on %s (log %s)", kind.removeprefix("sim-"), url, log_path)
    stats = {"restarts": float(rt.restarts)}
    try:
        while not rt.stop_requested:  # not on `stopping`: the vehicle's STOP must still be answered
            server.step()
            rt.heartbeat.beat(stats=stats)
            rt.poll()
        server.log.write({"event": "shutdown", "signal": "SIGTERM"})
    finally:
        server.close()
        rt.heartbeat.beat(stats=stats, force=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_daemon("vehicle-sim", run, argv, realtime=True)


if __name__ == "__main__":
    raise SystemExit(main())

"""The vehicle simulator as a chain process (`vehicle.uri = "sim-crawler"`): supervised like the rest.

It serves a simulated crawler on a pseudo-terminal and links it at `sim_link_path(run_dir)`, so a
restarted simulator (after kill -9) is found at the same path by the vehicle process, which reconnects.
Its command log goes to `data_dir/logs/crawler-sim.jsonl`. It stops after the vehicle process, so the
shutdown STOP is acknowledged.
"""

from __future__ import annotations

from pathlib import Path

from gridscout.edge.runtime.daemon import Runtime, run_daemon
from gridscout.edge.runtime.settings import sim_config
from gridscout.hardware.sim.crawler.server import EventLog, PtyLink, SimServer
from gridscout.hardware.vehicle.uri import sim_link_path

#: in data_dir/logs: the simulator's JSON-lines log (commands, events, state)
SIM_LOG = "crawler-sim.jsonl"


def run(rt: Runtime) -> int:
    cfg = rt.config.vehicle
    link = PtyLink(sim_link_path(rt.spec_dir))
    log_path = Path(rt.spec.data_dir) / "logs" / SIM_LOG
    log_path.parent.mkdir(parents=True, exist_ok=True)
    server = SimServer(link, sim_config(cfg), EventLog(log_path))  # notable events also go to this process's log
    rt.log.info("simulated crawler on %s (log %s)", link.url, log_path)
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

"""The declarative list of the chain's processes (cf. openpilot's process_config.py).

Each entry: a name, a module with `main(argv)`, when it runs, and its watchdog. The supervisor
starts them in this order and stops them in `stop_rank` order, each rank once the one before has exited: the
vehicle first, so it is told to stop before anything else goes away, the vehicle simulator late, so that STOP is
answered, and the recorder last, so that it records everyone's last words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gridscout.edge.config import Config
from gridscout.hardware.vehicle.uri import parse_vehicle_uri


def _always(_: Config) -> bool:
    return True


def _simulated_vehicle(config: Config) -> bool:
    return parse_vehicle_uri(config.vehicle.uri).simulated


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    module: str
    #: restart when no heartbeat arrives for this long (None: only when it dies)
    watchdog_s: float | None
    enabled: Callable[[Config], bool] = _always
    #: lower stops first
    stop_rank: int = 5
    #: a clean exit (status 0) means the process is done, not that it crashed
    may_finish: bool = False
    #: this process stops the vehicle: on shutdown it goes first, and it is started just to send STOP
    #: when it is not running then (crashed and waiting for its restart, or hung and killed)
    stops_vehicle: bool = False
    #: niceness it starts with: background work (reports, recording, the API) yields the CPU to the
    #: camera -> perception -> control path that a command waits on (control and vehicle run SCHED_FIFO)
    nice: int = 0


#: the background processes' niceness: CPU weight about a third of the critical path's under contention, enough
#: for the recorder's few ms a frame with every core busy
BACKGROUND_NICE = 5


PROCESSES: tuple[ProcessSpec, ...] = (
    ProcessSpec(
        "vehicle-sim", "gridscout.edge.daemons.vehicle_simd", watchdog_s=2.0, enabled=_simulated_vehicle, stop_rank=7
    ),
    ProcessSpec("reporter", "gridscout.edge.daemons.reporterd", watchdog_s=5.0, stop_rank=8, nice=BACKGROUND_NICE),
    ProcessSpec(
        "recorder",
        "gridscout.edge.daemons.recorderd",
        watchdog_s=5.0,
        enabled=lambda c: c.recorder.enabled,
        stop_rank=9,  # after the reporter: its final writes, made on SIGTERM, are recorded
        nice=BACKGROUND_NICE,
    ),
    ProcessSpec(
        "api",
        "gridscout.edge.daemons.apid",
        watchdog_s=10.0,
        enabled=lambda c: c.api.enabled,
        stop_rank=9,
        nice=BACKGROUND_NICE,
    ),
    ProcessSpec("vehicle", "gridscout.edge.daemons.vehicled", watchdog_s=1.0, stop_rank=0, stops_vehicle=True),
    ProcessSpec("control", "gridscout.edge.daemons.controld", watchdog_s=1.0, stop_rank=1),
    ProcessSpec("perception", "gridscout.edge.daemons.perceptiond", watchdog_s=5.0, stop_rank=3),
    ProcessSpec("camera", "gridscout.edge.daemons.camerad", watchdog_s=5.0, stop_rank=2, may_finish=True),
)


def enabled_processes(config: Config) -> list[ProcessSpec]:
    return [p for p in PROCESSES if p.enabled(config)]

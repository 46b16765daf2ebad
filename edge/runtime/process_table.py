"""The declarative list of the chain's processes (cf. openpilot's process_config.py).

Each entry: a name, a module with `main(argv)`, when it runs, and its watchdog. The supervisor
starts them in this order and stops them in `stop_rank` order (the vehicle first, so it is told
to stop before anything else goes away).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gridscout.edge.config import Config


def _always(_: Config) -> bool:
    return True


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


PROCESSES: tuple[ProcessSpec, ...] = (
    ProcessSpec("reporter", "gridscout.edge.daemons.reporterd", watchdog_s=5.0, stop_rank=8),
    ProcessSpec("api", "gridscout.edge.daemons.apid", watchdog_s=10.0, enabled=lambda c: c.api.enabled, stop_rank=9),
    ProcessSpec("vehicle", "gridscout.edge.daemons.vehicled", watchdog_s=1.0, stop_rank=0),
    ProcessSpec("control", "gridscout.edge.daemons.controld", watchdog_s=1.0, stop_rank=1),
    ProcessSpec("perception", "gridscout.edge.daemons.perceptiond", watchdog_s=5.0, stop_rank=3),
    ProcessSpec("camera", "gridscout.edge.daemons.camerad", watchdog_s=5.0, stop_rank=2, may_finish=True),
)


def enabled_processes(config: Config) -> list[ProcessSpec]:
    return [p for p in PROCESSES if p.enabled(config)]

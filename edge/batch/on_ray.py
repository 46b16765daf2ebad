"""A batch on Ray (`--ray [ADDRESS]`, the `[ray]` extra): one actor per worker, each holding one model (one ONNX
session) loaded once, fed small batches of items (at most `CALLS_PER_ACTOR` calls waiting on each, so the list
stays with the driver); the outcomes come back here, where the report store is written.

With no address a Ray instance is started for this batch alone and stopped after it; `auto` joins the one
`ray start --head` started on this machine, `ray://host:10001` or `host:6379` a cluster's. An actor whose process
dies is restarted (the model loaded again) and its calls run again (`max_task_retries`); a call that still fails
runs its items again one by one, so only the item that kills its worker is listed as failed. Ray's own logging
stays out of the batch's output.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from gridscout.edge.batch import LOCAL_RAY
from gridscout.edge.batch.items import WorkItem
from gridscout.edge.batch.local import LOG_FORMAT, Done
from gridscout.edge.batch.worker import MAX_TRIES, BatchSettings, Inspector, ItemOutcome

log = logging.getLogger(__name__)

#: items per actor call, and calls waiting on each actor
ITEMS_PER_CALL = 4
CALLS_PER_ACTOR = 2
#: seconds between looks for Ctrl-C while waiting on Ray
WAIT_S = 0.5


class BatchWorker:
    """The Ray actor: one `Inspector`, its model loaded once."""

    def __init__(self, settings: BatchSettings) -> None:
        logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)  # into Ray's log files of the worker
        self.inspector = Inspector(settings)

    def ready(self) -> bool:
        return True

    def inspect(self, items: list[WorkItem]) -> list[ItemOutcome]:
        return [self.inspector.run(item) for item in items]


def run_on_ray(
    settings: BatchSettings, workers: int | None, address: str, items: Iterable[WorkItem], done: Done
) -> int:
    """Every item on Ray (`address`: LOCAL_RAY or a cluster's); `workers` actors (None: as many as the cluster's CPUs
    hold at `settings.threads` each). The workers used."""
    ray = _ray()
    started = _connect(ray, address, workers, settings.threads)
    actors: list[Any] = []
    try:
        if workers is None:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)) // settings.threads)
        remote = ray.remote(BatchWorker).options(
            num_cpus=settings.threads, max_restarts=-1, max_task_retries=MAX_TRIES - 1
        )
        actors = [remote.remote(settings) for _ in range(workers)]
        _wait_ready(ray, actors)
        _drive(ray, actors, items, done)
        return workers
    finally:
        if started:  # the actors are this driver's: they end with it (killing them first only makes Ray talk)
            ray.shutdown()
        else:
            for actor in actors:
                ray.kill(actor)


def _ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: no usage report, and no line about it
    try:
        import ray
    except ImportError as exc:
        raise ValueError("--ray needs Ray: pip install 'gridscout[ray]'") from exc
    return ray


def _connect(ray: Any, address: str, workers: int | None, threads: int) -> bool:
    """Start a local Ray or join `address`; True when this call started (or joined) it and must shut it down."""
    if ray.is_initialized():
        return False
    _driver_messages_to_debug_log()
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "include_dashboard": False}
    if address == LOCAL_RAY:
        cpus = max(os.cpu_count() or 1, (workers or 1) * threads)
        ray.init(num_cpus=cpus, **quiet)
    else:
        ray.init(address=address, **quiet)
    return True


def _driver_messages_to_debug_log() -> None:
    """Ray's driver prints its cluster's error messages (a worker died, a task is retried) on stdout, whatever
    `log_to_driver` says, and has no setting to stop it: they go to this module's debug log instead (`gridscout -v
    batch` shows them). A Ray without this (private) function prints them again, and nothing else changes."""
    worker_module = sys.modules.get("ray._private.worker")
    if worker_module is not None and callable(getattr(worker_module, "print_to_stdstream", None)):
        worker_module.print_to_stdstream = _log_driver_message


def _log_driver_message(data: dict, ignore_prefix: bool = False) -> None:
    for line in data.get("lines", ()):
        log.debug("ray (%s): %s", data.get("pid", "?"), line)


def _wait_ready(ray: Any, actors: list[Any]) -> None:
    """Every actor has its model loaded; one that cannot start (another model on its node, no such provider) stops
    the batch before any item, with its reason."""
    try:
        ray.get([actor.ready.remote() for actor in actors])
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None) or exc
        raise OSError(f"a Ray worker could not start: {str(cause).strip().splitlines()[-1]}") from exc


def _drive(ray: Any, actors: list[Any], items: Iterable[WorkItem], done: Done) -> None:
    calls = _calls(iter(items))
    alone: deque[list[WorkItem]] = deque()  # the items of a call that failed, one call each
    in_flight: dict[Any, tuple[int, list[WorkItem]]] = {}
    waiting = [0] * len(actors)

    def submit(index: int) -> None:
        while waiting[index] < CALLS_PER_ACTOR:
            batch = alone.popleft() if alone else next(calls, None)
            if batch is None:
                return
            in_flight[actors[index].inspect.remote(batch)] = (index, batch)
            waiting[index] += 1

    for index in range(len(actors)):
        submit(index)
    while in_flight:
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=WAIT_S)
        for ref in ready:
            index, batch = in_flight.pop(ref)
            waiting[index] -= 1
            try:
                outcomes = ray.get(ref)
            except ray.exceptions.RayError as exc:  # its actor died more often than the retries
                if len(batch) > 1:
                    alone.extend([item] for item in batch)
                    outcomes = []
                else:
                    why = f"its Ray worker died inspecting it, {MAX_TRIES} times ({type(exc).__name__})"
                    outcomes = [ItemOutcome(batch[0], tries=MAX_TRIES, error=why)]
            for outcome in outcomes:
                done(outcome)
            for other in range(len(actors)):  # the failed call's items may go to any actor
                submit(other)


def _calls(items: Iterator[WorkItem]) -> Iterator[list[WorkItem]]:
    while batch := list(islice(items, ITEMS_PER_CALL)):
        yield batch

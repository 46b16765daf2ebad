"""A batch run here: in this process (`--workers 1`), or in a pool of worker processes that each load the model
once and take items one at a time (at most one waiting per worker beyond those running, so the list stays here).

A worker that dies (kill -9, out of memory) breaks `concurrent.futures`' pool: a new pool starts and the items it
had in hand run again, each on its own (no other item beside it), so an item that kills its worker is found and,
after `MAX_TRIES` deaths of its own, listed as failed; the others lose nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

from gridscout.edge.batch.items import WorkItem
from gridscout.edge.batch.worker import MAX_TRIES, BatchSettings, Inspector, ItemOutcome

log = logging.getLogger(__name__)

Done = Callable[[ItemOutcome], None]
#: pools that break one after another with no item finished between them: the workers cannot run at all
MAX_BREAKS_IN_A_ROW = 2 * MAX_TRIES + 1
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_inspector: Inspector | None = None


def run_in_process(settings: BatchSettings, items: Iterable[WorkItem], done: Done) -> int:
    """Every item in this process, one after another; the workers used (1)."""
    inspector = Inspector(settings)
    for item in items:
        done(inspector.run(item))
    return 1


def _start_worker(settings: BatchSettings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    global _inspector
    _inspector = Inspector(settings)


def _inspect(item: WorkItem) -> ItemOutcome:
    assert _inspector is not None, "the pool's initializer loads the model"
    return _inspector.run(item)


@dataclass
class _Flight:
    item: WorkItem
    #: pools that broke while it was in one
    breaks: int = 0
    #: of those, the breaks while it ran alone: its own doing
    own_breaks: int = 0


def run_pool(settings: BatchSettings, workers: int, items: Iterable[WorkItem], done: Done) -> int:
    """Every item on a pool of `workers` processes; `done` gets each outcome here, as it comes. The workers used."""
    queue = iter(items)
    suspects: deque[_Flight] = deque()
    breaks_in_a_row = 0

    def delivered(outcome: ItemOutcome) -> None:
        nonlocal breaks_in_a_row
        breaks_in_a_row = 0
        done(outcome)

    while True:
        before = set(multiprocessing.active_children())
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker, initargs=(settings,),
        )  # fmt: skip
        in_flight: dict[Future, _Flight] = {}
        try:
            broken = _drive(pool, in_flight, queue, suspects, workers + 1, delivered)
        except BaseException:
            _stop(pool, before)
            raise
        if not broken:
            pool.shutdown()
            return workers
        _stop(pool, before)
        breaks_in_a_row += 1
        log.warning(
            "a worker process died; a new pool runs the %d items it had in hand again, one by one", len(in_flight)
        )
        _take_back(in_flight, suspects, delivered)
        if breaks_in_a_row > MAX_BREAKS_IN_A_ROW:
            raise OSError(
                f"the worker processes died {breaks_in_a_row} times in a row with nothing finished between "
                "(out of memory? a model that crashes onnxruntime?)"
            )


def _drive(
    pool: ProcessPoolExecutor,
    in_flight: dict[Future, _Flight],
    queue: Iterator[WorkItem],
    suspects: deque[_Flight],
    limit: int,
    done: Done,
) -> bool:
    """Keep the pool fed until the items run out (False) or the pool breaks (True, `in_flight` left as it was)."""
    while True:
        try:
            _feed(pool, in_flight, queue, suspects, limit)
        except BrokenProcessPool:  # broke before this submit: the item waits for the next pool
            return True
        if not in_flight:
            return False
        finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in finished:
            if isinstance(future.exception(), BrokenProcessPool):
                return True
            done(_outcome(future, in_flight.pop(future)))


def _feed(
    pool: ProcessPoolExecutor, in_flight: dict[Future, _Flight], queue: Iterator[WorkItem], suspects: deque, limit: int
) -> None:
    """Submit items up to `limit` in flight; an item that was in a broken pool runs alone."""
    while len(in_flight) < limit and not any(f.breaks for f in in_flight.values()):
        if suspects:
            if in_flight:
                return
            flight = suspects.popleft()
        else:
            item = next(queue, None)
            if item is None:
                return
            flight = _Flight(item)
        try:
            with _sigint_ignored():  # a worker spawned now inherits it: Ctrl-C never reaches one mid-import
                in_flight[pool.submit(_inspect, flight.item)] = flight
        except BrokenProcessPool:
            suspects.appendleft(flight)
            raise


def _outcome(future: Future, flight: _Flight) -> ItemOutcome:
    error = future.exception()
    if error is None:
        return future.result()
    return ItemOutcome(flight.item, tries=flight.breaks + 1, error=f"{type(error).__name__}: {error}")


def _take_back(in_flight: dict[Future, _Flight], suspects: deque[_Flight], done: Done) -> None:
    """After a break: what finished before it is delivered; the rest run again, alone, or fail after MAX_TRIES."""
    lost = []
    for future, flight in in_flight.items():
        if future.done() and not future.cancelled() and not isinstance(future.exception(), BrokenProcessPool):
            done(_outcome(future, flight))
        else:
            lost.append(flight)
    for flight in lost:
        flight.breaks += 1
        flight.own_breaks += len(lost) == 1
        if flight.own_breaks >= MAX_TRIES:
            why = f"its worker process died {flight.own_breaks} times inspecting it (killed, or out of memory)"
            done(ItemOutcome(flight.item, tries=flight.own_breaks, error=why))
        else:
            suspects.append(flight)


def _stop(pool: ProcessPoolExecutor, before: set) -> None:
    """Stop at once: nothing more starts, and the pool's processes (not any other child) are ended."""
    pool.shutdown(wait=False, cancel_futures=True)
    ours = [p for p in multiprocessing.active_children() if p not in before]
    for process in ours:
        process.terminate()
    for process in ours:
        process.join(timeout=10)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

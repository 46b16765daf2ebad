"""`gridscout batch`: many folders, videos and recordings through `gridscout detect`'s own per-frame path, on this
process, a local process pool or Ray, into one report store (`reports.db` in the output folder) that `gridscout
reports`, `gridscout serve` and the fleet side read as a device's.

The workers inspect; this process alone writes the store: each item's reports together with its row in the
done-list (`ledger.py`), in one transaction, so whatever stops the batch (Ctrl-C, kill -9, a full disk) leaves
every item either stored whole or not at all, and a re-run of the same command does what is left.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from gridscout.edge.batch import LOCAL_RAY
from gridscout.edge.batch.items import WorkItem, collect_items
from gridscout.edge.batch.ledger import Ledger, write_failed_list
from gridscout.edge.batch.local import Done, run_in_process, run_pool
from gridscout.edge.batch.summary import BatchSummary
from gridscout.edge.batch.worker import BatchSettings, ItemOutcome
from gridscout.edge.defaults import DEFAULT_MODEL
from gridscout.edge.geotag.settings import GeotagSettings
from gridscout.edge.reports.store import ReportStore, report_id_for
from gridscout.hardware.camera.image_size import DEFAULT_MAX_IMAGE_PIXELS
from gridscout.perception.model_loader import load_model, model_sha256

if TYPE_CHECKING:
    from gridscout.control.mission import Mission

Engine = Callable[[Iterable[WorkItem], Done], int]


@dataclass
class BatchOptions:
    sources: list[str]
    out: Path
    model: Path
    geotag: GeotagSettings
    #: `[reporter]`'s values
    reporter: dict
    mission: Mission | None = None
    #: None: the cores here; on Ray at an address, as many as the cluster's CPUs hold
    workers: int | None = None
    #: onnxruntime threads per worker; None: the cores shared among the workers (1 on a Ray cluster)
    threads: int | None = None
    #: None: here (this process or a local pool); `LOCAL_RAY`: a Ray started for the batch; else Ray's address
    ray: str | None = None
    #: the store's device id (report ids follow it); None: the store's own, or one made up for a new store
    device_id: str | None = None
    conf: float | None = None
    provider: str = "cpu"
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    progress: bool = False


def plan_workers(workers: int | None, threads: int | None, ray: str | None) -> tuple[int | None, int]:
    """(workers, onnxruntime threads each): by default as many workers as cores, the cores shared among them; on a
    Ray cluster (an address) one thread each and as many workers as its CPUs hold (None: Ray counts them)."""
    if ray not in (None, LOCAL_RAY) and workers is None:
        return None, threads or 1
    cores = os.cpu_count() or 1
    workers = workers or cores
    return workers, threads or max(1, cores // workers)


def run_batch(options: BatchOptions) -> BatchSummary:
    """Inspect every item the sources name that is not done yet (or until Ctrl-C); the summary."""
    items = collect_items(options.sources)
    model = load_model(options.model, threads=1, provider=options.provider, conf=options.conf)  # bad: fails here
    shipped = options.model.resolve() == DEFAULT_MODEL.resolve()  # each worker loads its own installation's copy
    workers, threads = plan_workers(options.workers, options.threads, options.ray)
    store = ReportStore(options.out, device_id=options.device_id)
    ledger = Ledger(store.path)
    try:
        todo, skipped = ledger.pending(items)
        settings = BatchSettings(
            model=None if shipped else options.model.resolve(), model_sha256=model_sha256(model),
            device_id=store.device_id, threads=threads, geotag=options.geotag,
            reporter=options.reporter, mission=options.mission, provider=options.provider, conf=options.conf,
            max_image_pixels=options.max_image_pixels, log_level=logging.getLogger().getEffectiveLevel(),
        )  # fmt: skip
        summary = BatchSummary(
            out=str(options.out), engine=_engine_name(workers, options.ray), items=len(items), skipped=skipped,
            workers=workers or 0, threads=threads,
        )  # fmt: skip
        unit = "photo" if all(item.kind == "photo" for item in todo) else "item"
        bar = tqdm(total=len(todo), unit=unit, disable=not options.progress, leave=False, dynamic_ncols=True)

        def done(outcome: ItemOutcome) -> None:
            report_ids = {report_id_for(store.device_id, o.track_key) for o in outcome.observations}
            with _ctrl_c_deferred():  # stored and counted together: the summary's "done" is what a re-run skips
                try:
                    written = store.write_many(outcome.observations, also=Ledger.mark(outcome, report_ids))
                except sqlite3.Error as exc:
                    raise OSError(f"{store.path}: cannot store the reports of {outcome.item.path}: {exc}") from exc
                summary.add(outcome, written)
            bar.update(1)

        started = time.perf_counter()
        try:
            if todo:
                summary.workers = _engine(settings, workers, options.ray)(todo, done)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.seconds = time.perf_counter() - started
            bar.close()
        failed_list = write_failed_list(options.out, summary.failed)
        summary.failed_list = str(failed_list) if failed_list else None
        summary.store_reports = store.count()
    finally:
        ledger.close()
        store.close()
    return summary


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold a SIGINT that lands in the block until it ends, then deliver it to the handler there was before. (A signal
    mask would not do: the pool's and tqdm's threads leave it unmasked, and Python raises it in this thread anyway.)"""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)


def _engine(settings: BatchSettings, workers: int | None, ray: str | None) -> Engine:
    if ray is not None:
        from gridscout.edge.batch.on_ray import run_on_ray  # Ray only when asked for

        return lambda items, done: run_on_ray(settings, workers, ray, items, done)
    assert workers is not None
    if workers == 1:
        return lambda items, done: run_in_process(settings, items, done)
    return lambda items, done: run_pool(settings, workers, items, done)


def _engine_name(workers: int | None, ray: str | None) -> str:
    if ray == LOCAL_RAY:
        return "Ray (started for this batch)"
    if ray is not None:
        return f"Ray at {ray}"
    return "this process" if workers == 1 else "local process pool"

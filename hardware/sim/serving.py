"""What the device simulators share: a JSON-lines event log, and serving until SIGTERM or Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, Protocol, TextIO


class Server(Protocol):
    log: EventLog

    def step(self) -> None: ...

    def close(self) -> None: ...


class EventLog:
    """JSON lines to a file (flushed per line) plus a readable line on stderr for the notable ones."""

    def __init__(self, path: Path | None, stderr: TextIO = sys.stderr, name: str = "crawler-sim") -> None:
        self._file = path.open("a", encoding="utf-8") if path else None
        self._stderr = stderr
        self.name = name

    def write(self, event: dict[str, Any], *, echo: bool = True) -> None:
        record = {"t_wall": time.time(), "t_mono": event.get("t_mono", time.monotonic()), **event}
        if self._file:
            try:
                self._file.write(json.dumps(record) + "\n")
                self._file.flush()
            except OSError as exc:  # a full disk: the simulated vehicle goes on, its log stops, saying so
                with contextlib.suppress(OSError):
                    print(f"{self.name}: event log stopped: {exc}", file=self._stderr, flush=True)
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None
        if echo:
            details = " ".join(f"{k}={fmt(v)}" for k, v in event.items() if k not in ("t_mono", "event"))
            with contextlib.suppress(OSError):  # its stderr is a log file on the data disk, which may be full
                print(f"{self.name}: {event['event']} {details}".rstrip(), file=self._stderr, flush=True)

    def close(self) -> None:
        if self._file:
            with contextlib.suppress(OSError):
                self._file.close()


def serve_until_signalled(server: Server) -> int:
    """Step `server` until SIGTERM or SIGINT, log the shutdown and close it; returns the exit status (0)."""
    stopping: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: stopping.append(signum))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        while not stopping:
            server.step()
        server.log.write({"event": "shutdown", "signal": signal.Signals(stopping[0]).name})
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.close()
    return 0


def fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)

"""`gridscout fleet serve`: the review page over the fleet database, every device's reports on one map.

Needs the `[serve]` extra on a fleet server (FastAPI and uvicorn; the main package has them). Binds to loopback
unless told otherwise, behind a token, as the device's API does."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

SERVE_EXTRA = "pip install 'gridscout-fleet[serve]' (the main gridscout package has it already)"
DEFAULT_ADDRESS = "127.0.0.1:8480"


def create_app(db: Path, token: str, tiles: str = ""):
    """The page for the fleet database `db`, behind `token`, with a base map where `tiles` names one."""
    try:
        from fastapi import FastAPI

        from gridscout.fleet.web_source import FleetSource
        from gridscout.reports.web.routes import PageExtras, mount_web
        from gridscout.reports.web.tiles import open_tiles
    except ImportError:
        raise ValueError(f"the fleet page needs FastAPI: {SERVE_EXTRA}") from None
    if not Path(db).is_file():
        raise FileNotFoundError(f"no fleet database at {db} (make one with `gridscout fleet pull --into`)")
    app = FastAPI(title="GridScout fleet", docs_url=None, redoc_url=None, openapi_url=None)
    mount_web(app, FleetSource(db), token, PageExtras(tiles=open_tiles(tiles)))
    return app


@dataclass
class RunningPage:
    url: str
    server: object
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start(db: Path, token: str, host: str = "127.0.0.1", port: int = 0, tiles: str = "") -> RunningPage:
    """Serve the page in a thread; returns once it accepts connections. Port 0 picks a free one."""
    try:
        import uvicorn
    except ImportError:
        raise ValueError(f"the fleet page needs uvicorn: {SERVE_EXTRA}") from None
    from gridscout.reports.web.listen import listen

    app = create_app(db, token, tiles)
    sock = listen(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fleet-page", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the fleet page did not start on {host}:{port}")
        time.sleep(0.01)
    bound = sock.getsockname()[1]
    return RunningPage(f"http://{host if ':' not in host else f'[{host}]'}:{bound}", server, thread)

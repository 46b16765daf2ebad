"""The fleet API process: serves the report store over HTTP while the chain runs, and the review page with its
live view of the chain (`edge/api/live.py`).

uvicorn runs in a thread; this loop heartbeats while that thread is alive, so a crashed server
is restarted by the supervisor.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from gridscout.edge.api.live import STATE_TOPICS, LiveFeed
from gridscout.edge.api.server import Tls, start_in_thread
from gridscout.edge.runtime.daemon import Runtime
from gridscout.edge.runtime.messages import check_subscriber
from gridscout.reports.web.routes import PageExtras
from gridscout.reports.web.tiles import open_tiles


def main(argv: list[str] | None = None) -> int:
    rt = Runtime("api", argv)
    cfg = rt.config.api
    try:
        tls = Tls(Path(cfg.tls_cert), Path(cfg.tls_key)) if cfg.tls_cert else None
        mission = (rt.spec.config.get("mission") or {}).get("file")
        route = json.loads(Path(mission).read_text()) if mission else None  # checked by `gridscout run`
        live = LiveFeed(rt.ctx, rt.endpoints)
        for topic in (*STATE_TOPICS, "frames"):
            check_subscriber("api", topic)
        page = PageExtras(route=route, live=live, tiles=open_tiles(cfg.map_tiles))
        server = start_in_thread(Path(rt.spec.data_dir), rt.spec.api_token, cfg.host, cfg.port, tls=tls, page=page)
    except (OSError, RuntimeError, ValueError) as exc:
        rt.log.error("fleet API: %s", exc)
        rt.close()
        return 2
    rt.log.info("fleet API on %s", server.url)
    try:
        while not rt.stop_requested and server.thread.is_alive():
            rt.heartbeat.beat(ready=True, stats={"port": server.port})
            rt.poll()
            if rt.run_state == "stopping":
                break
            time.sleep(0.1)
        return 0 if server.thread.is_alive() else 1
    finally:
        live.close()
        server.stop()
        rt.close()


if __name__ == "__main__":
    raise SystemExit(main())

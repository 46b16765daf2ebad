"""Run the fleet API with uvicorn: in the foreground (`serve`) or in a thread (`start_in_thread`)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from gridscout.edge.api.app import create_app
from gridscout.edge.api.token import resolve_token
from gridscout.edge.defaults import API_HOST, API_PORT
from gridscout.reports.web.listen import listen
from gridscout.reports.web.routes import PageExtras

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tls:
    """The API's certificate and private key (PEM files): it serves HTTPS."""

    cert: Path
    key: Path

    def check(self) -> None:
        for what, path in (("certificate", self.cert), ("key", self.key)):
            if not Path(path).is_file():
                raise FileNotFoundError(f"TLS {what} {path}: no such file")


def _bind(
    data_dir: Path,
    token: str,
    host: str,
    port: int,
    tls: Tls | None = None,
    page: PageExtras | None = None,
) -> tuple[uvicorn.Server, socket.socket]:
    if tls is not None:
        tls.check()
    sock = listen(host, port)
    config = uvicorn.Config(
        create_app(data_dir, token, page), host=host, port=port, log_level="warning", access_log=False,
        lifespan="on", timeout_graceful_shutdown=2,  # a live view's streams would hold a shutdown forever
        ssl_certfile=str(tls.cert) if tls else None, ssl_keyfile=str(tls.key) if tls else None,
    )  # fmt: skip
    return uvicorn.Server(config), sock


def url_for(host: str, port: int, tls: bool = False) -> str:
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def warn_if_exposed(host: str, tls: Tls | None) -> None:
    """A warning for an API reachable from the network, louder without TLS."""
    if is_loopback(host):
        return
    if tls is None:
        log.warning(
            "fleet API listening on %s without TLS: the token and the reports cross the network in clear; give it "
            "a certificate (serve --tls-cert/--tls-key, or [api] tls_cert/tls_key)",
            host,
        )
    else:
        log.warning("fleet API listening on %s over TLS: reachable from the network (token required)", host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    data_dir: Path,
    host: str = API_HOST,
    port: int = API_PORT,
    token: str | None = None,
    *,
    tls: Tls | None = None,
    page: PageExtras | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the store in `data_dir` until SIGINT/SIGTERM. `on_ready(url)` runs once the socket is bound."""
    if token is None:
        token, _ = resolve_token(data_dir)
    warn_if_exposed(host, tls)
    server, sock = _bind(data_dir, token, host, port, tls, page)
    if on_ready:
        on_ready(url_for(host, sock.getsockname()[1], tls is not None))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl+C after shutting down cleanly
        server.run(sockets=[sock])


@dataclass
class RunningServer:
    """A fleet API running in a background thread (tests, or embedding in another process)."""

    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout_s: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    data_dir: Path,
    token: str,
    host: str = API_HOST,
    port: int = 0,
    *,
    tls: Tls | None = None,
    page: PageExtras | None = None,
    startup_timeout_s: float = 10.0,
) -> RunningServer:
    """Start the API (and the review page, with its `page` extras) in a daemon thread and wait until it accepts
    connections. Port 0 picks a free port."""
    warn_if_exposed(host, tls)
    server, sock = _bind(data_dir, token, host, port, tls, page)
    bound_port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fleet-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"fleet API did not start on {url_for(host, bound_port, tls is not None)}")
        time.sleep(0.01)
    return RunningServer(url_for(host, bound_port, tls is not None), bound_port, server, thread)


def serve_announced(
    data_dir: Path,
    host: str,
    port: int,
    token: str | None,
    out: Callable[[str], None],
    tls: Tls | None = None,
    page: PageExtras | None = None,
) -> None:
    """`serve`, telling the operator the URL and, once, a freshly generated token."""
    token, generated = resolve_token(data_dir, given=token)
    if generated:
        out(f"generated API token (stored in {Path(data_dir) / 'api_token'}; shown once): {token}")

    def ready(url: str) -> None:
        out(f"fleet API on {url}  (Ctrl+C to stop)")
        out(f"review page on {url}/  (log in with the token)")

    serve(data_dir, host, port, token, tls=tls, page=page, on_ready=ready)

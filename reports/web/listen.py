"""A listening socket for a web server (the device's API, the fleet's page), bound before the server starts, so
clients can connect (and queue) as soon as the URL is announced, and a taken port is one clear error."""

from __future__ import annotations

import socket


def listen(host: str, port: int) -> socket.socket:
    """Bound to (host, port) and listening; OSError naming the address when it cannot be."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise OSError(exc.errno, f"cannot listen on {where}: {exc.strerror}") from None
    return sock

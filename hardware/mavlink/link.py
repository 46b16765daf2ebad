"""Open a pymavlink connection for the driver from a pymavlink connection string, failing with our own error.

Any string `mavutil.mavlink_connection` takes works: `tcp:HOST:PORT` (SITL's 5760), `udpin:HOST:PORT`
(listen, as a GCS does for SITL's 14550), `udpout:HOST:PORT`, or a serial device at a baud rate.
pymavlink's TCP client only prints when its peer goes away; ours raises LinkError then, so the owner
reconnects.
"""

from __future__ import annotations

import errno

from gridscout.hardware.mavlink.mav import mavutil
from gridscout.hardware.vehicle.driver import LinkError

CONNECTION_FORMS = "tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT or a serial device (/dev/ttyACM0)"
#: pymavlink's own prefixes this driver accepts (files and logs are not vehicles)
_NETWORK = ("tcp:", "udpin:", "udpout:", "udp:")


class _TcpClient(mavutil.mavtcp):
    """pymavlink's TCP client, with a lost peer raised rather than printed."""

    def handle_eof(self) -> None:
        raise LinkError(f"{self.address}: the vehicle closed the connection")

    def handle_disconnect(self) -> None:
        raise LinkError(f"{self.address}: connection reset")


def is_network(connection: str) -> bool:
    return connection.startswith(_NETWORK)


def open_connection(connection: str, baud: int, system_id: int, component_id: int):
    """A pymavlink `mavfile` on `connection` speaking as (system_id, component_id); LinkError naming it."""
    try:
        if connection.startswith("tcp:"):
            # one attempt, no sleeping: the owner retries with its own backoff
            return _TcpClient(connection[4:], source_system=system_id, source_component=component_id, retries=0)
        return mavutil.mavlink_connection(
            connection, baud=baud, source_system=system_id, source_component=component_id, autoreconnect=False
        )
    except LinkError:
        raise
    except (OSError, ValueError) as exc:  # pyserial's SerialException is an OSError
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        hint = (
            " (is the autopilot or simulator up and listening?)"
            if getattr(exc, "errno", 0)
            in (
                errno.ECONNREFUSED,
                errno.ETIMEDOUT,
            )
            else ""
        )
        raise LinkError(
            f"cannot open MAVLink link {connection!r}: {reason}{hint}; expected {CONNECTION_FORMS}"
        ) from exc

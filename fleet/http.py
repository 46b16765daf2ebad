"""A small urllib client for the fleet API: bearer token, timeouts, retries with exponential backoff."""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

MAX_BACKOFF_S = 8.0


class PullError(Exception):
    """A device could not be pulled: token rejected, bad response, or still unreachable after retries."""


class FleetClient:
    """GETs against one device's API. Connection errors, timeouts and 5xx are retried; 4xx are not."""

    def __init__(
        self, base_url: str, token: str, *, timeout_s: float, retries: int, backoff_s: float, cafile: str | None = None
    ) -> None:
        """`cafile`: trust the device certificates this CA (or self-signed certificate) signed, for https://."""
        self.base_url = base_url.rstrip("/")
        self.context = ssl.create_default_context(cafile=cafile) if cafile else None
        self.token = token
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    def get(self, path: str, *, missing_ok: bool = False) -> bytes | None:
        """The response body; None for a 404 when `missing_ok`."""
        url = self.base_url + path
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        last_error: object = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s, context=self.context) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    raise PullError(f"{self.base_url}: token rejected (HTTP 401)") from None
                if exc.code == 404 and missing_ok:
                    return None
                if exc.code < 500:
                    raise PullError(f"{url}: HTTP {exc.code} {exc.reason}") from None
                last_error = exc
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, truncated body
                last_error = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise PullError(f"{url}: unreachable after {self.retries + 1} attempts ({last_error})")

    def get_json(self, path: str) -> Any:
        body = self.get(path)
        try:
            return json.loads(body or b"")
        except ValueError as exc:
            raise PullError(f"{self.base_url}{path}: not JSON ({exc})") from None

"""Keeping credentials out of what GridScout prints, logs, publishes, records and writes: the one helper.

A camera URI may carry `user:password@` (an IP camera's RTSP or HTTP stream) or a password in its query; a
config holds the API token. Everything that shows a URI or a config to anyone goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: shown in place of a secret
MASK = "***"
#: `scheme://user:password@`, anywhere in a text
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")
#: `?password=...`, `&token=...` and their kin in a URI's query
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&](?:password|passwd|pass|pwd|token|key|apikey|api_key|secret)=)[^&#\s'\"]*", re.I
)
#: config keys whose values are secrets
SECRET_KEYS = frozenset({"token", "password", "secret", "api_key", "apikey"})


def redact_uri(uri: str) -> str:
    """`uri` (or any text holding URIs) without the credentials in it: safe to print, log, publish or record."""
    return _QUERY_SECRET.sub(rf"\g<key>{MASK}", _USERINFO.sub(rf"\g<scheme>{MASK}@", uri))


def redact_config(values: Any) -> Any:
    """A config (nested dicts and lists) with every secret key's value masked and every string redacted."""
    if isinstance(values, Mapping):
        return {
            key: (MASK if key.lower() in SECRET_KEYS and value else redact_config(value))
            for key, value in values.items()
        }
    if isinstance(values, list | tuple):
        return [redact_config(v) for v in values]
    return redact_uri(values) if isinstance(values, str) else values

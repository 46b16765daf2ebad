"""Where the fleet API token comes from: the command line, then env, then config, then `data_dir/api_token`
(made 0600 if absent)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

TOKEN_ENV = "GRIDSCOUT_API_TOKEN"
TOKEN_FILE = "api_token"


class TokenFileError(PermissionError):
    """The token file is unusable: readable by others, or empty."""


def _read_token_file(path: Path) -> str:
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenFileError(f"{path} is accessible by group or others; run `chmod 600 {path}` and retry")
    token = path.read_text().strip()
    if not token:
        raise TokenFileError(f"{path} is empty; delete it to have a new token generated")
    return token


def resolve_token(data_dir: Path, given: str | None = None, configured: str | None = None) -> tuple[str, bool]:
    """The API token and whether it was just generated (so the caller can show it once).

    Precedence: `given` (the command line's `--token`: a crew rotating the token with it must not leave the
    old one working), then $GRIDSCOUT_API_TOKEN, then `configured` (the config file), then
    `data_dir/api_token`; with none, a new token is written there with mode 0600.
    """
    for token in (given, os.environ.get(TOKEN_ENV), configured):
        if token and token.strip():
            return token.strip(), False
    path = Path(data_dir) / TOKEN_FILE
    if path.exists():
        return _read_token_file(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    # hex: a urlsafe token may start with "-", which `--token TOKEN` on a command line takes for an option
    token = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read_token_file(path), False
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
        f.flush()
        os.fsync(f.fileno())
    return token, True

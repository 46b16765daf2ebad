"""A run's data is the owner's alone: reports, evidence, recordings and logs hold a utility's line and its camera's
address. `gridscout run` and `gridscout serve` create what they write 0600 (folders 0700)."""

from __future__ import annotations

import os
from pathlib import Path

#: files 0600, folders 0700
PRIVATE_UMASK = 0o077


def keep_private(data_dir: Path) -> None:
    """Files this process and its children create from now on are the owner's alone, and so is `data_dir`
    (made if missing; an existing one is closed to others when this user owns it)."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True)
    if data_dir.stat().st_uid == os.getuid():
        data_dir.chmod(0o700)

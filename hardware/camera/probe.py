"""`python -m gridscout.hardware.camera.probe URI`: open a frame source and close it again.

Exit 0 when it opens; otherwise exit 2 with the source's own error on stderr. Lets a process
check a source without loading OpenCV itself (the supervisor stays small).
"""

from __future__ import annotations

import sys

from gridscout.hardware.camera import SourceError, open_source


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m gridscout.hardware.camera.probe URI", file=sys.stderr)
        return 2
    try:
        with open_source(args[0]):
            return 0
    except SourceError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

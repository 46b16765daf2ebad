"""`python -m gridscout.edge.runtime.preflight --source URI --model PATH`: what `gridscout run` checks in a
child before it starts anything, so the long-lived supervisor never loads OpenCV or onnxruntime.

It opens the camera source and loads the model the way the camera and perception processes will (every
stage of a cascade, each session created). Exit 0 when both work; otherwise exit 2 with one line on
stderr naming the source or the file and what was wrong.
"""

from __future__ import annotations

import argparse
import sys

from gridscout.hardware.camera import SourceError, open_source
from gridscout.perception.errors import ModelError
from gridscout.perception.model_loader import load_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridscout.edge.runtime.preflight", description=__doc__)
    parser.add_argument("--source", required=True, help="camera URI")
    parser.add_argument("--model", required=True, help="an .onnx model or a cascade .toml manifest")
    args = parser.parse_args(argv)
    try:
        with open_source(args.source):
            pass
        load_model(args.model, threads=1)
    except (SourceError, ModelError) as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The command line every in-place ONNX rewrite shares (`split_convs`, `fp16_weights`): load, rewrite, check, save."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import onnx


def rewrite_main(argv: list[str] | None, doc: str | None, rewrite: Callable[[onnx.ModelProto], int], did: str) -> None:
    """Parse `MODEL [--out OUT]`, apply `rewrite` (returns how many places it changed) and save; `did` words
    the count for the closing line, e.g. "weights stored as float16"."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="float32 ONNX model (an ultralytics export)")
    parser.add_argument("--out", type=Path, help="output (default: overwrite the input)")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"{args.model}: not found")
    model = onnx.load(str(args.model))
    count = rewrite(model)
    onnx.checker.check_model(model)
    out = args.out or args.model
    onnx.save(model, str(out))
    print(f"{out}: {count} {did} ({out.stat().st_size / 1e6:.1f} MB)")

"""Rename a model's classes in its ONNX metadata (the `names` ultralytics writes), weights untouched.

    python -m gridscout.models.set_names models/cplid_stage2.onnx missing_cap

CPLID calls its second class `defect`; GridScout calls it what it is, `missing_cap`, so the name
in reports says which defect was found. Needs the `onnx` package ([test] or [train] extra).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import onnx

from gridscout.perception.model_meta import parse_names


def set_names(path: Path, names: list[str], out: Path | None = None) -> Path:
    model = onnx.load(str(path))
    props = {p.key: p for p in model.metadata_props}
    if "names" not in props:
        raise SystemExit(f"{path}: no 'names' metadata (not an ultralytics export)")
    old = parse_names(path, props["names"].value)
    if len(old) != len(names):
        raise SystemExit(f"{path}: has {len(old)} classes {old}, got {len(names)} new names {names}")
    props["names"].value = repr(dict(enumerate(names)))
    target = out or path
    onnx.save(model, str(target))
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="ONNX model to rewrite in place")
    parser.add_argument("names", nargs="+", help="the new class names, in id order")
    parser.add_argument("--out", type=Path, help="write here instead of in place")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"{args.model}: not found")
    target = set_names(args.model, args.names, args.out)
    print(f"{target}: names = {dict(enumerate(args.names))}")


if __name__ == "__main__":
    main()

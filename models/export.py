"""Export a trained stage to ONNX (ultralytics writes names, imgsz and stride as metadata).

    python -m gridscout.models.export --weights models/runs/insulator/weights/best.pt --out models/insulator.onnx
    python -m gridscout.models.export --weights models/runs/defects-real6/weights/last.pt --out models/defects.onnx

Needs the [train] extra.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gridscout.models.ultralytics_env import configure


def export(
    weights: Path,
    out: Path,
    imgsz: int | None = None,
    opset: int | None = None,
    dynamic: bool = True,
    names: list[str] | None = None,
) -> Path:
    configure()
    from ultralytics import YOLO

    # ultralytics writes the export beside its weights: work on a copy, so nothing lands beside an init in
    # ../shared (read-only by intent, writable by root) or a committed checkpoint
    with tempfile.TemporaryDirectory(prefix="gridscout-export-") as tmp:
        copy = Path(tmp) / weights.name
        shutil.copyfile(weights, copy)
        return _export(YOLO(str(copy)), weights, out, imgsz, opset, dynamic, names)


def _export(
    model: Any, weights: Path, out: Path, imgsz: int | None, opset: int | None, dynamic: bool,
    names: list[str] | None,
) -> Path:  # fmt: skip
    if names:  # e.g. CPLID's `defect` is GridScout's `missing_cap`
        if len(names) != len(model.names):
            raise SystemExit(f"{weights}: has {len(model.names)} classes {model.names}, got names {names}")
        model.model.names = dict(enumerate(names))
    size = imgsz or int(model.overrides.get("imgsz", 320))
    kwargs = {"opset": opset} if opset else {}
    produced = Path(model.export(format="onnx", imgsz=size, simplify=True, dynamic=dynamic, **kwargs))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(produced, out)
    return out


def for_edge(path: Path) -> str:
    """The export steps the edge runtime wants, in place: each channel-split convolution as one per part
    (`split_convs`), then the weights stored as float16 (`fp16_weights`). Returns what each did."""
    import onnx

    from gridscout.models.fp16_weights import store_weights_fp16
    from gridscout.models.split_convs import split_convs

    model = onnx.load(str(path))
    split, halved = split_convs(model), store_weights_fp16(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return f"{split} split convolutions rewritten, {halved} weights stored as float16"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, required=True, help="ultralytics checkpoint (.pt)")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--imgsz", type=int, help="input size (default: the training size)")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: ultralytics')")
    parser.add_argument(
        "--static",
        action="store_true",
        help="fixed square input; the default dynamic height and width let GridScout feed minimally padded "
        "inputs (an elongated insulator crop costs about a third of a square one)",
    )
    parser.add_argument("--names", nargs="+", help="class names to write into the metadata, in id order")
    parser.add_argument(
        "--for-edge", action="store_true", help="then split_convs and fp16_weights, as the shipped stages are"
    )
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        parser.error(f"--weights {args.weights}: not found")
    out = export(args.weights, args.out, args.imgsz, args.opset, dynamic=not args.static, names=args.names)
    if args.for_edge:
        print(for_edge(out))
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

"""Export a trained stage to ONNX (ultralytics writes names, imgsz and stride as metadata).

    python -m gridscout.models.export --weights models/runs/insulator/weights/best.pt --out models/insulator.onnx
    python -m gridscout.models.export --weights models/runs/missing_cap/weights/best.pt --out models/missing_cap.onnx

Needs the [train] extra.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

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

    model = YOLO(str(weights))
    if names:  # e.g. CPLID's `defect` is GridScout's `missing_cap`
        if len(names) != len(model.names):
            raise SystemExit(f"{weights}: has {len(model.names)} classes {model.names}, got names {names}")
        model.model.names = dict(enumerate(names))
    size = imgsz or int(model.overrides.get("imgsz", 320))
    kwargs = {"opset": opset} if opset else {}
    produced = Path(model.export(format="onnx", imgsz=size, simplify=True, dynamic=dynamic, **kwargs))
    out.parent.mkdir(parents=True, exist_ok=True)
    if produced.resolve() != out.resolve():
        shutil.copyfile(produced, out)
    return out


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
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        parser.error(f"--weights {args.weights}: not found")
    out = export(args.weights, args.out, args.imgsz, args.opset, dynamic=not args.static, names=args.names)
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

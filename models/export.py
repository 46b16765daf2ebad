"""Export a trained stage to ONNX (ultralytics writes names, imgsz and stride as metadata).

    python -m models.export --weights models/runs/insulator/weights/best.pt --out models/insulator.onnx
    python -m models.export --weights models/runs/defect/weights/best.pt --out models/defect.onnx

Needs the [train] extra.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from models.ultralytics_env import configure


def export(weights: Path, out: Path, imgsz: int | None = None, opset: int | None = None, dynamic: bool = True) -> Path:
    configure()
    from ultralytics import YOLO

    model = YOLO(str(weights))
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
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        parser.error(f"--weights {args.weights}: not found")
    out = export(args.weights, args.out, args.imgsz, args.opset, dynamic=not args.static)
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

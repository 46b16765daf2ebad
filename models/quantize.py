"""Quantize a stage to int8 with onnxruntime's own static quantization (QDQ, per channel).

    python -m gridscout.models.quantize --model models/insulator.onnx \
        --calib build/datasets/stage1_insulator/images/train
    python -m gridscout.models.quantize --model models/defects.onnx \
        --calib build/datasets/real_stage2/images/train

Calibration images go through the same letterbox as at run time. The detection head's box
decoding stays in float: only the backbone's and neck's convolutions are quantized.
Writes MODEL.int8.onnx beside the input unless --out is given. Keeps the ultralytics metadata.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from gridscout.perception.letterbox import letterbox
from gridscout.perception.model_meta import parse_imgsz


class LetterboxReader(CalibrationDataReader):
    """Feeds letterboxed calibration images to the quantizer, one at a time."""

    def __init__(self, images: list[Path], input_name: str, size: tuple[int, int]) -> None:
        self._items = iter(images)
        self.input_name, self.size = input_name, size

    def get_next(self) -> dict[str, np.ndarray] | None:
        for path in self._items:
            image = cv2.imread(str(path))
            if image is not None:
                return {self.input_name: letterbox(image, self.size)[0]}
        return None


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Nodes of the last ultralytics module, the Detect head: kept in float for box precision."""
    names = [n.name for n in model.graph.node]
    layers = [int(n.split("/")[1].removeprefix("model.")) for n in names if n.startswith("/model.")]
    return [n for n in names if n.startswith(f"/model.{max(layers)}/")]


def quantize(model_path: Path, calib_dir: Path, out: Path, n_images: int, seed: int) -> Path:
    model = onnx.load(str(model_path))
    metadata = {p.key: p.value for p in model.metadata_props}
    size = parse_imgsz(model_path, metadata["imgsz"])
    images = sorted(calib_dir.glob("*.jpg")) + sorted(calib_dir.glob("*.png"))
    if not images:
        raise SystemExit(f"--calib {calib_dir}: no .jpg or .png images")
    random.Random(seed).shuffle(images)
    prepped = out.with_suffix(".prep.onnx")
    quant_pre_process(str(model_path), str(prepped), skip_symbolic_shape=True)
    quantize_static(
        str(prepped),
        str(out),
        LetterboxReader(images[:n_images], model.graph.input[0].name, size),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["Conv"],
        nodes_to_exclude=head_nodes(model),
    )
    prepped.unlink()
    quantized = onnx.load(str(out))
    del quantized.metadata_props[:]
    for key, value in metadata.items():
        quantized.metadata_props.add(key=key, value=value)
    onnx.save(quantized, str(out))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="float ONNX model (ultralytics export)")
    parser.add_argument("--calib", type=Path, required=True, help="folder of calibration images")
    parser.add_argument("--out", type=Path, help="output path (default: MODEL.int8.onnx)")
    parser.add_argument("--images", type=int, default=200, help="calibration images to use")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"--model {args.model}: not found")
    out = args.out or args.model.with_suffix(".int8.onnx")
    quantize(args.model, args.calib, out, args.images, args.seed)
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

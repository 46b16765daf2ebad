"""Tiny real ONNX models built in the test, with the output layouts ultralytics exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_output_model(
    path: Path,
    output: np.ndarray,
    *,
    imgsz: tuple[int, int] = (64, 64),
    metadata: dict[str, str] | None = None,
    dynamic: bool = False,
) -> Path:
    """A model whose input is 1x3xHxW and whose output is always `output` (plus 0 * mean(input)).

    The input really flows through the graph, so onnxruntime checks its shape and type.
    """
    h, w = imgsz
    shape = [1, 3, "height", "width"] if dynamic else [1, 3, h, w]
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["const", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [inp],
        [out],
        initializer=[
            numpy_helper.from_array(output.astype(np.float32), "const"),
            numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def ultralytics_metadata(names: list[str], imgsz: tuple[int, int] = (64, 64)) -> dict[str, str]:
    return {
        "names": repr(dict(enumerate(names))),
        "imgsz": repr(list(imgsz)),
        "stride": "32",
        "task": "detect",
    }

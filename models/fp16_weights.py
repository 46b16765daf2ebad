"""Store an ONNX model's float weights as float16, computed in float32 at run time.

Halves the file (a YOLO11n stage goes from 10.7 to 5.4 MB) without fp16 arithmetic: each
weight is stored in half precision behind a Cast to float, and onnxruntime folds those casts
into float32 constants when it loads the model. Inference speed is the float model's; the
weights are rounded to 11 significant bits, which moves CPLID val AP by under 0.005 here.

    python -m gridscout.models.fp16_weights models/insulator.onnx        # in place
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from gridscout.models.onnx_rewrite import rewrite_main

MIN_ELEMENTS = 16  # tiny constants (shapes, scalars) are not worth a Cast


def store_weights_fp16(model: onnx.ModelProto) -> int:
    """Rewrite float32 initializers of at least MIN_ELEMENTS as float16 + Cast. Returns how many."""
    graph = model.graph
    casts, kept, converted = [], [], 0
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < MIN_ELEMENTS:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return converted


def main(argv: list[str] | None = None) -> None:
    rewrite_main(argv, __doc__, store_weights_fp16, "weights stored as float16")


if __name__ == "__main__":
    main()

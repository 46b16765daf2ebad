"""Replace each convolution whose output is split by channel with one convolution per part.

YOLO11's C3k2 blocks run a Conv + SiLU and then Split its channels in two. onnxruntime's CPU
layout optimizer (NCHWc, blocked channels) cannot carry a Split, so every one of them costs a
conversion out of the blocked layout and back: 54 reorders in the stage-one graph. Two
convolutions over the two halves of the filters compute exactly the same values and keep the
blocked layout; the optimized graph then has 17 reorders, and a 640x480 frame takes about 5% less
time (`bench/bench_detect.py`). Run it on the float export, before `fp16_weights`:

    python -m gridscout.models.split_convs models/insulator.onnx        # in place
"""

from __future__ import annotations

import onnx
from onnx import helper, numpy_helper

from gridscout.models.onnx_rewrite import rewrite_main


def _uses(graph: onnx.GraphProto) -> dict[str, int]:
    """How many nodes read each tensor, a graph output counting as one more."""
    out: dict[str, int] = {}
    for name in [i for node in graph.node for i in node.input] + [o.name for o in graph.output]:
        out[name] = out.get(name, 0) + 1
    return out


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def split_convs(model: onnx.ModelProto) -> int:
    """Rewrite every Conv -> Sigmoid/Mul (SiLU) -> Split(axis 1, constant sizes) whose Conv and SiLU feed
    nothing else. Returns how many were rewritten."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    uses = _uses(graph)
    replaced: dict[int, list[onnx.NodeProto]] = {}  # id of the conv -> its replacement nodes
    dropped: set[int] = set()
    for split in graph.node:
        if split.op_type != "Split" or _attr(split, "axis", 0) != 1 or len(split.input) < 2:
            continue
        if split.input[1] not in inits:
            continue
        mul = producer.get(split.input[0])
        if mul is None or mul.op_type != "Mul" or uses[mul.output[0]] != 1:
            continue
        conv, sigmoid = producer.get(mul.input[0]), producer.get(mul.input[1])
        if conv is None or sigmoid is None or conv.op_type != "Conv" or sigmoid.op_type != "Sigmoid":
            continue
        if sigmoid.input[0] != conv.output[0] or uses[conv.output[0]] != 2:
            continue
        if conv.input[1] not in inits or (len(conv.input) > 2 and conv.input[2] not in inits):
            continue
        weight = numpy_helper.to_array(inits[conv.input[1]])
        bias = numpy_helper.to_array(inits[conv.input[2]]) if len(conv.input) > 2 else None
        sizes = [int(v) for v in numpy_helper.to_array(inits[split.input[1]])]
        if sum(sizes) != weight.shape[0] or _attr(conv, "group", 1) != 1:
            continue
        nodes, start, base = [], 0, conv.output[0]  # tensor names are unique; node names may be empty
        for k, (size, out) in enumerate(zip(sizes, split.output, strict=True)):
            part = slice(start, start + size)
            inputs = [conv.input[0], f"{base}.w{k}"]
            graph.initializer.append(numpy_helper.from_array(weight[part].copy(), inputs[1]))
            if bias is not None:
                inputs.append(f"{base}.b{k}")
                graph.initializer.append(numpy_helper.from_array(bias[part].copy(), inputs[2]))
            part_conv = helper.make_node("Conv", inputs, [f"{base}.y{k}"], name=f"{base}.conv{k}")
            part_conv.attribute.extend(conv.attribute)
            gate = helper.make_node("Sigmoid", part_conv.output, [f"{base}.s{k}"], name=f"{base}.sigmoid{k}")
            silu = helper.make_node("Mul", [part_conv.output[0], gate.output[0]], [out], name=f"{base}.silu{k}")
            nodes += [part_conv, gate, silu]
            start += size
        replaced[id(conv)] = nodes
        dropped |= {id(conv), id(sigmoid), id(mul), id(split)}
    if not replaced:
        return 0
    order = []
    for node in graph.node:
        order += replaced.get(id(node), [])
        if id(node) not in dropped:
            order.append(node)
    del graph.node[:]
    graph.node.extend(order)
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return len(replaced)


def main(argv: list[str] | None = None) -> None:
    rewrite_main(argv, __doc__, split_convs, "split convolutions rewritten as one per part")


if __name__ == "__main__":
    main()

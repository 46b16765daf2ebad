"""The split-convolution rewrite on small real ONNX graphs: the same outputs, no Split left where it applies."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from gridscout.models.split_convs import split_convs


def conv_silu_split_graph(extra_consumer: bool = False) -> onnx.ModelProto:
    """x -> Conv(3->8) -> SiLU -> Split(5, 3) -> (a, b) -> a' = Conv(a); out = Concat(a', b): C3k2's pattern."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "b"),
        numpy_helper.from_array(rng.normal(size=(5, 5, 1, 1)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.array([5, 3], np.int64), "sizes"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["y"], ["s"]),
        helper.make_node("Mul", ["y", "s"], ["z"]),
        helper.make_node("Split", ["z", "sizes"], ["a", "b_half"], axis=1),
        helper.make_node("Conv", ["a", "w2"], ["a2"]),
        helper.make_node("Concat", ["a2", "b_half"], ["out"], axis=1),
    ]
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 16, 16])]
    if extra_consumer:  # the conv's output also leaves the graph: splitting it would drop that output
        outputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])], outputs, inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["out"], {"x": x})[0]


def test_a_split_conv_becomes_one_conv_per_part_with_the_same_output():
    model = conv_silu_split_graph()
    x = np.random.default_rng(1).normal(size=(1, 3, 16, 16)).astype(np.float32)
    before = run(model, x)
    assert split_convs(model) == 1
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert "Split" not in ops and ops.count("Conv") == 3
    assert {i.name for i in model.graph.initializer} >= {"w2"} and "w" not in {i.name for i in model.graph.initializer}
    np.testing.assert_allclose(run(model, x), before, rtol=1e-5, atol=1e-5)


def test_a_conv_whose_output_is_also_used_elsewhere_is_left_alone():
    model = conv_silu_split_graph(extra_consumer=True)
    assert split_convs(model) == 0
    assert "Split" in [n.op_type for n in model.graph.node]

"""Convert an FP32 ONNX graph to FP16 for strongly typed TensorRT (11.x) engines.

TensorRT 11 removed ``BuilderFlag.FP16``: an FP16 engine comes from a network whose tensors are
FP16 in the ONNX itself.  NVIDIA points to ModelOpt AutoCast for that; ``onnxconverter-common``
(pip-installable here, 1.16.0) has ``convert_float_to_float16``, but with ``keep_io_types`` its
output for our head graph fails ``onnx.checker`` (a Concat of the float32 ``h0`` with float16
features).  Neither is a dependency of rt-saliency, so :func:`convert_to_fp16` uses by default a
small rewrite of its own that covers the ops TP-CMRNet exports to:

* float32 initializers and ``Constant`` tensors become float16, and ``Cast(to=FLOAT)`` casts to
  FLOAT16 -- except where an op needs float32 parameters (``Resize`` roi/scales);
* graph inputs and outputs stay float32 (a ``Cast`` at each boundary), so every runner keeps
  taking and returning float32 arrays.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rt_saliency.artifacts import metadata_key
from rt_saliency.errors import ConfigError
from rt_saliency.optional import import_optional

log = logging.getLogger(__name__)

#: (op type, input index) positions that must stay float32
_KEEP_FP32_INPUTS = {("Resize", 1), ("Resize", 2)}


def convert_to_fp16(src: str | Path, dst: str | Path, *, method: str = "auto") -> str:
    """Write an FP16 copy of ``src`` to ``dst`` with float32 I/O; return the method used.

    ``method``: ``"auto"``/``"builtin"`` (the rewrite here) or ``"onnxconverter-common"`` (if
    installed; checked by ``onnx.checker`` like the rest).
    """
    onnx = import_optional("onnx")

    model = onnx.load(str(src))
    used = "builtin" if method == "auto" else method
    if used == "onnxconverter-common":
        float16 = import_optional("onnxconverter_common").float16
        model = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=["Resize"])
    elif used == "builtin":
        model = _rewrite_fp16(model)
    else:
        raise ConfigError(f"unknown fp16 conversion method {method!r}")
    entry = model.metadata_props.add()
    entry.key = metadata_key("precision")
    entry.value = f"fp16 ({used})"
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(dst))
    log.info("converted %s to FP16 with %s -> %s", src, used, dst)
    return used


def _rewrite_fp16(model):  # type: ignore[no-untyped-def]
    onnx = import_optional("onnx")
    TensorProto = onnx.TensorProto
    helper = onnx.helper
    numpy_helper = onnx.numpy_helper

    graph = model.graph
    f32, f16 = TensorProto.FLOAT, TensorProto.FLOAT16

    keep = set()  # tensor names that feed an fp32-only position
    elsewhere = set()  # tensor names that also feed an fp16 position
    for node in graph.node:
        for index, name in enumerate(node.input):
            (keep if (node.op_type, index) in _KEEP_FP32_INPUTS else elsewhere).add(name)
    both = keep & elsewhere
    if both:
        raise NotImplementedError(f"tensors used both as fp32 parameters and as data: {sorted(both)}")

    for init in graph.initializer:
        if init.data_type == f32 and init.name not in keep:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))

    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] not in keep:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == f32:
                    attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16)))
                elif attr.name in ("value_float", "value_floats"):
                    raise NotImplementedError("Constant value_float(s) is not handled by the fp16 rewrite")
        elif node.op_type == "ConstantOfShape":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == f32:
                    attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16)))
        elif node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == f32:
                    attr.i = f16

    new_nodes = []
    for inp in graph.input:
        if inp.type.tensor_type.elem_type != f32:
            continue
        cast_name = f"{inp.name}__fp16"
        for node in graph.node:
            for index, name in enumerate(node.input):
                if name == inp.name:
                    node.input[index] = cast_name
        new_nodes.append(helper.make_node("Cast", [inp.name], [cast_name], to=f16, name=f"cast_in_{inp.name}"))
    tail = []
    for out in graph.output:
        if out.type.tensor_type.elem_type != f32:
            continue
        inner = f"{out.name}__fp16"
        for node in graph.node:
            for index, name in enumerate(node.output):
                if name == out.name:
                    node.output[index] = inner
            for index, name in enumerate(node.input):
                if name == out.name:
                    node.input[index] = inner
        tail.append(helper.make_node("Cast", [inner], [out.name], to=f32, name=f"cast_out_{out.name}"))
    nodes = new_nodes + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    # strict type inference catches any op left with mixed fp16/fp32 inputs
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)

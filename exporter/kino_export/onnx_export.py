"""Export torch modules to ONNX the way kino packages need them.

Two steps, as measured to work for video DiTs: ``torch.export.export`` with explicit ``Dim``s,
then ``torch.onnx.export`` of the ExportedProgram (dynamo, opset 18). Node ``metadata_props``
(source locations, stack traces) are stripped: they make files 3-7x larger and carry nothing
the runtime uses. Graphs with more than 256 MiB of weights are written with external data next to
the ``.onnx`` file, straight from the exported program's tensors: serialising them into one
protobuf would hold about five copies of the weights at once (and a protobuf stops at 2 GB).
"""
from __future__ import annotations

import os
import warnings
from typing import Any

import onnx
import torch

OPSET = 18
# Graphs with more weights than this keep them in external data (see the module docstring).
EXTERNAL_DATA_BYTES = 256 * 1024 ** 2


def strip_metadata(model: onnx.ModelProto) -> None:
    def clear(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            del node.metadata_props[:]
            for attr in node.attribute:
                if attr.g is not None and attr.HasField("g"):
                    clear(attr.g)
                for g in attr.graphs:
                    clear(g)
        del graph.metadata_props[:]
        for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
            del vi.metadata_props[:]
    clear(model.graph)
    del model.metadata_props[:]
    for f in model.functions:
        for node in f.node:
            del node.metadata_props[:]


def strip_ir_metadata(model) -> None:
    """:func:`strip_metadata` on an ``onnx_ir`` model, before it is serialised."""
    import onnx_ir as ir

    def clear_graph(graph) -> None:
        graph.metadata_props.clear()
        for v in list(graph.inputs) + list(graph.outputs) + list(graph.initializers.values()):
            v.metadata_props.clear()
        for node in ir.traversal.RecursiveGraphIterator(graph):
            node.metadata_props.clear()
            for v in node.outputs:
                v.metadata_props.clear()
    clear_graph(model.graph)
    model.metadata_props.clear()
    for f in model.functions.values():
        f.metadata_props.clear()
        for node in ir.traversal.RecursiveGraphIterator(f):
            node.metadata_props.clear()
            for v in node.outputs:
                v.metadata_props.clear()


def initializer_bytes(model) -> int:
    """Bytes of an ``onnx_ir`` model's weights."""
    return sum(v.const_value.nbytes for v in model.graph.initializers.values() if v.const_value is not None)


def export(module: torch.nn.Module, args: tuple, path: str, input_names: list[str], output_names: list[str],
           dynamic_shapes: Any, dtype: torch.dtype = torch.float32, external_data_bytes: int | None = None) -> str:
    """Export ``module(*args)`` to ``path``; returns the path. Weights over ``external_data_bytes``
    (default :data:`EXTERNAL_DATA_BYTES`) go to ``<file>.data`` beside it, written tensor by tensor
    from the exported program (no second whole copy of them in memory)."""
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(module, args, dynamic_shapes=dynamic_shapes, strict=False)
        program = torch.onnx.export(ep, (), dynamo=True, opset_version=OPSET, input_names=input_names,
                                    output_names=output_names, verbose=False, optimize=True)
    del ep
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    limit = EXTERNAL_DATA_BYTES if external_data_bytes is None else external_data_bytes
    if initializer_bytes(program.model) > limit:
        import onnx_ir as ir
        strip_ir_metadata(program.model)
        ir.save(program.model, path, external_data=os.path.basename(path) + ".data", size_threshold_bytes=1024)
    else:
        # One file: serialised through a ModelProto (the bytes kino's committed fixtures hold).
        model = program.model_proto
        del program
        strip_metadata(model)
        onnx.save_model(model, path)
        del model
    onnx.checker.check_model(path)
    return path


def io_spec(path: str) -> dict:
    """{"inputs": {name: (elem_type, rank)}, "outputs": {...}} of a saved model, for manifests and tests."""
    m = onnx.load(path, load_external_data=False)
    def spec(values):
        return {v.name: (onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name,
                         len(v.type.tensor_type.shape.dim)) for v in values}
    return {"inputs": spec(m.graph.input), "outputs": spec(m.graph.output)}


def tensor(name: str, dtype: str) -> dict:
    return {"name": name, "dtype": dtype}


def roles(entries) -> dict:
    return {role: tensor(name, dtype) for role, name, dtype, _ in entries}


def check_graph(path: str, io: dict) -> None:
    """The written graph has exactly the declared inputs/outputs: names, dtypes, ranks, a symbolic
    size wherever the declaration says the dim is dynamic and the size it gives where it is static."""
    spec = io_spec(path)
    m = onnx.load(path, load_external_data=False)
    shapes = {v.name: v.type.tensor_type.shape.dim for v in list(m.graph.input) + list(m.graph.output)}
    for side in ("inputs", "outputs"):
        want = {name: (dtype, len(dims)) for _, name, dtype, dims in io[side]}
        if spec[side] != want:
            raise ValueError(f"{os.path.basename(path)} {side}: graph has {spec[side]}, declared {want}")
        for _, name, _, dims in io[side]:
            for axis, (d, g) in enumerate(zip(dims, shapes[name])):
                dynamic = g.HasField("dim_param") or not g.HasField("dim_value")
                if isinstance(d, str) and not dynamic:
                    raise ValueError(f"{os.path.basename(path)}: {name} axis {axis} ({d}) is static "
                                         f"({g.dim_value}) but must be dynamic")
                if isinstance(d, int) and g.dim_value != d:
                    raise ValueError(f"{os.path.basename(path)}: {name} axis {axis} is {g} not {d}")


# ---------------------------------------------------------------------------------------------
# Export


def export_structure(module, args, path: str, input_names, output_names, dynamic_shapes) -> str:
    """Export a graph WITHOUT its weights (modules built on the "meta" device): the structure and
    io of a real-size model in seconds and kilobytes, for checks."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(module.eval(), args, dynamic_shapes=dynamic_shapes, strict=False)
        program = torch.onnx.export(ep, (), dynamo=True, opset_version=OPSET, input_names=input_names,
                                    output_names=output_names, verbose=False, optimize=False)
    program.save(path, include_initializers=False)
    model = onnx.load(path, load_external_data=False)
    strip_metadata(model)  # stack traces: most of the file, and nothing the checks read
    onnx.save_model(model, path)
    return path

"""Graphs with external data (the path of graphs with more than 256 MiB of weights, forced here on
a small one): written straight from the exported program, the same graph and outputs as the
one-file path, no node metadata."""
from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch.export import Dim

from kino_export import onnx_export


def test_external_data_graph_equals_the_one_file_graph(tmp_path):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(), torch.nn.Linear(256, 8))
    dyn = ({0: Dim("batch", min=1, max=16)},)
    one = onnx_export.export(m, (torch.randn(2, 64),), str(tmp_path / "one" / "g.onnx"), ["x"], ["y"], dyn)
    ext = onnx_export.export(m, (torch.randn(2, 64),), str(tmp_path / "ext" / "g.onnx"), ["x"], ["y"], dyn,
                             external_data_bytes=0)
    assert os.listdir(tmp_path / "one") == ["g.onnx"]
    assert sorted(os.listdir(tmp_path / "ext")) == ["g.onnx", "g.onnx.data"]
    outside = [t.name for t in onnx.load(ext, load_external_data=False).graph.initializer
               if t.data_location == onnx.TensorProto.EXTERNAL]
    assert sorted(outside) == ["0.weight", "2.weight"]  # tensors under 1 KiB (the biases) stay inline
    a, b = onnx.load(one), onnx.load(ext)
    assert [n.SerializeToString() for n in a.graph.node] == [n.SerializeToString() for n in b.graph.node]
    assert not any(n.metadata_props for n in b.graph.node) and not b.metadata_props
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    ya = ort.InferenceSession(one, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    yb = ort.InferenceSession(ext, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(ya, yb)

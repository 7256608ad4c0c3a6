"""Packages whose weights are damaged, run through the real binary: a clear error, never black
frames or footage that ignores its prompt with nothing said."""
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def with_nan_weights(tmp_path, graph: str):
    """A copy of the shipped package whose `graph` has its largest weight filled with NaN."""
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.join(ROOT, "models", "kino-shapes"), pkg)
    model = onnx.load(str(pkg / graph))
    largest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    weights = numpy_helper.to_array(largest).copy()
    weights[...] = np.nan
    largest.CopyFrom(numpy_helper.from_array(weights, largest.name))
    onnx.save(model, str(pkg / graph))
    return pkg


@pytest.mark.parametrize("graph", ["denoiser.onnx", "vae_decoder_step.onnx"])
def test_nan_weights_are_an_error_not_black_frames(kino_bin, tmp_path, graph):
    pkg = with_nan_weights(tmp_path, graph)
    out = tmp_path / "clip.mkv"
    r = subprocess.run([kino_bin, "generate", "a red circle moving left", "--steps", "2", "--seed", "1",
                        "--model", str(pkg), "-o", str(out)], capture_output=True, text=True)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode != 0 and not out.exists(), r.stderr
    assert len(errors) == 1 and "not numbers (NaN or infinite)" in errors[0] and graph in errors[0], r.stderr

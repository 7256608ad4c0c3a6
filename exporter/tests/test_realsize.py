"""``python -m kino_export realsize``: random-weight diffusers folders at the real configurations.

1. The real configurations have the real parameter counts (meta device, nothing written).
2. A folder (one layer, the fixtures' widths) is what ``load_components`` takes: every component
   loads with every tensor from the file, and the LTX folder exports through the command line.
3. The safetensors files are valid (the safetensors library reads them), keep what
   ``from_pretrained`` keeps in float32, and hold the same bytes for the same seed.
4. Writing a tensor never holds it whole: the writer's peak memory grows by its chunks, not by
   the tensor's size.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors import safe_open

from kino_export import realsize
from kino_export.families import ltx, wan

EXPORTER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = {"text_encoder": "model.safetensors", "transformer": "diffusion_pytorch_model.safetensors",
           "vae": "diffusion_pytorch_model.safetensors"}


def folder_digest(folder: str) -> dict:
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """{family: folder} at one layer and the fixtures' widths, fp16."""
    root = tmp_path_factory.mktemp("realsize")
    out = {}
    for family in ("wan", "ltx"):
        out[family] = str(root / family)
        realsize.write_folder(family, out[family], "fp16", layers=1, seed=3, tiny_widths=True, log=lambda _: None)
    return out


def test_real_configurations_have_the_real_parameter_counts():
    wan_counts = realsize.parameter_counts("wan")
    ltx_counts = realsize.parameter_counts("ltx")
    # UMT5-XXL and T5-XXL encoders, Wan2.1-T2V-1.3B and LTX-Video 2B transformers and their VAEs.
    assert round(wan_counts["text_encoder"] / 1e9, 2) == 5.68
    assert round(ltx_counts["text_encoder"] / 1e9, 2) == 4.76
    assert round(wan_counts["transformer"] / 1e9, 2) == 1.42
    assert round(ltx_counts["transformer"] / 1e9, 2) == 1.92
    assert round(wan_counts["vae"] / 1e9, 2) == 0.13
    assert round(ltx_counts["vae"] / 1e9, 2) == 0.42
    # --layers shrinks only the depth: one UMT5 layer keeps the 256384 x 4096 embedding.
    one = realsize.parameter_counts("wan", layers=1)
    assert 256384 * 4096 < one["text_encoder"] < wan_counts["text_encoder"] / 4
    assert one["vae"] == wan_counts["vae"]


@pytest.mark.parametrize("family", ["wan", "ltx"])
def test_folder_loads_through_the_exporter(folders, family):
    fam = {"wan": wan.WAN, "ltx": ltx.LTX}[family]
    f16 = torch.float16
    comp = fam.load_components(folders[family], {"text_encoder": f16, "transformer": f16, "vae": f16})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        te, tr = comp.get("text_encoder"), comp.get("transformer")
        comp.get("vae")
    assert te.config.num_layers == 1 and tr.config.num_layers == 1
    assert te.config.vocab_size == (256384 if family == "wan" else 32128)
    # Every tensor came from the file: the input embedding is the file's shared.weight, tied.
    with safe_open(os.path.join(folders[family], "text_encoder", "model.safetensors"), "pt") as f:
        shared = f.get_tensor("shared.weight")
        assert "encoder.embed_tokens.weight" not in f.keys()
    assert torch.equal(te.get_input_embeddings().weight, shared)
    assert shared.float().std().item() == pytest.approx(min(0.02, shared.shape[1] ** -0.5), rel=0.05)
    with open(os.path.join(folders[family], "model_index.json")) as f:
        assert "stand-in T5 tokenizer" in json.load(f)["_kino_note"]


def test_ltx_folder_exports(folders, tmp_path):
    out = str(tmp_path / "package")
    cmd = [sys.executable, "-m", "kino_export", "ltx", "--from", folders["ltx"], "--out", out, "--dtype", "fp16",
           "--max-length", "16"]
    run = subprocess.run(cmd, cwd=EXPORTER, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert run.returncode == 0, run.stderr[-3000:]
    with open(os.path.join(out, "kino.json")) as f:
        manifest = json.load(f)
    assert manifest["family"] == "ltx-video"
    assert os.path.isfile(os.path.join(out, "denoiser.onnx"))


def test_safetensors_files_are_valid_and_keep_float32_modules(folders):
    for family, folder in folders.items():
        for part, name in WEIGHTS.items():
            model = realsize.build(family, part, layers=1, tiny_widths=True)
            specs = realsize.tensor_specs(model, torch.float16)
            with safe_open(os.path.join(folder, part, name), "pt") as f:
                assert f.metadata() == {"format": "pt"}
                assert sorted(f.keys()) == sorted(specs)
                for key in f.keys():
                    t = f.get_tensor(key)
                    assert (tuple(t.shape), t.dtype) == specs[key][:2], key
    with safe_open(os.path.join(folders["wan"], "transformer", WEIGHTS["transformer"]), "pt") as f:
        assert f.get_tensor("condition_embedder.time_embedder.linear_1.weight").dtype == torch.float32
        assert f.get_tensor("blocks.0.attn1.to_q.weight").dtype == torch.float16
    with safe_open(os.path.join(folders["wan"], "text_encoder", WEIGHTS["text_encoder"]), "pt") as f:
        assert f.get_tensor("encoder.block.0.layer.1.DenseReluDense.wo.weight").dtype == torch.float32
    # transformers keeps `wo` in float32 for float16 only; diffusers keeps its modules for any dtype.
    te = realsize.tensor_specs(realsize.build("wan", "text_encoder", 1, True), torch.bfloat16)
    tr = realsize.tensor_specs(realsize.build("wan", "transformer", 1, True), torch.bfloat16)
    assert te["encoder.block.0.layer.1.DenseReluDense.wo.weight"][1] == torch.bfloat16
    assert tr["condition_embedder.time_embedder.linear_1.weight"][1] == torch.float32


def test_same_seed_same_bytes(folders, tmp_path):
    again = str(tmp_path / "again")
    other = str(tmp_path / "other")
    realsize.write_folder("wan", again, "fp16", layers=1, seed=3, tiny_widths=True, log=lambda _: None)
    realsize.write_folder("wan", other, "fp16", layers=1, seed=4, tiny_widths=True, log=lambda _: None)
    first, second, third = folder_digest(folders["wan"]), folder_digest(again), folder_digest(other)
    assert first == second
    assert first["transformer/config.json"] == third["transformer/config.json"]
    assert first["transformer/diffusion_pytorch_model.safetensors"] != third["transformer/diffusion_pytorch_model.safetensors"]


def test_writer_memory_does_not_grow_with_the_tensor(tmp_path):
    """A 512 MB float32 tensor (128 M elements) is written with the peak RSS growing by a few
    chunks (16 MB each), measured in a fresh process."""
    path = str(tmp_path / "big.safetensors")
    code = f"""
import resource, torch
from kino_export import realsize
specs = {{"big.weight": ((8192, 16384), torch.float32, 0.02), "norm.weight": ((16384,), torch.float16, "ones")}}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
size = realsize.write_safetensors({path!r}, specs, seed=0)
print(size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=EXPORTER, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    size, grown_kb = map(int, run.stdout.split())
    assert size == os.path.getsize(path) > 8192 * 16384 * 4
    assert grown_kb < 100_000, f"peak RSS grew by {grown_kb} kB writing a {size / 1e6:.0f} MB file"
    with safe_open(path, "pt") as f:
        assert f.get_slice("big.weight")[:2].float().std().item() == pytest.approx(0.02, rel=0.05)
        assert torch.equal(f.get_tensor("norm.weight"), torch.ones(16384, dtype=torch.float16))

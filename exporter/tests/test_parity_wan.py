"""Wan2.1: the committed tiny package and parity cases against diffusers and ONNX Runtime.

1. Every graph of models/fixtures/wan-tiny, run by onnxruntime, equals its torch wrapper rebuilt
   from the seed, and the graphs equal the modules called the way WanPipeline calls them: UMT5 with
   the mask, the transformer on 5-D latents with the pipeline's int64 timestep, and the chunked
   causal VAE graphs (caches threaded by kino's rule) equal ``vae.decode`` / ``vae.encode(...).mode()``
   on whole clips.
2. Each committed case in tests/fixtures/parity/wan-tiny regenerates with diffusers' WanPipeline
   from its committed noise (no drift), and the kino scheduler config gives the sigmas it used.
3. A plain onnxruntime loop over the exported graphs that follows only the kino contract
   (parity_wan.onnx_generate: clean, tokenize, encode, zero past length, two denoiser runs for CFG,
   the scheduler, denormalise, chunked decode) reproduces diffusers' frames.
4. test_real_size_wan: the real Wan2.1-T2V-1.3B transformer config (real width, 2 of 30 layers)
   exported without weights has the io the manifest writer declares.

Regenerate the fixtures with ``python -m kino_export.reference.parity_wan`` (from exporter/).
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from kino_export import onnx_export
from kino_export.families import wan
from kino_export.reference import parity_io, schedulers
from kino_export.reference import parity_wan as P

PKG = P.PACKAGE


@pytest.fixture(scope="module")
def comp():
    return wan.tiny_components()


class Graphs:
    """The family's view of one set of components: each graph's wrapper and io, the VAE's caches."""

    def __init__(self, comp):
        self.comp = comp
        self.io = {g: wan.WAN.graph_io(comp, g) for g in wan.GRAPHS}
        vae = wan.WAN.facts(comp, "vae")
        self.dec_slots, self.enc_slots = vae["dec_slots"], vae["enc_slots"]

    def spec(self, graph):
        return wan.WAN.graph_spec(self.comp, graph)


@pytest.fixture(scope="module")
def exporter(comp):
    return Graphs(comp)


@pytest.fixture(scope="module")
def pkg():
    return P.OnnxPackage(PKG)


def test_manifest_and_graphs_are_what_the_writer_declares(comp, exporter, pkg):
    assert pkg.manifest == json.loads(json.dumps(wan.build_manifest(comp, wan.TINY_MAX_LENGTH)))
    for g in wan.GRAPHS:
        onnx_export.check_graph(os.path.join(PKG, f"{g}.onnx"), exporter.io[g])
    dec, enc = pkg.manifest["vae_decoder"], pkg.manifest["vae_encoder"]
    assert len(dec["caches"]) == len(exporter.dec_slots) and len(enc["caches"]) == len(exporter.enc_slots)
    onnx_bytes = sum(os.path.getsize(os.path.join(PKG, f"{g}.onnx")) for g in wan.GRAPHS)
    assert onnx_bytes < 1_000_000, onnx_bytes


def _max_err(got, want) -> float:
    got = got if isinstance(got, (list, tuple)) else [got]
    want = want if isinstance(want, (list, tuple)) else [want]
    assert len(got) == len(want)
    errs = []
    for a, b in zip(got, want):
        b = b.numpy() if isinstance(b, torch.Tensor) else b
        assert a.shape == b.shape, (a.shape, b.shape)
        errs.append(float(np.abs(a - b).max()))
    return max(errs)


def test_graphs_match_torch(comp, exporter, pkg):
    """Each graph against its torch wrapper, at shapes other than the export examples."""
    m = pkg.manifest
    g = torch.Generator().manual_seed(123)
    errors = {}

    def both(graph: str, manifest_graph: dict, inputs: dict) -> dict:
        """Run the graph (by role) and its torch wrapper (positionally, same order) on ``inputs``."""
        module, _, _ = exporter.spec(graph)
        with torch.no_grad():
            want = module(*[torch.from_numpy(v) for v in inputs.values()])
        want = list(want) if isinstance(want, tuple) else [want]
        out = pkg.run(manifest_graph, inputs)
        got = [out[role] for role, *_ in exporter.io[graph]["outputs"]]
        errors[graph] = max(errors.get(graph, 0.0), _max_err(got, want))
        return out

    ids = torch.randint(3, 300, (2, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 6:], ids[0, 6:] = 0, 0
    both("text_encoder", m["text_encoder"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    for shape in ((1, 16, 3, 4, 6), (2, 16, 1, 8, 2)):
        both("denoiser", m["denoiser"], {"latents": torch.randn(shape, generator=g).numpy(),
                                         "timestep": (torch.rand(shape[0], generator=g) * 1000).numpy(),
                                         "text_embeds": torch.randn(shape[0], 7, 32, generator=g).numpy()})
    dec, enc = m["vae_decoder"], m["vae_encoder"]
    out = both("vae_decoder_first", dec["first"], {"latents": torch.randn(2, 16, 1, 4, 6, generator=g).numpy()})
    caches = {f"cache_in_{i}": out[f"cache_out_{i}"] for i in range(len(dec["caches"]))}
    both("vae_decoder_step", dec["step"], {"latents": torch.randn(2, 16, 1, 4, 6, generator=g).numpy()} | caches)
    out = both("vae_encoder_first", enc["first"], {"frames": (torch.rand(2, 3, 1, 32, 48, generator=g) * 2 - 1).numpy()})
    caches = {f"cache_in_{i}": out[f"cache_out_{i}"] for i in range(len(enc["caches"]))}
    both("vae_encoder_step", enc["step"], {"frames": (torch.rand(2, 3, 4, 32, 48, generator=g) * 2 - 1).numpy()} | caches)
    print("torch vs onnxruntime max abs:", {k: f"{v:.2e}" for k, v in errors.items()})
    assert all(v < 1e-4 for v in errors.values()), errors


def test_graphs_match_the_pipeline_calls(comp, pkg):
    """The graphs against the modules called as WanPipeline / AutoencoderKLWan call them."""
    m = pkg.manifest
    g = torch.Generator().manual_seed(7)
    errors = {}
    with torch.no_grad():
        ids = torch.randint(3, 300, (1, 16), generator=g)
        mask = torch.ones_like(ids)
        mask[:, 9:], ids[:, 9:] = 0, 0
        want = comp.text_encoder(ids, mask).last_hidden_state
        got = pkg.run(m["text_encoder"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})["text_embeds"]
        errors["text_encoder"] = _max_err(got, want)

        lat, emb = torch.randn(1, 16, 3, 6, 4, generator=g), torch.randn(1, 16, 32, generator=g)
        t = torch.tensor([857])  # UniPC hands WanPipeline int64 timesteps
        want = comp.transformer(hidden_states=lat, timestep=t.expand(1), encoder_hidden_states=emb,
                                return_dict=False)[0]
        got = pkg.run(m["denoiser"], {"latents": lat.numpy(), "timestep": t.float().numpy(),
                                      "text_embeds": emb.numpy()})["velocity"]
        errors["denoiser"] = _max_err(got, want)

        # Chunked decode/encode (kino's loop over first + step graphs) vs the whole-clip diffusers calls.
        z = torch.randn(1, 16, 4, 4, 6, generator=g)
        want = comp.vae.decode(z, return_dict=False)[0]
        got = P.decode_chunks(pkg, m["vae_decoder"], z.numpy())
        assert got.shape == (1, 3, 13, 32, 48)
        errors["vae_decode"] = _max_err(got, want)

        x = torch.rand(1, 3, 13, 32, 48, generator=g) * 2 - 1
        want = comp.vae.encode(x).latent_dist.mode()
        got = P.encode_chunks(pkg, m["vae_encoder"], x.numpy(), m["latent"]["temporal_compression"])
        assert got.shape == (1, 16, 4, 4, 6)
        errors["vae_encode"] = _max_err(got, want)
    print("pipeline calls vs onnxruntime max abs:", {k: f"{v:.2e}" for k, v in errors.items()})
    assert all(v < 1e-4 for v in errors.values()), errors


def test_every_case_is_committed():
    names = sorted(os.listdir(P.CASES_DIR)) if os.path.isdir(P.CASES_DIR) else []
    assert names == sorted(c["case"] for c in P.CASES)


@pytest.mark.parametrize("name", [c["case"] for c in P.CASES])
def test_committed_case_regenerates(comp, pkg, name):
    meta, noise, frames = parity_io.read_case(os.path.join(P.CASES_DIR, name))
    case = next(c for c in P.CASES if c["case"] == name)
    fresh_meta = {k: v for k, v in P.case_meta(case).items() if k != "generator"}
    assert {k: meta[k] for k in fresh_meta} == fresh_meta
    np.testing.assert_array_equal(noise, P.make_noise(comp, case))
    fresh, sigmas = P.run_pipeline(comp, pkg.manifest, os.path.join(PKG, "tokenizer.json"), meta, noise)
    drift = float(np.abs(fresh - frames).max())
    print(f"{name}: regenerated vs committed max abs {drift:.2e}")
    assert drift <= 1e-5, drift
    # kino's schedule for this case (manifest or case scheduler) is the one WanPipeline used.
    kino = schedulers.diffusers_scheduler(meta["scheduler"] or pkg.manifest["scheduler"], meta["steps"], 0)
    np.testing.assert_array_equal(kino.sigmas.numpy(), sigmas)


@pytest.mark.parametrize("name", [c["case"] for c in P.CASES])
def test_onnxruntime_loop_reproduces_diffusers(pkg, name):
    meta, noise, frames = parity_io.read_case(os.path.join(P.CASES_DIR, name))
    got = P.onnx_generate(pkg, meta, noise)
    err = float(np.abs(got - frames).max())
    print(f"{name}: onnxruntime loop vs diffusers max abs {err:.2e}")
    assert got.shape == frames.shape
    assert err <= 1e-4, err


# The real depth too (the issue asks for the real configuration): ~100 s of CPU to export.
REAL_SIZE_LAYERS = 30


def test_committed_encode_reference_regenerates(comp):
    """The VAE-encoder reference the Rust chunked encoder is checked against (tests/parity.rs)."""
    with open(os.path.join(P.ENCODE_DIR, "case.json")) as f:
        meta = json.load(f)
    frames = np.fromfile(os.path.join(P.ENCODE_DIR, "frames.f32"), "<f4").reshape(meta["frames_shape"])
    latents = np.fromfile(os.path.join(P.ENCODE_DIR, "latents.f32"), "<f4").reshape(meta["latents_shape"])
    clip, fresh = P.encode_reference(comp)
    assert np.array_equal(clip, frames)
    assert float(np.abs(fresh - latents).max()) <= 1e-5


def test_real_size_wan(tmp_path):
    """The Wan2.1-T2V-1.3B transformer config (dim 1536 = 12 x 128 heads, ffn 8960, text 4096, RoPE
    1024; 2 of its 30 layers), built on the meta device and exported without weights: the io the
    manifest writer declares."""
    import onnx
    from diffusers import WanTransformer3DModel
    assert wan.REAL_TRANSFORMER_1_3B["num_layers"] == 30
    with torch.device("meta"):
        tr = WanTransformer3DModel(**dict(wan.REAL_TRANSFORMER_1_3B, num_layers=REAL_SIZE_LAYERS))
    assert tr.config.num_attention_heads * tr.config.attention_head_dim == 1536
    io = wan.graph_io([], [])["denoiser"]
    module, args, dyn = wan.denoiser_spec(tr)
    path = onnx_export.export_structure(module, args, str(tmp_path / "denoiser.onnx"), [e[1] for e in io["inputs"]],
                                [e[1] for e in io["outputs"]], dyn)
    onnx_export.check_graph(path, io)
    spec = onnx_export.io_spec(path)
    assert {r["name"]: r["dtype"] for r in onnx_export.roles(io["inputs"]).values()} == {k: v[0] for k, v in spec["inputs"].items()}
    assert {r["name"]: r["dtype"] for r in onnx_export.roles(io["outputs"]).values()} == {k: v[0] for k, v in spec["outputs"].items()}
    model = onnx.load(path, load_external_data=False)
    dims = {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
            for v in list(model.graph.input) + list(model.graph.output)}
    assert dims["latents"][1] == 16 and dims["velocity"][1] == 16 and dims["text_embeds"][2] == 4096
    # batch, frames, h, w and text length are all symbolic
    assert all(isinstance(d, str) for d in dims["latents"][:1] + dims["latents"][2:] + dims["text_embeds"][:2])

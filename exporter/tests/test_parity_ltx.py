"""LTX-Video: the committed tiny package and parity cases against diffusers and ONNX Runtime.

1. Every graph of models/fixtures/ltx-tiny, run by onnxruntime, equals the torch modules rebuilt
   from the seed, called the way LTXPipeline calls them (packed tokens + rope_interpolation_scale
   for the transformer, vae.decode / vae.encode for the VAE).
2. Each committed case in tests/fixtures/parity/ltx-tiny regenerates with diffusers' LTXPipeline
   (LTXConditionPipeline for the cases with context frames or conditions anywhere) from its
   committed noise (no drift),
   and the kino scheduler config + seq_len = F*h*w gives the sigmas the pipeline used.
3. A plain onnxruntime loop over the exported graphs that follows only the kino contract (tokenize,
   encode with an all-ones mask where text_encoder.attend_to_padding says so, else the real one, CFG over [negative, positive], video_coords from the manifest, per-token timesteps, the
   scheduler, denormalise, decode with the decode timestep; with context frames, kino's native
   context mode: encode, normalise, clean context tokens at timestep 0 written back after every
   step) reproduces diffusers' frames.
4. test_real_size_ltx: the real LTX-Video transformer (LTXVideoTransformer3DModel defaults, the 2B
   0.9.x config, all 28 layers) exported without weights has the io the manifest writer declares.

Regenerate the fixtures with ``python -m kino_export.reference.parity_ltx`` (from exporter/).
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import pytest
import torch

from kino_export import onnx_export
from kino_export.families import ltx
from kino_export.reference import parity_io, schedulers
from kino_export.reference import parity_ltx as P

PKG = P.PACKAGE


@pytest.fixture(scope="module")
def comp():
    return ltx.tiny_components()


@pytest.fixture(scope="module")
def manifest():
    with open(os.path.join(PKG, "kino.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def sessions():
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return {g: ort.InferenceSession(os.path.join(PKG, f"{g}.onnx"), opts, providers=["CPUExecutionProvider"])
            for g in ltx.GRAPHS}


def run(sess, feeds: dict, manifest_graph: dict, out_role: str) -> np.ndarray:
    """Run a graph by ROLE, through the manifest's role -> tensor-name map (as kino does)."""
    names = {manifest_graph["inputs"][role]["name"]: v for role, v in feeds.items()}
    return sess.run([manifest_graph["outputs"][out_role]["name"]], names)[0]


def test_manifest_and_graphs_are_what_the_writer_declares(comp, manifest):
    assert manifest == json.loads(json.dumps(ltx.build_manifest(comp, ltx.TINY_MAX_LENGTH)))
    io = ltx.graph_io(True)
    for g in ltx.GRAPHS:
        onnx_export.check_graph(os.path.join(PKG, f"{g}.onnx"), io[g])
    assert manifest["vae_decoder"]["timestep_conditioned"] is True
    assert manifest["denoiser"]["timestep_shape"] == "per_token"
    assert manifest["conditioning"]["clean_context"] is True
    assert manifest["text_encoder"]["attend_to_padding"] is True  # LTXPipeline: T5 without the mask
    assert (manifest["conditioning"]["context_frames"] - 1) % manifest["latent"]["temporal_compression"] == 0
    onnx_bytes = sum(os.path.getsize(os.path.join(PKG, f"{g}.onnx")) for g in ltx.GRAPHS)
    assert onnx_bytes < 1_100_000, onnx_bytes


def test_graphs_match_torch(comp, manifest, sessions):
    from diffusers import LTXPipeline
    g = torch.Generator().manual_seed(123)
    errors = {}
    with torch.no_grad():
        # text encoder: LTXPipeline calls T5 without the mask, which kino's all-ones mask
        # (attend_to_padding) reproduces; LTXConditionPipeline with it (attend_to_padding false).
        ids = torch.randint(3, 200, (2, 11), generator=g)
        mask = torch.ones_like(ids)
        mask[0, 6:] = 0
        ids[0, 6:] = 0
        assert manifest["text_encoder"]["attend_to_padding"] is True
        want = comp.text_encoder(ids).last_hidden_state.numpy()
        got_ones = run(sessions["text_encoder"], {"input_ids": ids.numpy(), "attention_mask": np.ones_like(mask.numpy())},
                       manifest["text_encoder"], "text_embeds")
        errors["text_encoder_unmasked"] = np.abs(got_ones - want).max()
        want = comp.text_encoder(ids, attention_mask=mask).last_hidden_state.numpy()
        got = run(sessions["text_encoder"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()},
                  manifest["text_encoder"], "text_embeds")
        errors["text_encoder_masked"] = np.abs(got - want).max()
        # The graph uses its attention_mask input: the padded row changes with it.
        assert np.abs(got_ones[0] - got[0]).max() > 1e-2
        np.testing.assert_allclose(got_ones[1], got[1], atol=1e-5)  # no padding in row 1

        # denoiser vs the pipeline's own call: packed tokens, rope from rope_interpolation_scale.
        B, C, F, h, w = 2, 8, 3, 4, 5
        lat = torch.randn(B, C, F, h, w, generator=g)
        emb = torch.randn(B, 11, 32, generator=g)
        t = torch.tensor([731.5, 731.5])
        t_tok = np.full((B, F * h * w), 731.5, np.float32)  # kino: the step's t on every token
        tr = comp.transformer
        vae = comp.vae
        rope_scale = (vae.temporal_compression_ratio / 25, vae.spatial_compression_ratio, vae.spatial_compression_ratio)
        packed = LTXPipeline._pack_latents(lat, 1, 1)
        out = tr(hidden_states=packed, encoder_hidden_states=emb, timestep=t, encoder_attention_mask=mask.bool(),
                 num_frames=F, height=h, width=w, rope_interpolation_scale=rope_scale, return_dict=False)[0]
        want = LTXPipeline._unpack_latents(out, F, h, w, 1, 1).numpy()
        coords = ltx.video_coords(F, h, w, manifest["denoiser"]["video_coords"], batch=B)
        got = run(sessions["denoiser"], {"latents": lat.numpy(), "timestep": t_tok, "text_embeds": emb.numpy(),
                                         "text_mask": mask.numpy(), "video_coords": coords},
                  manifest["denoiser"], "velocity")
        errors["denoiser"] = np.abs(got - want).max()

        # per-token timesteps as LTXConditionPipeline passes them: the first latent frame clean (0),
        # positions with its causal offset.
        t_tok = np.full((B, F, h * w), 412.25, np.float32)
        t_tok[:, 0] = 0.0
        t_tok = t_tok.reshape(B, -1)
        vc = dict(manifest["denoiser"]["video_coords"], causal_offset=1 - vae.temporal_compression_ratio)
        coords = ltx.video_coords(F, h, w, vc, batch=B)
        out = tr(hidden_states=packed, encoder_hidden_states=emb, timestep=torch.from_numpy(t_tok),
                 encoder_attention_mask=mask.bool(), video_coords=torch.from_numpy(coords), return_dict=False)[0]
        want = LTXPipeline._unpack_latents(out, F, h, w, 1, 1).numpy()
        got = run(sessions["denoiser"], {"latents": lat.numpy(), "timestep": t_tok, "text_embeds": emb.numpy(),
                                         "text_mask": mask.numpy(), "video_coords": coords},
                  manifest["denoiser"], "velocity")
        errors["denoiser_per_token"] = np.abs(got - want).max()

        z = torch.randn(1, C, 3, 4, 5, generator=g)
        want = vae.decode(z, torch.tensor([0.05]), return_dict=False)[0].clamp(-1, 1).numpy()
        got = run(sessions["vae_decoder"], {"latents": z.numpy(), "timestep": np.array([0.05], np.float32)},
                  manifest["vae_decoder"], "frames")
        assert got.shape == (1, 3, 9, 32, 40)
        errors["vae_decoder"] = np.abs(got - want).max()

        x = torch.rand(1, 3, 9, 32, 40, generator=g) * 2 - 1
        posterior = vae.encode(x).latent_dist
        want = posterior.mean.numpy()
        got = run(sessions["vae_encoder"], {"frames": x.numpy()}, manifest["vae_encoder"], "latents")
        assert got.shape == (1, C, 3, 4, 5)
        errors["vae_encoder"] = np.abs(got - want).max()
        # The fixture's posterior is (numerically) deterministic: a sample is the mode.
        assert posterior.std.max().item() < 1e-6
        errors["vae_encoder_sample"] = np.abs(got - posterior.sample(g).numpy()).max()
    print("torch vs onnxruntime max abs:", {k: f"{v:.2e}" for k, v in errors.items()})
    assert all(v < 1e-4 for v in errors.values()), errors


def committed_cases():
    names = sorted(os.listdir(P.CASES_DIR)) if os.path.isdir(P.CASES_DIR) else []
    return names


def test_every_case_is_committed():
    assert committed_cases() == sorted(c["case"] for c in P.CASES)


@pytest.mark.parametrize("name", [c["case"] for c in P.CASES])
def test_committed_case_regenerates(comp, manifest, name):
    meta, noise, frames = parity_io.read_case(os.path.join(P.CASES_DIR, name))
    case = next(c for c in P.CASES if c["case"] == name)
    assert {k: meta[k] for k in P.case_meta(case) if k != "generator"} == \
        {k: v for k, v in P.case_meta(case).items() if k != "generator"}
    np.testing.assert_array_equal(noise, P.make_noise(comp, case))
    context = P.read_context(os.path.join(P.CASES_DIR, name), meta)
    if case.get("context"):
        np.testing.assert_array_equal(context, P.make_context(case))
    if case.get("conditions"):
        context = P.read_conditions(os.path.join(P.CASES_DIR, name), meta)
        for got, spec in zip(context, case["conditions"], strict=True):
            np.testing.assert_array_equal(got, P.make_condition(case, spec))
    fresh, sigmas = P.run_pipeline(comp, manifest, os.path.join(PKG, "tokenizer.json"), meta, noise, context)
    drift = np.abs(fresh - frames).max()
    print(f"{name}: regenerated vs committed max abs {drift:.2e}")
    assert drift <= 1e-5, drift
    # kino's schedule for this case (manifest or case scheduler, seq_len = F*h*w) is LTXPipeline's.
    _, _, F, h, w = noise.shape
    kino = schedulers.diffusers_scheduler(meta["scheduler"] or manifest["scheduler"], meta["steps"], F * h * w)
    np.testing.assert_array_equal(kino.sigmas.numpy(), sigmas)


def ort_generate(manifest: dict, sessions: dict, meta: dict, noise: np.ndarray,
                 context: np.ndarray | None = None) -> np.ndarray:
    """Text-to-video by the kino contract alone, over the package's graphs; with ``context``
    (uint8 [n, H, W, 3]) a window continuing from those frames in kino's native context mode."""
    manifest = P.merged_manifest(manifest, meta)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(PKG, manifest["tokenizer"]["file"]))
    L = manifest["tokenizer"]["max_length"]
    tok.enable_truncation(L)
    tok.enable_padding(length=L, pad_id=0, pad_token="<pad>")
    enc = tok.encode_batch([meta["negative_prompt"], meta["prompt"]])  # clean: none
    ids = np.array([e.ids for e in enc], np.int64)
    mask = np.array([e.attention_mask for e in enc], np.int64)
    # attend_to_padding: the encoder gets all ones (LTXPipeline); the denoiser the real mask always.
    te_mask = np.ones_like(mask) if manifest["text_encoder"].get("attend_to_padding", False) else mask
    emb = run(sessions["text_encoder"], {"input_ids": ids, "attention_mask": te_mask}, manifest["text_encoder"],
              "text_embeds")
    assert not manifest["text_encoder"]["zero_past_length"]

    _, C, F, h, w = noise.shape
    lat = manifest["latent"]
    mean = np.array(lat["mean"], np.float32).reshape(1, -1, 1, 1, 1)
    std = np.array(lat["std"], np.float32).reshape(1, -1, 1, 1, 1)
    sf = np.float32(lat["scaling_factor"])
    x = noise.astype(np.float32).copy()
    k = 0
    if context is not None:
        # kino's native context mode (clean_context + per-token timesteps).
        assert manifest["conditioning"]["clean_context"] and manifest["denoiser"]["timestep_shape"] == "per_token"
        assert manifest["conditioning"]["context_noise_scale"] == 0.0  # else: kino's own re-noising RNG
        frames = context.astype(np.float32) / np.float32(127.5) - np.float32(1.0)  # u8 -> [-1, 1]
        frames = np.ascontiguousarray(frames.transpose(3, 0, 1, 2)[None])  # [1, 3, n, H, W]
        z = run(sessions["vae_encoder"], {"frames": frames}, manifest["vae_encoder"], "latents")  # mode
        ctx = (z - mean) * sf / std
        k = ctx.shape[2]
        x[:, :, :k] = ctx

    sched = schedulers.diffusers_scheduler(manifest["scheduler"], meta["steps"], F * h * w)
    coords = ltx.video_coords(F, h, w, manifest["denoiser"]["video_coords"], batch=2)  # patch 1
    g = np.float32(meta["guidance"])
    for t in sched.timesteps:
        ts = np.full((2, F, h * w), t.item(), np.float32)
        ts[:, :k] = 0.0  # clean context tokens
        v = run(sessions["denoiser"], {"latents": np.concatenate([x, x]), "timestep": ts.reshape(2, -1),
                                       "text_embeds": emb, "text_mask": mask, "video_coords": coords},
                manifest["denoiser"], "velocity")
        v = v[0:1] + g * (v[1:2] - v[0:1])
        x = sched.step(torch.from_numpy(v), t, torch.from_numpy(x), return_dict=False)[0].numpy()
        if k:
            x[:, :, :k] = ctx  # the context stays clean

    z = x * std / sf + mean
    dec = manifest["vae_decoder"]
    assert dec["timestep_conditioned"] and meta["decode_noise_scale"] == 0.0  # else: z = (1-s) z + s noise
    frames = run(sessions["vae_decoder"], {"latents": z, "timestep": np.full(1, meta["decode_timestep"], np.float32)},
                 dec, "frames")
    return frames


# Conditions away from frame 0 (extra tokens) are checked through kino's engine in tests/parity.rs.
@pytest.mark.parametrize("name", [c["case"] for c in P.CASES if not c.get("conditions")])
def test_onnxruntime_loop_reproduces_diffusers(manifest, sessions, name):
    meta, noise, frames = parity_io.read_case(os.path.join(P.CASES_DIR, name))
    context = P.read_context(os.path.join(P.CASES_DIR, name), meta)
    got = ort_generate(manifest, sessions, meta, noise, context)
    err = np.abs(got - frames).max()
    print(f"{name}: onnxruntime loop vs diffusers max abs {err:.2e}")
    assert got.shape == frames.shape
    assert err <= 1e-4, err


def test_real_size_ltx(tmp_path):
    """The 2B LTX-Video transformer (diffusers defaults: 28 layers, 32 x 64 heads, 128 channels,
    caption 4096), built on the meta device and exported without weights."""
    from diffusers import LTXVideoTransformer3DModel
    with torch.device("meta"):
        tr = LTXVideoTransformer3DModel()
    assert (tr.config.num_layers, tr.config.in_channels, tr.config.caption_channels) == (28, 128, 4096)
    module, args, dyn = ltx.denoiser_spec(tr)
    io = ltx.graph_io(True)
    names_in, names_out = [e[1] for e in io["denoiser"]["inputs"]], [e[1] for e in io["denoiser"]["outputs"]]
    path = onnx_export.export_structure(module, args, str(tmp_path / "denoiser.onnx"), names_in, names_out, dyn)
    onnx_export.check_graph(path, io["denoiser"])
    # The manifest's roles point at these tensors, with these dtypes.
    roles_in, roles_out = onnx_export.roles(io["denoiser"]["inputs"]), onnx_export.roles(io["denoiser"]["outputs"])
    spec = onnx_export.io_spec(path)
    assert {r["name"]: r["dtype"] for r in roles_in.values()} == {k: v[0] for k, v in spec["inputs"].items()}
    assert {r["name"]: r["dtype"] for r in roles_out.values()} == {k: v[0] for k, v in spec["outputs"].items()}
    import onnx
    m = onnx.load(path, load_external_data=False)
    dims = {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim] for v in m.graph.input}
    assert dims["text_embeds"][2] == 4096 and dims["latents"][1] == 128 and dims["video_coords"][1] == 3
